/**
 * The README cannot rot: every TypeScript block is a file of `test/readme/` that `tsc` type-checks
 * (`<!-- file: … -->`, shown whole) or an excerpt of one (`<!-- excerpt: … -->`, its lines in that
 * file in the same order); and the files it names exist.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const readme = await readFile(join(root, 'README.md'), 'utf8')

/** Every fenced block: its language, the marker comment right above it (if any), its text. */
const blocks = [...readme.matchAll(/(?:<!-- (file|excerpt): (\S+) -->\n[ \t]*)?```(\w*)\n([\s\S]*?)```/g)]
  .map(([, kind, file, lang, code]) => ({ kind, file, lang, code }))

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
