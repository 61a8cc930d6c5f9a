import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import dcrf, { defineConsumer, type DcrfOptions } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

const invalid: Array<[string, unknown]> = [
  ['unknown option', { channelLayr: {} }],
  ['channelLayer not an object', { channelLayer: 'redis' }],
  ['redis not a URL', { channelLayer: { redis: 'localhost:6379' } }],
  ['emitter without the mqemitter API', { channelLayer: { emitter: {} } }],
  ['negative closeTimeout', { channelLayer: { closeTimeout: -1 } }],
  ['permissions not an array', { permissions: { hasPermission: () => true } }],
  ['a permission without checks', { permissions: [{}] }],
  ['maxFrameSize zero', { maxFrameSize: 0 }],
  ['maxFrameSize not an integer', { maxFrameSize: 1.5 }]
]

for (const [name, options] of invalid) {
  test(`register refuses options: ${name}`, async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await assert.rejects(async () => { await app.register(dcrf, options as DcrfOptions) }, { code: 'DCRF_ERR_INVALID_OPTION' })
  })
}

const badConsumers: Array<[string, unknown, RegExp]> = [
  ['not an object', null, /must be an object/],
  ['no actions', {}, /actions must be an object/],
  ['a handler that is not a function', { actions: { a: 5 } }, /action "a" needs a handler/],
  ['an alias clashing with an action', { actions: { a: () => undefined, b: { handler: () => undefined, aliases: ['a'] } } }, /"a" is defined twice/],
  ['permissions not an array', { actions: {}, permissions: 'allow' }, /permissions must be an array/],
  ['a group handler that is not a function', { actions: {}, groupHandlers: { x: 1 } }, /group handler "x"/],
  ['onConnect not a function', { actions: {}, onConnect: 'x' }, /onConnect must be a function/]
]

for (const [name, consumer, message] of badConsumers) {
  test(`mounting refuses a consumer: ${name}`, async (t) => {
    const { app } = await build(t)
    assert.throws(() => app.dcrf.consumer('/ws/', consumer as never), (err: Error & { code: string }) => {
      assert.equal(err.code, 'DCRF_ERR_INVALID_CONSUMER')
      assert.match(err.message, message)
      return true
    })
  })
}

test('a multiplexer needs streams', async (t) => {
  const { app } = await build(t)
  assert.throws(() => app.dcrf.multiplex('/ws/', {}), { code: 'DCRF_ERR_INVALID_CONSUMER' })
})

test('an application that registered @fastify/websocket itself keeps it', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(websocket, { options: { maxPayload: 100 } })
  await app.register(dcrf, { maxFrameSize: 50 })
  app.dcrf.consumer('/ws/', defineConsumer({ actions: { echo: (_ctx, args) => ({ data: args }) } }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'echo', request_id: 1 }), reply('echo', {}, 200, 1))
  // Its maxPayload is 100, the plugin's maxFrameSize 50: the plugin still enforces its own limit.
  client.send({ action: 'echo', padding: 'x'.repeat(60) })
  assert.equal((await client.closed).code, 1009)
})
