import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { errors } from 'fastify-dcrf'

test('every error code is exported, constructible, coded by its key and listed in the README', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const codes = Object.keys(errors)
  // Pinned, as Fastify pins its own: a code added or removed is a visible change of the registry.
  assert.equal(codes.length, 26)
  for (const code of codes) {
    const ErrorClass = errors[code as keyof typeof errors]
    const err = new ErrorClass('a', 'b')
    assert.ok(err instanceof Error, code)
    assert.equal(err.code, code)
    assert.equal(err.name, 'FastifyError')
    assert.equal(typeof err.statusCode, 'number')
    assert.ok(readme.includes(`\`${code}\``), `${code} is documented in the README`)
  }
})

test('the wire errors carry DCRF messages byte for byte', () => {
  assert.equal(new errors.DCRF_ERR_NO_ACTION().message, 'Unable to find action in message body.')
  assert.equal(new errors.DCRF_ERR_METHOD_NOT_ALLOWED('x').message, 'Method "x" not allowed.')
  assert.equal(new errors.DCRF_ERR_PERMISSION_DENIED().message, 'You do not have permission to perform this action.')
  assert.equal(new errors.DCRF_ERR_NOT_AUTHENTICATED().message, 'Authentication credentials were not provided.')
  assert.equal(new errors.DCRF_ERR_AUTHENTICATION_FAILED().message, 'Incorrect authentication credentials.')
  assert.equal(new errors.DCRF_ERR_NOT_FOUND().message, 'Not found')
  assert.equal(new errors.DCRF_ERR_THROTTLED().message, 'Request was throttled.')
})
