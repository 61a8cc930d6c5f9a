import neostandard from 'neostandard'
import regexp from 'eslint-plugin-regexp'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**'] }),
  regexp.configs['flat/recommended'],
  {
    // A pattern that backtracks or moves super-linearly lets one client's string hold the event
    // loop for everyone: these are errors wherever a pattern is written, input path or not.
    rules: {
      'regexp/no-super-linear-backtracking': ['error', { report: 'potential' }],
      'regexp/no-super-linear-move': ['error', { report: 'potential', ignorePartial: false }]
    }
  },
  {
    // The example's pages run in the browser; their scripts share functions through the page.
    files: ['example/public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['window', 'document', 'location', 'WebSocket', 'fetch', 'localStorage', 'sessionStorage', 'console', 'setTimeout', 'clearTimeout', 'URLSearchParams', 'Date', 'JSON'].map((name) => [name, 'readonly']))
    },
    rules: { 'no-unused-vars': ['error', { vars: 'local' }] }
  }
]
