import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import dcrf, { action, defineConsumer, modelObserver, type ConsumerContext } from 'fastify-dcrf'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { build, Client, reply, urlOf } from './helpers.js'

const rooms = defineConsumer({
  actions: {
    join: async (ctx, { room }) => { await ctx.addGroup(String(room)); return { status: 201 } },
    ping: () => ({ data: 'pong' }),
    slow: async (ctx: ConsumerContext, { n }) => {
      await sleep(1)
      return { data: { n, paused: ctx.socket?.isPaused } }
    }
  },
  groupHandlers: { news: (ctx, message) => ctx.send({ n: message.n, body: message.body }) }
})

test('a client that stops reading is closed once its outbound buffer is full; others get every event', async (t) => {
  const { app, logs } = await build(t, { maxBufferedBytes: 256 * 1024 })
  let disconnects = 0
  app.dcrf.consumer('/ws/', { ...rooms, onDisconnect: () => { disconnects++ } })
  const healthy = await Client.open(app, '/ws/')
  const stuck = await Client.open(app, '/ws/')
  await healthy.request({ action: 'join', room: 'feed' })
  await stuck.request({ action: 'join', room: 'feed' })
  // The stuck client stops reading: the kernel buffers fill, then the server's send buffer grows.
  stuck.ws.pause()
  const body = 'x'.repeat(16 * 1024)
  const events = 400
  for (let n = 0; n < events; n++) {
    await app.dcrf.groupSend('feed', { type: 'news', n, body })
    if (n % 50 === 0) await sleep(5)
  }
  for (let n = 0; n < events; n++) assert.equal((await healthy.next()).n, n)
  for (let i = 0; i < 200 && !logs.some((line) => line.msg === 'client too slow: closing the socket'); i++) await sleep(10)
  assert.ok(logs.some((line) => line.msg === 'client too slow: closing the socket'))
  stuck.ws.resume()
  const { code } = await stuck.closed
  assert.equal(code, 1013)
  const disconnected = (): boolean => disconnects > 0
  for (let i = 0; i < 200 && !disconnected(); i++) await sleep(10)
  assert.equal(disconnects, 1, 'the stuck socket was closed')
  assert.deepEqual(await healthy.request({ action: 'ping', request_id: 'after' }), reply('ping', 'pong', 200, 'after'))
})

test('a socket whose queue is full is read no further until it drains; nothing is lost', async (t) => {
  const { app } = await build(t, { maxQueuedFrames: 10 })
  app.dcrf.consumer('/ws/', rooms)
  const client = await Client.open(app, '/ws/')
  for (let n = 0; n < 60; n++) client.send({ action: 'slow', n, request_id: n })
  const replies = []
  for (let n = 0; n < 60; n++) replies.push(await client.next())
  assert.deepEqual(replies.map((r) => r.data.n), Array.from({ length: 60 }, (_, n) => n))
  assert.ok(replies.some((r) => r.data.paused === true), 'reading paused while the queue was full')
  assert.equal(replies.at(-1).data.paused, false, 'and resumed once it drained')
})

test('frames that cannot be read count against the queue too: a flood of them behind a slow action pauses reading', async (t) => {
  const { app } = await build(t, { maxQueuedFrames: 10 })
  app.dcrf.consumer('/ws/', rooms)
  const client = await Client.open(app, '/ws/')
  client.send({ action: 'slow', n: 'first', request_id: 'first' })
  for (let n = 0; n < 40; n++) client.ws.send(n % 2 === 0 ? '{not json' : '[1]')
  client.send({ action: 'slow', n: 'last', request_id: 'last' })
  const first = await client.next()
  assert.deepEqual(first.data, { n: 'first', paused: true })
  for (let n = 0; n < 40; n++) {
    const error = await client.next()
    assert.equal(error.response_status, 400)
  }
  const last = await client.next()
  assert.deepEqual(last.data, { n: 'last', paused: false })
})

test('the rate limit answers 429 per frame past it, per socket', async (t) => {
  const { app } = await build(t, { rateLimit: { max: 3, timeWindow: 60_000 } })
  app.dcrf.consumer('/ws/', rooms)
  const client = await Client.open(app, '/ws/')
  for (let i = 0; i < 3; i++) assert.deepEqual(await client.request({ action: 'ping', request_id: i }), reply('ping', 'pong', 200, i))
  assert.deepEqual(await client.request({ action: 'ping', request_id: 3 }), reply('ping', null, 429, 3, ['Request was throttled.']))
  assert.deepEqual(await client.request({ request_id: 4 }), reply(null, null, 429, 4, ['Request was throttled.']))
  const other = await Client.open(app, '/ws/')
  assert.deepEqual(await other.request({ action: 'ping', request_id: 'o' }), reply('ping', 'pong', 200, 'o'))
})

test('subscriptions per connection are limited', async (t) => {
  const { app } = await build(t, { maxSubscriptions: 2 })
  const notes = pgTable('notes', { id: serial('id').primaryKey(), text: text('text') })
  app.dcrf.consumer('/ws/', defineConsumer({
    observers: { notes: modelObserver(notes, { groupsForConsumer: (_ctx, { group }) => [String(group)] }) },
    actions: {
      subscribe: action({
        async handler (ctx, { group }, { requestId }) {
          await ctx.observer('notes').subscribe({ requestId, group })
          return { status: 201 }
        }
      })
    }
  }))
  const client = await Client.open(app, '/ws/')
  assert.equal((await client.request({ action: 'subscribe', group: 'a', request_id: 1 })).response_status, 201)
  assert.equal((await client.request({ action: 'subscribe', group: 'b', request_id: 1 })).response_status, 201)
  // The same request id on the same group again is not a new subscription.
  assert.equal((await client.request({ action: 'subscribe', group: 'b', request_id: 1 })).response_status, 201)
  assert.deepEqual(
    await client.request({ action: 'subscribe', group: 'c', request_id: 2 }),
    reply('subscribe', null, 429, 2, ['Too many subscriptions on this connection (at most 2).'])
  )
})

test('a handshake that does not finish in time is dropped', async (t) => {
  const { app, logs } = await build(t, { handshakeTimeout: 100 })
  let connected = false
  await app.register(async (scope) => {
    // An authentication hook that never answers.
    scope.addHook('onRequest', () => new Promise(() => {}))
    scope.dcrf.consumer('/ws/stalled/', { ...rooms, onConnect: () => { connected = true } })
  })
  app.dcrf.consumer('/ws/', rooms)
  const ws = new WebSocket(await urlOf(app, '/ws/stalled/'))
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'))
    ws.once('error', (err) => resolve(err.message))
  })
  assert.match(outcome, /socket hang up|ECONNRESET/)
  assert.equal(connected, false)
  assert.ok(logs.some((line) => line.msg === 'WebSocket handshake timed out: dropping the socket'))
  // Completed handshakes are not affected, however long the socket then lives.
  const client = await Client.open(app, '/ws/')
  await sleep(200)
  assert.deepEqual(await client.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
})

test('the heartbeat terminates sockets that stopped answering pings', async (t) => {
  const { app } = await build(t, { heartbeatInterval: 50 })
  app.dcrf.consumer('/ws/', rooms)
  const url = await urlOf(app, '/ws/')
  const silent = new Client(new WebSocket(url, { autoPong: false }))
  const alive = await Client.open(app, '/ws/')
  assert.deepEqual(await silent.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  const { code } = await silent.closed
  assert.equal(code, 1006)
  assert.deepEqual(await alive.request({ action: 'ping', request_id: 2 }), reply('ping', 'pong', 200, 2))
})

test('an app that registered @fastify/websocket itself closes sockets with 1001 through the preClose the README gives', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(websocket, {
    preClose (done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'Server shutting down')
      this.websocketServer.close()
      done()
    }
  })
  await app.register(dcrf)
  app.dcrf.consumer('/ws/', rooms)
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'join', room: 'r', request_id: 1 }), reply('join', null, 201, 1))
  await app.close()
  assert.equal((await client.closed).code, 1001)
  assert.equal(app.dcrf.channelLayer.size, 0)
})

test('closing the app closes sockets with 1001, cancels detached work and leaves every group', async (t) => {
  const { app } = await build(t)
  let cancelled = false
  let started!: () => void
  const running = new Promise<void>((resolve) => { started = resolve })
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      ...rooms.actions,
      forever: action({
        detached: true,
        handler: async (_ctx, _args, { signal }) => {
          started()
          await new Promise((resolve) => signal.addEventListener('abort', resolve))
          cancelled = true
        }
      })
    }
  }))
  const clients = await Promise.all([1, 2, 3].map(() => Client.open(app, '/ws/')))
  for (const [i, client] of clients.entries()) await client.request({ action: 'join', room: `r${i}` })
  clients[0].send({ action: 'forever' })
  await running
  assert.equal(app.dcrf.channelLayer.size, 3)
  await app.close()
  for (const client of clients) assert.equal((await client.closed).code, 1001)
  assert.equal(cancelled, true)
  assert.equal(app.dcrf.channelLayer.size, 0)
})

test('thousands of connect/subscribe/disconnect cycles leave nothing behind', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', rooms)
  await app.ready()
  const url = await urlOf(app, '/ws/')
  const baseline = process.getActiveResourcesInfo().length
  for (let round = 0; round < 40; round++) {
    const clients = await Promise.all(Array.from({ length: 50 }, () => Client.open(app, '/ws/').catch(() => Client.open(app, '/ws/'))))
    await Promise.all(clients.map((client, i) => client.request({ action: 'join', room: i % 7 })))
    for (const client of clients) client.close()
    await Promise.all(clients.map((client) => client.closed))
  }
  for (let i = 0; i < 200 && app.dcrf.channelLayer.size > 0; i++) await sleep(10)
  assert.equal(app.dcrf.channelLayer.size, 0)
  // No socket, timer or handle is left over from the 2,000 connections.
  for (let i = 0; i < 100 && process.getActiveResourcesInfo().length > baseline; i++) await sleep(10)
  assert.ok(process.getActiveResourcesInfo().length <= baseline, `${process.getActiveResourcesInfo().join(', ')}`)
  assert.ok(url.startsWith('ws://'))
})
