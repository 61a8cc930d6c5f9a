/**
 * The documentation cannot rot: every code block of docs/ that names its file is that file (which
 * `tsc` type-checks), and every `wire` block is replayed against that code — each `→` frame sent,
 * each `←` frame expected exactly, each `▶ step` run from the example's `steps`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { installExternalChanges, type Database, type ExternalChangesOptions } from 'fastify-dcrf'
import { DDL } from '../docs/examples/schema.js'
import { backends } from './db.js'
import { build, Client } from './helpers.js'

const root = new URL('..', import.meta.url).pathname
const docs = join(root, 'docs')

interface DocsExample {
  /** The tables (and rows) the example needs; default: those of docs/examples/schema.ts. */
  ddl?: string
  setup: (app: FastifyInstance) => Promise<void>
  steps?: Record<string, (app: FastifyInstance) => Promise<void>>
  /** For pages whose steps write outside the app (psql): the database reports those changes. */
  externalChanges?: ExternalChangesOptions
}

/** `expected` as the docs show it: `"…"` stands for any value (a date, say). */
function like (actual: unknown, expected: unknown): unknown {
  if (expected === '…') return expected
  if (Array.isArray(expected) && Array.isArray(actual)) return actual.map((item, i) => like(item, expected[i]))
  if (typeof expected === 'object' && expected !== null && typeof actual === 'object' && actual !== null && !Array.isArray(actual)) {
    return Object.fromEntries(Object.entries(actual).map(([key, value]) => [key, like(value, (expected as Record<string, unknown>)[key])]))
  }
  return actual
}

const pages = (await readdir(docs)).filter((name) => name.endsWith('.md'))

test('every docs page is linked from the docs index and the README', async () => {
  const index = await readFile(join(docs, 'README.md'), 'utf8')
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  for (const page of pages.filter((name) => name !== 'README.md')) {
    assert.ok(index.includes(`(${page})`), `docs/README.md links ${page}`)
    assert.ok(readme.includes(`(docs/${page})`), `README.md links docs/${page}`)
  }
})

for (const page of pages) {
  const text = await readFile(join(docs, page), 'utf8')

  const files = [...text.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g)]
  if (files.length > 0) {
    test(`docs/${page}: its code blocks are the files the tests type-check and run`, async () => {
      for (const [, file, code] of files) {
        assert.equal(code, await readFile(join(root, file), 'utf8'), `${page} shows ${file} as it is`)
      }
    })
  }

  for (const [n, [, module, path, body]] of [...text.matchAll(/```wire (\S+) (\S+)\n([\s\S]*?)```/g)].entries()) {
    test(`docs/${page}: wire example ${n + 1} answers exactly as shown`, async (t) => {
      const example = await import(join(root, module)) as DocsExample
      const { db } = await backends[0].create(t, example.ddl ?? DDL)
      if (example.externalChanges !== undefined) await installExternalChanges(db as Database, example.externalChanges)
      const { app } = await build(t, { db: db as Database, externalChanges: example.externalChanges })
      await example.setup(app)
      const client = await Client.open(app, path)
      for (const line of body.split('\n').filter((l) => l.trim() !== '')) {
        const [marker, ...rest] = line.split(' ')
        const content = rest.join(' ')
        switch (marker) {
          case '→':
            client.send(JSON.parse(content))
            break
          case '←': {
            const expected = JSON.parse(content)
            assert.deepEqual(like(await client.next(), expected), expected, line)
            break
          }
          case '▶':
            await example.steps![content](app)
            break
          default:
            assert.fail(`unknown line in a wire block of ${page}: ${line}`)
        }
      }
      assert.equal(client.frames.length, 0, 'no frame beyond those shown')
    })
  }
}
