/**
 * The README cannot rot: every TypeScript block is a file of `test/readme/` that `tsc` type-checks
 * (`<!-- file: … -->`, shown whole) or an excerpt of one (`<!-- excerpt: … -->`, its lines in that
 * file in the same order); every block of frames (`<!-- wire: <snippet> <path> -->`) is replayed
 * against a server built from that snippet (`test/readme/replay.ts`) — each `→` frame sent as
 * written, each `←` frame expected exactly as the server writes it (`…` stands for anything), each
 * `▶ step` (or `$ command`) run; and the files it names exist.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { Database } from 'fastify-dcrf'
import { backends } from './db.js'
import { build, Client } from './helpers.js'
import { servers, type Steps } from './readme/replay.js'

const root = new URL('..', import.meta.url).pathname
const readme = await readFile(join(root, 'README.md'), 'utf8')

/** Every fenced block: its language, the marker comment right above it (if any), its text. */
const blocks = [...readme.matchAll(/(?:<!-- (file|excerpt|wire): (\S+)(?: (\S+))? -->\n[ \t]*)?```(\w*)\n([\s\S]*?)```/g)]
  .map(([, kind, file, path, lang, code]) => ({ kind, file, path, lang, code }))

test('every TypeScript block of the README names the checked file it shows', () => {
  const code = blocks.filter((b) => ['ts', 'js', 'typescript', 'javascript'].includes(b.lang))
  assert.ok(code.length > 10)
  for (const block of code) {
    assert.ok(block.kind !== undefined, `a code block without a file or excerpt marker:\n${block.code}`)
    assert.equal(block.lang, 'ts', `${block.file}: TypeScript blocks are \`ts\``)
  }
})

test('a file block is the file as it is', async () => {
  for (const block of blocks.filter((b) => b.kind === 'file')) {
    assert.equal(block.code, await readFile(join(root, block.file!), 'utf8'), `README shows ${block.file} as it is`)
  }
})

test('an excerpt block is lines of its file, in order', async () => {
  for (const block of blocks.filter((b) => b.kind === 'excerpt')) {
    const lines = (await readFile(join(root, block.file!), 'utf8')).split('\n').map((line) => line.trim())
    let at = 0
    for (const line of block.code.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== '// ...')) {
      const found = lines.indexOf(line, at)
      assert.ok(found >= 0, `${block.file} has, after line ${at + 1}: ${line}`)
      at = found + 1
    }
  }
})

test('the files the README points to exist', async () => {
  for (const [, path] of readme.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)) {
    await access(join(root, path.split('#')[0]))
  }
  for (const [, path] of readme.matchAll(/`((?:test|docs|example|bench|plugin|types)\/[\w./-]+\.(?:ts|md))`/g)) {
    await access(join(root, path))
  }
})

test('the testing example of the README runs on this Node.js', async () => {
  const logged: unknown[] = []
  const log = console.log
  console.log = (value: unknown) => { logged.push(value) }
  try {
    await import('./readme/testing.js')
  } finally {
    console.log = log
  }
  assert.deepEqual(logged, [{ errors: [], data: 'pong', action: 'ping', response_status: 200, request_id: 1 }])
})

test('every block that shows frames is replayed', () => {
  const shown = blocks.filter((b) => /^[→←]/m.test(b.code))
  assert.ok(shown.length >= 8)
  for (const block of shown) assert.equal(block.kind, 'wire', `a block of frames without a wire marker:\n${block.code}`)
})

/** A README program run as it is (on a free port instead of 3000); the client connects to `path`. */
async function runProgram (t: TestContext, file: string, path: string): Promise<Client> {
  const anyPort = pathToFileURL(join(root, 'test/readme/any-port.ts')).href
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', '--import', anyPort, file], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { child.kill() })
  const port = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const listening = /Server listening at http:\/\/[^\s"]*:(\d+)/.exec(out)
      if (listening !== null) resolve(listening[1])
    })
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before listening:\n${out}`)))
  })
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  const client = new Client(ws)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  t.after(() => client.close())
  return client
}

/** A frame as the README shows it, as a pattern: `…` stands for any text. */
function framePattern (shown: string): RegExp {
  return new RegExp('^' + shown.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?') + '$', 's')
}

for (const [n, block] of blocks.filter((b) => b.kind === 'wire').entries()) {
  test(`README wire block ${n + 1} (${block.file} ${block.path}): the frames shown are the frames on the wire`, async (t) => {
    const server = servers[block.file!]
    assert.ok(server !== undefined, `test/readme/replay.ts has a server for ${block.file}`)
    let client: Client
    let steps: Steps = {}
    if (server.program === true) {
      client = await runProgram(t, block.file!, block.path!)
    } else {
      const { db, exec } = await backends[0].create(t, server.ddl)
      let app: FastifyInstance
      if (server.start === undefined) {
        app = (await build(t, { db: db as Database })).app
      } else {
        app = Fastify()
        t.after(() => app.close())
        await server.start(app, db as Database)
      }
      steps = (await server.setup?.(app, exec)) ?? {}
      client = await Client.open(app, block.path!)
    }
    for (const line of block.code.split('\n').filter((l) => l.trim() !== '')) {
      const [marker, ...rest] = line.split(' ')
      const content = rest.join(' ')
      switch (marker) {
        case '→':
          assert.equal(JSON.stringify(JSON.parse(content)), content, `sent as compact JSON: ${line}`)
          client.sendText(content)
          break
        case '←': {
          const frame = await client.nextText()
          if (content.includes('…')) assert.match(frame, framePattern(content), line)
          else assert.equal(frame, content, line)
          break
        }
        case '▶':
        case '$':
          assert.ok(steps[content] !== undefined, `a step "${content}" in test/readme/replay.ts`)
          await steps[content]()
          break
        default:
          assert.fail(`a line of a wire block that is neither a frame nor a step: ${line}`)
      }
    }
    assert.deepEqual(client.frames, [], 'no frame beyond those shown')
  })
}
