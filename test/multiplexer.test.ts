import { test } from 'node:test'
import assert from 'node:assert/strict'
import { defineConsumer, type Permission } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

const counter = defineConsumer({
  state: () => ({ count: 0 }),
  actions: {
    inc: (ctx) => ({ data: { stream: ctx.stream, count: ++ctx.state.count } }),
    join: async (ctx) => { await ctx.addGroup('everyone'); return { status: 201 } }
  },
  groupHandlers: { shout: (ctx, message) => ctx.reply({ action: 'shout', data: message.text }) }
})

const echo = defineConsumer({
  actions: { echo: (_ctx, args) => ({ data: args }) }
})

function wrap (stream: string, payload: unknown): Record<string, unknown> {
  return { stream, payload }
}

test('frames are wrapped as {"stream", "payload"} both ways, one consumer per stream', async (t) => {
  const { app } = await build(t)
  app.dcrf.multiplex('/ws/', { counter, echo })
  const client = await Client.open(app, '/ws/')
  client.send(wrap('counter', { action: 'inc', request_id: 1 }))
  assert.equal(await client.nextText(), '{"stream":"counter","payload":{"errors":[],"data":{"stream":"counter","count":1},"action":"inc","response_status":200,"request_id":1}}')
  assert.deepEqual(await client.request(wrap('echo', { action: 'echo', request_id: 2, x: 1 })), wrap('echo', reply('echo', { x: 1 }, 200, 2)))
  assert.deepEqual(await client.request(wrap('counter', { action: 'inc', request_id: 3 })), wrap('counter', reply('inc', { stream: 'counter', count: 2 }, 200, 3)))
  // Protocol errors inside a stream stay in the stream.
  assert.deepEqual(await client.request(wrap('echo', { action: 'nope', request_id: 4 })), wrap('echo', reply('nope', null, 405, 4, ['Method "nope" not allowed.'])))
})

test('each socket has its own consumer contexts; group messages arrive wrapped', async (t) => {
  const { app } = await build(t)
  app.dcrf.multiplex('/ws/', { counter, echo })
  const a = await Client.open(app, '/ws/')
  const b = await Client.open(app, '/ws/')
  await a.request(wrap('counter', { action: 'inc' }))
  assert.deepEqual((await b.request(wrap('counter', { action: 'inc' }))).payload.data, { stream: 'counter', count: 1 })
  assert.deepEqual(await a.request(wrap('counter', { action: 'join', request_id: 'j' })), wrap('counter', reply('join', null, 201, 'j')))
  await app.dcrf.groupSend('everyone', { type: 'shout', text: 'hi' })
  assert.deepEqual(await a.next(), wrap('counter', reply('shout', 'hi', 200, null)))
})

test('an unknown stream is answered 404 on that stream; the socket stays open', async (t) => {
  const { app } = await build(t)
  app.dcrf.multiplex('/ws/', { echo })
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(
    await client.request(wrap('nope', { action: 'echo', request_id: 1 })),
    wrap('nope', reply('echo', null, 404, 1, ['Unknown stream "nope".']))
  )
  assert.deepEqual(await client.request(wrap('echo', { action: 'echo', request_id: 2 })), wrap('echo', reply('echo', {}, 200, 2)))
})

test('malformed multiplexed frames get a clear reply and the socket keeps serving', async (t) => {
  const { app } = await build(t)
  app.dcrf.multiplex('/ws/', { echo })
  const client = await Client.open(app, '/ws/')
  const badEnvelope = reply(null, null, 400, null, ['Message must be a JSON object with a "stream" string and a "payload".'])
  client.sendText('not json')
  assert.equal((await client.next()).response_status, 400)
  for (const frame of [{ payload: { action: 'echo' } }, { stream: 5, payload: {} }, { stream: 'echo' }]) {
    assert.deepEqual(await client.request(frame), badEnvelope, JSON.stringify(frame))
  }
  client.sendText('[1]')
  assert.deepEqual(await client.next(), reply(null, null, 400, null, ['Message must be a JSON object.']))
  assert.deepEqual(await client.request(wrap('echo', 'not an object')), wrap('echo', reply(null, null, 400, null, ['Message must be a JSON object.'])))
  assert.deepEqual(await client.request(wrap('echo', { action: 'echo', request_id: 'ok' })), wrap('echo', reply('echo', {}, 200, 'ok')))
})

test('a stream consumer refusing the connection refuses the handshake', async (t) => {
  const { app } = await build(t)
  const adminsOnly: Permission = { canConnect: (ctx) => (ctx.request.query as Record<string, string>).role === 'admin' }
  app.dcrf.multiplex('/ws/', { echo, admin: defineConsumer({ permissions: [adminsOnly], actions: {} }) })
  assert.equal(await Client.refused(app, '/ws/'), 403)
  const admin = await Client.open(app, '/ws/?role=admin')
  assert.deepEqual(await admin.request(wrap('echo', { action: 'echo', request_id: 1 })), wrap('echo', reply('echo', {}, 200, 1)))
})

test('frames answered outside any stream leave the queue count: many of them never stop the socket being read', async (t) => {
  const { app } = await build(t, { maxQueuedFrames: 4 })
  app.dcrf.multiplex('/ws/', { echo })
  const client = await Client.open(app, '/ws/')
  // Each kind is answered at once, outside a stream's queue: 30 of them, far past maxQueuedFrames.
  for (let i = 0; i < 10; i++) {
    client.sendText('not json')
    client.send({ stream: 5, payload: {} })
    client.send(wrap('nope', { action: 'echo', request_id: i }))
  }
  const statuses = []
  for (let i = 0; i < 30; i++) {
    const frame = await client.next()
    statuses.push(frame.payload?.response_status ?? frame.response_status)
  }
  assert.deepEqual(statuses, Array.from({ length: 10 }, () => [400, 400, 404]).flat())
  assert.deepEqual(await client.request(wrap('echo', { action: 'echo', request_id: 'after' })), wrap('echo', reply('echo', {}, 200, 'after')))
})
