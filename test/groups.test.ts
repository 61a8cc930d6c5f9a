import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqemitter, { type MQEmitter } from 'mqemitter'
import { defineConsumer, type ConsumerContext, type GroupMessage } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

/** A chat-like consumer: join and leave rooms; room messages are pushed to members. */
const rooms = defineConsumer({
  actions: {
    join: async (ctx, { room }) => {
      await ctx.addGroup(`room__${room}`)
      return { data: [...ctx.groups] }
    },
    leave: async (ctx, { room }) => {
      await ctx.removeGroup(`room__${room}`)
      return { data: [...ctx.groups] }
    },
    say: async (ctx, { room, text }) => {
      await ctx.groupSend(`room__${room}`, { type: 'chat.message', text })
      return { status: 202 }
    },
    ping: () => ({ data: 'pong' })
  },
  groupHandlers: {
    // Channels' rule: the type "chat.message" runs the handler "chat_message".
    chat_message: (ctx: ConsumerContext, message: GroupMessage) => {
      ctx.reply({ action: 'message', data: { text: message.text } })
    },
    update_users: (ctx: ConsumerContext, message: GroupMessage) => {
      ctx.send({ usuarios: message.usuarios })
    }
  }
})

/** An emitter that counts subscriptions, to see what the channel layer asks of it. */
function countingEmitter (): { emitter: MQEmitter, subscriptions: () => number, emits: () => number } {
  const emitter = mqemitter()
  let subscriptions = 0
  let emits = 0
  const on = emitter.on.bind(emitter)
  const removeListener = emitter.removeListener.bind(emitter)
  const emit = emitter.emit.bind(emitter)
  emitter.on = (topic, listener, callback) => { subscriptions++; return on(topic, listener, callback) }
  emitter.removeListener = (topic, listener, callback) => { subscriptions--; removeListener(topic, listener, callback) }
  emitter.emit = (message, callback) => { emits++; emit(message, callback) }
  return { emitter, subscriptions: () => subscriptions, emits: () => emits }
}

test('a group message from a route reaches every member, handled by its type', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  app.post('/rooms/:room/users', async (request) => {
    const { room } = request.params as { room: string }
    await app.dcrf.groupSend(`room__${room}`, { type: 'update_users', usuarios: request.body })
    return { sent: true }
  })
  const [a, b, outsider] = await Promise.all([Client.open(app, '/ws/'), Client.open(app, '/ws/'), Client.open(app, '/ws/')])
  assert.deepEqual(await a.request({ action: 'join', room: 1, request_id: 1 }), reply('join', ['room__1'], 200, 1))
  assert.deepEqual(await b.request({ action: 'join', room: 1, request_id: 1 }), reply('join', ['room__1'], 200, 1))
  assert.deepEqual(await outsider.request({ action: 'join', room: 2, request_id: 1 }), reply('join', ['room__2'], 200, 1))

  const response = await app.inject({ method: 'POST', url: '/rooms/1/users', payload: ['ada', 'bob'] })
  assert.deepEqual(response.json(), { sent: true })
  assert.deepEqual(await a.next(), { usuarios: ['ada', 'bob'] })
  assert.deepEqual(await b.next(), { usuarios: ['ada', 'bob'] })
  // The outsider's next frame is its own ping reply: it received nothing.
  assert.deepEqual(await outsider.request({ action: 'ping', request_id: 2 }), reply('ping', 'pong', 200, 2))
})

test('a consumer sends to its group; members handle it in their queue, in order with replies', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  const a = await Client.open(app, '/ws/')
  const b = await Client.open(app, '/ws/')
  await a.request({ action: 'join', room: 'x' })
  await b.request({ action: 'join', room: 'x' })
  a.send({ action: 'say', room: 'x', text: 'hello', request_id: 's' })
  // The sender's reply goes first: the group message is handled after the action that sent it.
  assert.deepEqual(await a.next(), reply('say', null, 202, 's'))
  assert.deepEqual(await a.next(), reply('message', { text: 'hello' }, 200, null))
  assert.deepEqual(await b.next(), reply('message', { text: 'hello' }, 200, null))
})

test('leaving a group stops its messages; closing the socket leaves every group', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  const a = await Client.open(app, '/ws/')
  const b = await Client.open(app, '/ws/')
  await a.request({ action: 'join', room: 1 })
  await a.request({ action: 'join', room: 2 })
  await b.request({ action: 'join', room: 1 })
  assert.equal(app.dcrf.channelLayer.size, 2)
  assert.deepEqual(await a.request({ action: 'leave', room: 1, request_id: 'l' }), reply('leave', ['room__2'], 200, 'l'))
  await app.dcrf.groupSend('room__1', { type: 'chat.message', text: 'only b' })
  assert.deepEqual(await b.next(), reply('message', { text: 'only b' }, 200, null))
  assert.deepEqual(await a.request({ action: 'ping', request_id: 'p' }), reply('ping', 'pong', 200, 'p'))

  a.close()
  await a.closed
  b.close()
  await b.closed
  // Both sockets are gone: no group is left subscribed in this process.
  await waitFor(() => app.dcrf.channelLayer.size === 0)
  assert.equal(app.dcrf.channelLayer.size, 0)
})

test('one subscription per group per process, one channel message per group send', async (t) => {
  const counting = countingEmitter()
  const { app } = await build(t, { channelLayer: { emitter: counting.emitter } })
  t.after(() => new Promise<void>((resolve) => counting.emitter.close(resolve)))
  app.dcrf.consumer('/ws/', rooms)
  const clients = await Promise.all(Array.from({ length: 20 }, () => Client.open(app, '/ws/')))
  await Promise.all(clients.map((client) => client.request({ action: 'join', room: 'big' })))
  assert.equal(counting.subscriptions(), 1)
  await app.dcrf.groupSend('room__big', { type: 'chat.message', text: 'to all' })
  assert.equal(counting.emits(), 1)
  for (const client of clients) assert.deepEqual(await client.next(), reply('message', { text: 'to all' }, 200, null))
  for (const client of clients) client.close()
  await Promise.all(clients.map((client) => client.closed))
  await waitFor(() => counting.subscriptions() === 0)
  assert.equal(counting.subscriptions(), 0)
})

test('group names with topic separators and wildcards stay exact', async (t) => {
  const { app } = await build(t)
  const consumer = defineConsumer({
    actions: { join: async (ctx, { group }) => { await ctx.addGroup(group as string); return { data: group } } },
    groupHandlers: { note: (ctx, message) => ctx.send({ got: message.text }) }
  })
  app.dcrf.consumer('/ws/', consumer)
  const plus = await Client.open(app, '/ws/')
  const hash = await Client.open(app, '/ws/')
  const plain = await Client.open(app, '/ws/')
  await plus.request({ action: 'join', group: 'a/+' })
  await hash.request({ action: 'join', group: 'a/#' })
  await plain.request({ action: 'join', group: 'a/b' })
  await app.dcrf.groupSend('a/b', { type: 'note', text: 'for a/b' })
  await app.dcrf.groupSend('a/+', { type: 'note', text: 'for a/+' })
  await app.dcrf.groupSend('a/#', { type: 'note', text: 'for a/#' })
  assert.deepEqual(await plain.next(), { got: 'for a/b' })
  assert.deepEqual(await plus.next(), { got: 'for a/+' })
  assert.deepEqual(await hash.next(), { got: 'for a/#' })
  for (const client of [plain, plus, hash]) {
    assert.deepEqual(await client.request({ action: 'join', group: 'barrier', request_id: 'b' }), reply('join', 'barrier', 200, 'b'))
  }
})

test('a message of an unknown type is logged and the connection keeps serving', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  const a = await Client.open(app, '/ws/')
  await a.request({ action: 'join', room: 1 })
  await app.dcrf.groupSend('room__1', { type: 'no.such.handler' })
  assert.deepEqual(await a.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  assert.ok(logs.some((line) => line.type === 'no.such.handler' && /no group handler/.test(line.msg)))
})

test('a group message needs a string type', async (t) => {
  const { app } = await build(t)
  await app.ready()
  await assert.rejects(app.dcrf.groupSend('g', { text: 'no type' } as never), /type/)
})

test('the channel layer closes with the application', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  const a = await Client.open(app, '/ws/')
  await a.request({ action: 'join', room: 1 })
  await app.close()
  assert.equal((await a.closed).code, 1001)
  await assert.rejects(app.dcrf.groupSend('room__1', { type: 'chat.message' }), { code: 'DCRF_ERR_CHANNEL_LAYER_CLOSED' })
})

async function waitFor (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}
