import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { drizzle } from 'drizzle-orm/postgres-js'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import { crud, defineConsumer } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'
import { PostgresServer, RedisServer, sparePort } from './servers.js'

const rooms = defineConsumer({
  actions: {
    join: async (ctx, { room }) => { await ctx.addGroup(String(room)); return { status: 201 } },
    ping: () => ({ data: 'pong' })
  },
  groupHandlers: { news: (ctx, message) => ctx.send({ news: message.text }) }
})

async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await sleep(20)
}

test('Redis going away and coming back: errors logged once, actions keep working, subscriptions restored', {
  skip: RedisServer.available() ? false : 'redis-server is not installed',
  timeout: 60_000
}, async (t) => {
  const redis = new RedisServer(await sparePort())
  await redis.start()
  t.after(() => redis.stop())
  const one = await build(t, { channelLayer: { redis: redis.url, closeTimeout: 500, subscribeTimeout: 200 } })
  const two = await build(t, { channelLayer: { redis: redis.url, closeTimeout: 500 } })
  one.app.dcrf.consumer('/ws/', rooms)
  two.app.dcrf.consumer('/ws/', rooms)
  const member = await Client.open(one.app, '/ws/')
  assert.deepEqual(await member.request({ action: 'join', room: 'r', request_id: 1 }), reply('join', null, 201, 1))
  await two.app.dcrf.groupSend('r', { type: 'news', text: 'before' })
  assert.deepEqual(await member.next(), { news: 'before' })

  await redis.stop()
  await until(() => one.logs.some((line) => /Redis connection lost/.test(line.msg)))
  // Actions that do not need Redis keep working during the outage.
  assert.deepEqual(await member.request({ action: 'ping', request_id: 2 }), reply('ping', 'pong', 200, 2))
  // Joining a group does not stall the connection: it goes on after subscribeTimeout.
  const latecomer = await Client.open(one.app, '/ws/')
  assert.deepEqual(await latecomer.request({ action: 'join', room: 'late', request_id: 3 }), reply('join', null, 201, 3))
  assert.ok(one.logs.some((line) => /subscription not confirmed in time/.test(line.msg)))

  await redis.start()
  await until(() => one.logs.some((line) => /Redis connection restored/.test(line.msg)) && two.logs.some((line) => /Redis connection restored/.test(line.msg)))
  // ioredis re-subscribes; give the subscription a moment to be acknowledged.
  const arrival = member.next()
  let received: unknown
  for (let attempt = 0; attempt < 50 && received === undefined; attempt++) {
    await two.app.dcrf.groupSend('r', { type: 'news', text: `after ${attempt}` })
    received = await Promise.race([arrival, sleep(100).then(() => undefined)])
  }
  assert.match(String((received as { news?: string } | undefined)?.news), /^after \d+$/)
  // The subscription made during the outage was completed when Redis came back.
  await two.app.dcrf.groupSend('late', { type: 'news', text: 'for the latecomer' })
  assert.deepEqual(await latecomer.next(), { news: 'for the latecomer' })
  const lost = one.logs.filter((line) => /Redis connection lost/.test(line.msg))
  assert.equal(lost.length, 1, 'the outage is logged once, not once per retry')
})

test('Redis away: groupSend fails fast and holds no queue; messages sent meanwhile are dropped, never delivered late', {
  skip: RedisServer.available() ? false : 'redis-server is not installed',
  timeout: 60_000
}, async (t) => {
  const redis = new RedisServer(await sparePort())
  await redis.start()
  t.after(() => redis.stop())
  const announcing = defineConsumer({
    actions: {
      ...rooms.actions,
      announce: async (ctx, { text }) => {
        await ctx.groupSend('r', { type: 'news', text })
        return { status: 200 }
      }
    },
    groupHandlers: rooms.groupHandlers
  })
  const one = await build(t, { channelLayer: { redis: redis.url, closeTimeout: 500, subscribeTimeout: 200 } })
  const two = await build(t, { channelLayer: { redis: redis.url, closeTimeout: 500 } })
  one.app.dcrf.consumer('/ws/', announcing)
  two.app.dcrf.consumer('/ws/', announcing)
  await two.app.ready()
  const member = await Client.open(one.app, '/ws/')
  const speaker = await Client.open(two.app, '/ws/')
  assert.deepEqual(await member.request({ action: 'join', room: 'r', request_id: 1 }), reply('join', null, 201, 1))
  assert.deepEqual(await speaker.request({ action: 'announce', text: 'before', request_id: 2 }), reply('announce', null, 200, 2))
  assert.deepEqual(await member.next(), { news: 'before' })

  await redis.stop()
  await until(() => two.logs.some((line) => /Redis connection lost/.test(line.msg)))
  // The action learns at once that its message was dropped; the frame behind it is not held.
  speaker.send({ action: 'announce', text: 'during', request_id: 3 })
  speaker.send({ action: 'ping', request_id: 4 })
  const started = Date.now()
  assert.deepEqual(await speaker.next(), reply('announce', null, 500, 3, ['A server error occurred.']))
  assert.deepEqual(await speaker.next(), reply('ping', 'pong', 200, 4))
  assert.ok(Date.now() - started < 1500, 'within sendTimeout')
  await assert.rejects(two.app.dcrf.groupSend('r', { type: 'news', text: 'during, from a route' }), { code: 'DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE' })

  await redis.start()
  await until(() => one.logs.some((line) => /Redis connection restored/.test(line.msg)) && two.logs.some((line) => /Redis connection restored/.test(line.msg)))
  const restored = two.logs.find((line) => /Redis connection restored/.test(line.msg))
  assert.equal(restored?.dropped, 2)
  const arrival = member.next()
  let received: unknown
  for (let attempt = 0; attempt < 50 && received === undefined; attempt++) {
    await two.app.dcrf.groupSend('r', { type: 'news', text: `after ${attempt}` })
    received = await Promise.race([arrival, sleep(100).then(() => undefined)])
  }
  // The first message to arrive is one sent after the outage: nothing queued during it came late.
  assert.match(String((received as { news?: string } | undefined)?.news), /^after \d+$/)
  await sleep(300)
  assert.ok(member.frames.every((frame) => !frame.includes('during')), member.frames.join())
})

test('closing while Redis does not answer: bounded, and nothing left to reject unhandled', { timeout: 30_000 }, async (t) => {
  // A "Redis" that accepts connections and never answers: ioredis stays connecting, and queues.
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const { port } = silent.address() as AddressInfo
  const { app, logs } = await build(t, { channelLayer: { redis: `redis://127.0.0.1:${port}`, closeTimeout: 300, subscribeTimeout: 100 } })
  app.dcrf.consumer('/ws/', rooms)
  const member = await Client.open(app, '/ws/')
  assert.deepEqual(await member.request({ action: 'join', room: 'r', request_id: 1 }), reply('join', null, 201, 1))
  // A Redis that never answers cannot hold a sender longer than sendTimeout.
  await assert.rejects(app.dcrf.groupSend('r', { type: 'news', text: 'lost' }), { code: 'DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE' })
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.after(() => process.off('unhandledRejection', onUnhandled))
  await app.close()
  assert.ok(logs.some((line) => /close timed out/.test(line.msg)))
  // The commands still queued (the QUIT of the close among them) fail once the connections are gone.
  for (const socket of sockets) socket.destroy()
  await sleep(300)
  assert.deepEqual(unhandled.map(String), [])
})

test('PostgreSQL going away: actions answer an error reply, then work again once it is back', {
  skip: PostgresServer.available() ? false : 'no PostgreSQL binaries or not root: cannot run a cluster of our own',
  timeout: 120_000
}, async (t) => {
  const server = await PostgresServer.create()
  t.after(() => server.destroy())
  await server.start()
  const client = postgres(server.url, { max: 1, onnotice: () => {}, connect_timeout: 2 })
  t.after(() => client.end({ timeout: 1 }))
  await client.unsafe('create table notes (id serial primary key, text text not null); insert into notes (text) values (\'kept\')')
  const notes = pgTable('notes', { id: serial('id').primaryKey(), text: text('text').notNull() })
  const { app, logs } = await build(t, { db: drizzle(client) })
  app.dcrf.consumer('/ws/', defineConsumer({ table: notes, actions: { ...crud(), ping: () => ({ data: 'pong' }) } }))
  const socket = await Client.open(app, '/ws/')
  assert.deepEqual(await socket.request({ action: 'retrieve', pk: 1, request_id: 1 }), reply('retrieve', { id: 1, text: 'kept' }, 200, 1))

  await server.stop()
  assert.deepEqual(await socket.request({ action: 'retrieve', pk: 1, request_id: 2 }), reply('retrieve', null, 500, 2, ['A server error occurred.']))
  assert.deepEqual(await socket.request({ action: 'ping', request_id: 3 }), reply('ping', 'pong', 200, 3))
  assert.ok(logs.some((line) => line.level === 50 && line.err !== undefined), 'the failure is logged')

  await server.start()
  let answer: { response_status?: number } = {}
  for (let attempt = 0; attempt < 20 && answer.response_status !== 200; attempt++) {
    answer = await socket.request({ action: 'retrieve', pk: 1, request_id: 4 })
    if (answer.response_status !== 200) await sleep(200)
  }
  assert.deepEqual(answer, reply('retrieve', { id: 1, text: 'kept' }, 200, 4))
})
