/**
 * The client stays small: minified and gzipped, the whole of fastify-dcrf/client is at most 5 KB.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const LIMIT = 5 * 1024

test('fastify-dcrf/client is at most 5 KB minified and gzipped, with nothing external', async () => {
  const result = await build({
    entryPoints: [new URL('../client/index.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true
  })
  // Only the client's own files are in the bundle: no dependency, nothing of the server.
  assert.deepEqual(Object.keys(result.metafile.inputs).sort(), ['client/index.ts'])
  const size = gzipSync(result.outputFiles[0].contents, { level: 9 }).length
  assert.ok(size <= LIMIT, `${size} bytes gzipped, more than ${LIMIT}`)
})
