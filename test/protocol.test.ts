import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import {
  action,
  authenticationFailed,
  defineConsumer,
  notAuthenticated,
  notFound,
  permissionDenied,
  throttled,
  validationError
} from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

const consumer = defineConsumer({
  actions: {
    echo: (_ctx, args) => ({ data: args }),
    nothing: () => undefined,
    boom: () => { throw new Error('secret internals') },
    rejects: async () => { throw new Error('async internals') },
    bad_return: () => 'not an object' as never,
    invalid: () => { throw validationError('Room is full') },
    invalid_fields: () => { throw validationError({ email: ['Enter a valid email address.'] }) },
    missing: () => { throw notFound() },
    denied: () => { throw permissionDenied() },
    anonymous: () => { throw notAuthenticated() },
    bad_credentials: () => { throw authenticationFailed() },
    throttle: () => { throw throttled() },
    http_error: () => { throw Object.assign(new Error('I am a teapot'), { statusCode: 418 }) },
    typed: action({
      schema: Type.Object({
        pk: Type.Integer(),
        email: Type.String({ format: 'email' }),
        name: Type.Optional(Type.String({ maxLength: 3 })),
        options: Type.Optional(Type.Object({})),
        tags: Type.Optional(Type.Array(Type.String()))
      }),
      handler: (_ctx, { pk, email }) => ({ data: { pk, email }, status: 201 })
    })
  }
})

async function open (t: import('node:test').TestContext): Promise<{ client: Client, logs: Array<Record<string, any>> }> {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', consumer)
  return { client: await Client.open(app, '/ws/'), logs }
}

test('the reply envelope has DCRF keys in DCRF order', async (t) => {
  const { client } = await open(t)
  client.send({ action: 'echo', request_id: 7, a: 1 })
  assert.equal(await client.nextText(), '{"errors":[],"data":{"a":1},"action":"echo","response_status":200,"request_id":7}')
  client.send({ action: 'missing', request_id: 'r' })
  assert.equal(await client.nextText(), '{"errors":["Not found"],"data":null,"action":"missing","response_status":404,"request_id":"r"}')
})

test('request_id is echoed verbatim whatever its JSON type, and as null when absent', async (t) => {
  const { client } = await open(t)
  for (const id of [42, 'abc', 1.5, true, false, null, [1, 'two'], { nested: { id: 3 } }, '']) {
    assert.deepEqual(await client.request({ action: 'echo', request_id: id }), reply('echo', {}, 200, id))
  }
  assert.deepEqual(await client.request({ action: 'echo' }), reply('echo', {}, 200, null))
})

test('every field but action and request_id is an argument', async (t) => {
  const { client } = await open(t)
  const frame = { action: 'echo', request_id: 1, pk: 3, data: { x: [1, 2] }, limit: 5, 'odd key': null }
  assert.deepEqual(await client.request(frame), reply('echo', { pk: 3, data: { x: [1, 2] }, limit: 5, 'odd key': null }, 200, 1))
})

test('an action returning nothing sends no reply', async (t) => {
  const { client } = await open(t)
  client.send({ action: 'nothing', request_id: 1 })
  client.send({ action: 'echo', request_id: 2 })
  // The next frame is the second action's: the first sent nothing.
  assert.deepEqual(await client.next(), reply('echo', {}, 200, 2))
})

test('DCRF error rows: no action, unknown action, non-string action', async (t) => {
  const { client } = await open(t)
  assert.deepEqual(await client.request({ request_id: 1, pk: 2 }), reply(null, null, 405, 1, ['Unable to find action in message body.']))
  assert.deepEqual(await client.request({ action: null, request_id: 2 }), reply(null, null, 405, 2, ['Unable to find action in message body.']))
  assert.deepEqual(await client.request({ action: 'x', request_id: 3 }), reply('x', null, 405, 3, ['Method "x" not allowed.']))
  assert.deepEqual(await client.request({ action: 5, request_id: 4 }), reply(5, null, 405, 4, ['Method "5" not allowed.']))
  assert.deepEqual(await client.request({ action: { a: 1 }, request_id: 5 }), reply({ a: 1 }, null, 405, 5, ['Method "{"a":1}" not allowed.']))
  assert.deepEqual(await client.request({ action: ['echo'], request_id: 6 }), reply(['echo'], null, 405, 6, ['Method "["echo"]" not allowed.']))
  // An inherited property name is not an action either.
  assert.deepEqual(await client.request({ action: 'constructor', request_id: 7 }), reply('constructor', null, 405, 7, ['Method "constructor" not allowed.']))
  assert.deepEqual(await client.request({ action: '__proto__', request_id: 8 }), reply('__proto__', null, 405, 8, ['Method "__proto__" not allowed.']))
})

test('DCRF error rows: 400, 401, 403, 404, 429 and a coded 4xx', async (t) => {
  const { client } = await open(t)
  assert.deepEqual(await client.request({ action: 'invalid', request_id: 1 }), reply('invalid', null, 400, 1, ['Room is full']))
  assert.deepEqual(await client.request({ action: 'invalid_fields', request_id: 2 }), reply('invalid_fields', null, 400, 2, [{ email: ['Enter a valid email address.'] }]))
  assert.deepEqual(await client.request({ action: 'missing', request_id: 3 }), reply('missing', null, 404, 3, ['Not found']))
  assert.deepEqual(await client.request({ action: 'denied', request_id: 4 }), reply('denied', null, 403, 4, ['You do not have permission to perform this action.']))
  assert.deepEqual(await client.request({ action: 'anonymous', request_id: 5 }), reply('anonymous', null, 401, 5, ['Authentication credentials were not provided.']))
  assert.deepEqual(await client.request({ action: 'bad_credentials', request_id: 6 }), reply('bad_credentials', null, 401, 6, ['Incorrect authentication credentials.']))
  assert.deepEqual(await client.request({ action: 'throttle', request_id: 7 }), reply('throttle', null, 429, 7, ['Request was throttled.']))
  assert.deepEqual(await client.request({ action: 'http_error', request_id: 8 }), reply('http_error', null, 418, 8, ['I am a teapot']))
})

test('arguments are validated against the action schema with DRF field errors', async (t) => {
  const { client } = await open(t)
  assert.deepEqual(await client.request({ action: 'typed', request_id: 1, pk: 3, email: 'a@b.co' }), reply('typed', { pk: 3, email: 'a@b.co' }, 201, 1))
  assert.deepEqual(
    await client.request({ action: 'typed', request_id: 2 }),
    reply('typed', null, 400, 2, [{ pk: ['This field is required.'], email: ['This field is required.'] }])
  )
  assert.deepEqual(
    await client.request({ action: 'typed', request_id: 3, pk: 'x', email: 'nope', name: 'long' }),
    reply('typed', null, 400, 3, [{ pk: ['A valid integer is required.'], email: ['Enter a valid email address.'], name: ['Ensure this field has no more than 3 characters.'] }])
  )
  assert.deepEqual(
    await client.request({ action: 'typed', request_id: 4, pk: null, email: 5 }),
    reply('typed', null, 400, 4, [{ pk: ['This field may not be null.'], email: ['Not a valid string.'] }])
  )
  // Python's type names, as DRF prints them.
  assert.deepEqual(
    (await client.request({ action: 'typed', request_id: 5, pk: 1, email: 'a@b.co', options: 5, tags: { a: 1 } })).errors,
    [{ options: ['Invalid data. Expected a dictionary, but got int.'], tags: ['Expected a list of items but got type "dict".'] }]
  )
  assert.deepEqual(
    (await client.request({ action: 'typed', request_id: 6, pk: 1, email: 'a@b.co', options: true, tags: 1.5 })).errors,
    [{ options: ['Invalid data. Expected a dictionary, but got bool.'], tags: ['Expected a list of items but got type "float".'] }]
  )
})

test('malformed frames get a clear reply and the socket keeps serving', async (t) => {
  const { client } = await open(t)
  let parserMessage = ''
  try { JSON.parse('{"action": "echo",') } catch (err) { parserMessage = (err as Error).message }
  client.sendText('{"action": "echo",')
  assert.deepEqual(await client.next(), reply(null, null, 400, null, [`Invalid JSON: ${parserMessage}`]))
  for (const text of ['[1, 2]', '"echo"', '5', 'null', 'true']) {
    client.sendText(text)
    assert.deepEqual(await client.next(), reply(null, null, 400, null, ['Message must be a JSON object.']), text)
  }
  client.sendText(Buffer.from('{"action":"echo"}'), true)
  assert.deepEqual(await client.next(), reply(null, null, 400, null, ['Message must be a JSON object.']))
  client.sendText('')
  assert.deepEqual(await client.next(), reply(null, null, 400, null, ['Message must be a JSON object.']))
  assert.deepEqual(await client.request({ action: 'echo', request_id: 'still here' }), reply('echo', {}, 200, 'still here'))
})

test('an unexpected exception is a 500 without internals, logged with its stack', async (t) => {
  const { client, logs } = await open(t)
  assert.deepEqual(await client.request({ action: 'boom', request_id: 1 }), reply('boom', null, 500, 1, ['A server error occurred.']))
  assert.deepEqual(await client.request({ action: 'rejects', request_id: 2 }), reply('rejects', null, 500, 2, ['A server error occurred.']))
  assert.deepEqual(await client.request({ action: 'bad_return', request_id: 3 }), reply('bad_return', null, 500, 3, ['A server error occurred.']))
  const logged = logs.filter((line) => line.level === 50 && line.err)
  assert.deepEqual(logged.map((line) => line.err.message), [
    'secret internals',
    'async internals',
    'action "bad_return" must return { data, status } or nothing'
  ])
  assert.match(logged[0].err.stack, /secret internals\n\s+at /)
  assert.deepEqual(await client.request({ action: 'echo', request_id: 4 }), reply('echo', {}, 200, 4))
})

test('a frame larger than maxFrameSize closes the socket with 1009', async (t) => {
  const { app, logs } = await build(t, { maxFrameSize: 64 })
  app.dcrf.consumer('/ws/', consumer)
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'echo', request_id: 1, x: 'small' }), reply('echo', { x: 'small' }, 200, 1))
  client.send({ action: 'echo', x: 'y'.repeat(100) })
  const { code } = await client.closed
  assert.equal(code, 1009)
  const other = await Client.open(app, '/ws/')
  assert.deepEqual(await other.request({ action: 'echo', request_id: 2 }), reply('echo', {}, 200, 2))
  assert.ok(logs.some((line) => /too (?:big|large)|Max payload/i.test(JSON.stringify(line))), 'the oversized frame is logged')
})

test('the default maximum frame size is 1 MiB', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', consumer)
  const client = await Client.open(app, '/ws/')
  const big = 'x'.repeat(1024 * 1024 - 100)
  const answer = await client.request({ action: 'echo', request_id: 1, big })
  assert.equal(answer.data.big.length, big.length)
  client.send({ action: 'echo', big: big + 'x'.repeat(200) })
  assert.equal((await client.closed).code, 1009)
})
