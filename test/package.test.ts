import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname

test('the published build loads in plain Node.js, without TypeScript tooling', { timeout: 120_000 }, async (t) => {
  // Inside the project, so that the build resolves its dependencies from node_modules as a user's would.
  const outDir = await mkdtemp(join(root, 'node_modules', '.dcrf-build-'))
  t.after(() => rm(outDir, { recursive: true, force: true }))
  await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root })
  const script = `
    const m = await import(${JSON.stringify(join(outDir, 'plugin', 'index.js'))})
    console.log(JSON.stringify({ plugin: typeof m.default, names: Object.keys(m).sort() }))
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
  const { plugin, names } = JSON.parse(stdout)
  assert.equal(plugin, 'function')
  for (const name of ['defineConsumer', 'action', 'crud', 'mixins', 'serializer', 'modelObserver', 'observer', 'instanceSubscriptions', 'viewAsConsumer', 'paginatedList', 'streamedList', 'errors', 'isAuthenticated', 'fromHook']) {
    assert.ok(names.includes(name), `exports ${name}`)
  }
})
