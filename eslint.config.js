import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**'] }),
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
