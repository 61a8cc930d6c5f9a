import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import dc from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { eq } from 'drizzle-orm'
import { action, channelNames, defineConsumer, instanceSubscriptions, modelObserver, permissionDenied, type ActionTraceContext } from 'fastify-dcrf'
import { backends } from './db.js'
import { build, Client, reply } from './helpers.js'
import { RedisServer, sparePort } from './servers.js'

type Event = [string, any]

/** Subscribes to every channel of the plugin for the test; returns the events in order. */
function record (t: TestContext): Event[] {
  const events: Event[] = []
  const { action: actionName, ...plain } = channelNames
  const tracing = dc.tracingChannel<unknown, ActionTraceContext>(actionName)
  const handlers = {
    start: (m: ActionTraceContext) => { events.push(['action:start', { ...m }]) },
    end: (m: ActionTraceContext) => { events.push(['action:end', { ...m }]) },
    asyncStart: (m: ActionTraceContext) => { events.push(['action:asyncStart', { ...m }]) },
    asyncEnd: (m: ActionTraceContext) => { events.push(['action:asyncEnd', { ...m }]) },
    error: (m: ActionTraceContext) => { events.push(['action:error', { ...m }]) }
  }
  tracing.subscribe(handlers)
  const listeners = Object.values(plain).map((name) => {
    const listener = (message: unknown): void => { events.push([name.slice('fastify-dcrf:'.length), message]) }
    dc.subscribe(name, listener)
    return [name, listener] as const
  })
  t.after(() => {
    tracing.unsubscribe(handlers)
    for (const [name, listener] of listeners) dc.unsubscribe(name, listener)
  })
  return events
}

const only = (events: Event[], name: string): any[] => events.filter(([n]) => n === name).map(([, m]) => m)

async function until (check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await sleep(10)
  assert.ok(check(), what)
}

const echo = defineConsumer({
  actions: {
    echo: (_ctx, args) => ({ data: args }),
    fail: () => { throw new Error('boom') },
    deny: () => { throw permissionDenied() },
    quiet: () => undefined,
    later: action({ detached: true, handler: async () => { await sleep(5); return { data: 'done', status: 202 } } })
  }
})

test('an action round trip: connection open, frames in and out, the action traced with its status, close', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/echo/', echo)
  const events = record(t)
  const client = await Client.open(app, '/ws/echo/')
  const sent = JSON.stringify({ action: 'echo', n: 1, request_id: 7 })
  client.sendText(sent)
  const answer = await client.nextText()
  assert.deepEqual(JSON.parse(answer), reply('echo', { n: 1 }, 200, 7))

  assert.deepEqual(only(events, 'connection:open').map((m) => m.route), ['/ws/echo/'])
  assert.deepEqual(only(events, 'connection:refused'), [], 'an accepted upgrade is no refusal')
  assert.deepEqual(only(events, 'frame:in'), [{ route: '/ws/echo/', bytes: Buffer.byteLength(sent) }])
  assert.deepEqual(only(events, 'frame:out'), [{ route: '/ws/echo/', bytes: Buffer.byteLength(answer) }])
  const traced = events.filter(([name]) => name.startsWith('action:'))
  assert.deepEqual(traced.map(([name]) => name), ['action:start', 'action:end', 'action:asyncStart', 'action:asyncEnd'])
  const [, start] = traced[0]!
  assert.equal(start.route, '/ws/echo/')
  assert.equal(start.stream, null)
  assert.equal(start.action, 'echo')
  assert.equal(start.requestId, 7)
  assert.equal(start.status, null, 'no status before the reply')
  assert.ok(start.connection.request, 'the consumer context rides along')
  const [, end] = traced[3]!
  assert.equal(end.status, 200)
  assert.equal(end.error, undefined)

  events.length = 0
  assert.equal((await client.request({ action: 'rm -rf', request_id: 'x' })).response_status, 405)
  assert.equal((await client.request({ action: 'fail', request_id: 'y' })).response_status, 500)
  assert.equal((await client.request({ action: 'deny', request_id: 'z' })).response_status, 403)
  assert.deepEqual(await client.request({ action: 'later', request_id: 'd' }), reply('later', 'done', 202, 'd'))
  client.send({ action: 'quiet', request_id: 'q' })
  assert.equal((await client.request({ request_id: 'none' })).response_status, 405)
  const ends = only(events, 'action:asyncEnd')
  assert.deepEqual(ends.map((m) => [m.action, m.rawAction, m.requestId, m.status, m.detached]), [
    ['unknown', 'rm -rf', 'x', 405, false],
    ['fail', 'fail', 'y', 500, false],
    ['deny', 'deny', 'z', 403, false],
    ['later', 'later', 'd', 202, true],
    ['quiet', 'quiet', 'q', null, false],
    ['unknown', undefined, 'none', 405, false]
  ])
  const errorsSeen = only(events, 'action:error')
  assert.deepEqual(errorsSeen.map((m) => [m.action, m.error.message]), [
    ['unknown', 'Method "rm -rf" not allowed.'],
    ['fail', 'boom'],
    ['deny', 'You do not have permission to perform this action.']
  ])

  client.close()
  await until(() => only(events, 'connection:close').length === 1, 'the close is reported')
  const [close] = only(events, 'connection:close')
  assert.equal(close.route, '/ws/echo/')
  assert.equal(close.code, 1005)
  assert.equal(typeof close.durationMs, 'number')
  assert.ok(close.durationMs > 0)
})

test('a multiplexed stream is traced with its stream; its frames are counted on its route', async (t) => {
  const { app } = await build(t)
  app.dcrf.multiplex('/ws/multi/', { one: echo })
  const events = record(t)
  const client = await Client.open(app, '/ws/multi/')
  const answer = await client.request({ stream: 'one', payload: { action: 'echo', request_id: 1 } })
  assert.deepEqual(answer, { stream: 'one', payload: reply('echo', {}, 200, 1) })
  const [end] = only(events, 'action:asyncEnd')
  assert.deepEqual([end.route, end.stream, end.action, end.status], ['/ws/multi/', 'one', 'echo', 200])
  assert.equal(only(events, 'frame:in')[0].route, '/ws/multi/')
})

test('a refused handshake is reported with its status, and opens nothing', async (t) => {
  const { app } = await build(t)
  app.register(async (signedIn) => {
    signedIn.addHook('onRequest', async (_request, replyObject) => { await replyObject.code(401).send({ error: 'sign in' }) })
    signedIn.dcrf.consumer('/ws/private/', echo)
  })
  app.dcrf.consumer('/ws/closed/', defineConsumer({ ...echo, permissions: [{ canConnect: () => false }] }))
  const events = record(t)
  assert.equal(await Client.refused(app, '/ws/private/'), 401)
  assert.equal(await Client.refused(app, '/ws/closed/'), 403)
  await until(() => only(events, 'connection:refused').length === 2, 'both refusals are reported')
  assert.deepEqual(only(events, 'connection:refused').map((m) => [m.route, m.status]), [['/ws/private/', 401], ['/ws/closed/', 403]])
  assert.deepEqual(only(events, 'connection:open'), [])
  // A plain GET of the route (no upgrade) is no refused handshake.
  const plain = await app.inject({ method: 'GET', url: '/ws/closed/' })
  assert.equal(plain.statusCode, 404)
  assert.equal(only(events, 'connection:refused').length, 2)
})

test('a client that stops reading: the slow-client close is reported, then its close with 1013', async (t) => {
  const { app } = await build(t, { maxBufferedBytes: 256 * 1024 })
  app.dcrf.consumer('/ws/feed/', defineConsumer({
    actions: { join: async (ctx) => { await ctx.addGroup('feed'); return { status: 201 } } },
    groupHandlers: { news: (ctx, message) => ctx.send({ n: message.n, body: message.body }) }
  }))
  const events = record(t)
  const stuck = await Client.open(app, '/ws/feed/')
  await stuck.request({ action: 'join' })
  stuck.ws.pause()
  const body = 'x'.repeat(16 * 1024)
  for (let n = 0; n < 400 && only(events, 'socket:slow-close').length === 0; n++) {
    await app.dcrf.groupSend('feed', { type: 'news', n, body })
    if (n % 50 === 0) await sleep(5)
  }
  await until(() => only(events, 'socket:slow-close').length === 1, 'the slow client is reported')
  const [slow] = only(events, 'socket:slow-close')
  assert.equal(slow.route, '/ws/feed/')
  assert.equal(slow.maxBufferedBytes, 256 * 1024)
  assert.ok(slow.bufferedAmount > 256 * 1024)
  stuck.ws.resume()
  await stuck.closed
  await until(() => only(events, 'connection:close').length === 1, 'the close is reported')
  assert.equal(only(events, 'connection:close')[0].code, 1013)
  assert.deepEqual(only(events, 'channel-layer:state').map((m) => [m.state, m.groups]), [['up', 1], ['up', 0]])
})

test('throttled and oversized frames are reported', async (t) => {
  const { app } = await build(t, { rateLimit: { max: 1, timeWindow: 60_000 }, maxFrameSize: 1024 })
  app.dcrf.consumer('/ws/echo/', echo)
  const events = record(t)
  const client = await Client.open(app, '/ws/echo/')
  await client.request({ action: 'echo', request_id: 1 })
  assert.equal((await client.request({ action: 'echo', request_id: 2 })).response_status, 429)
  assert.deepEqual(only(events, 'socket:throttled'), [{ route: '/ws/echo/', stream: null, limit: 'rate' }])
  client.sendText('x'.repeat(2000))
  assert.equal((await client.closed).code, 1009)
  assert.deepEqual(only(events, 'socket:too-big'), [{ route: '/ws/echo/', bytes: null, maxFrameSize: 1024 }])
})

const notes = pgTable('notes', { id: serial('id').primaryKey(), body: text('body') })

test('an observer fan-out: one publish per group, one delivery per subscribed connection, with its latency', async (t) => {
  const { db } = await backends[0]!.create(t, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)')
  const { app } = await build(t, { db })
  app.dcrf.consumer('/ws/notes/', defineConsumer({
    observers: { changes: modelObserver(notes, { serialize: (row) => ({ id: row.id, body: row.body }) }) },
    actions: {
      watch: action({
        async handler (ctx, _args, { requestId }) {
          await ctx.observer('changes').subscribe({ requestId })
          return { status: 201 }
        }
      })
    }
  }))
  app.dcrf.consumer('/ws/note/', defineConsumer({ table: notes, actions: { ...instanceSubscriptions() } }))
  const events = record(t)
  const first = await Client.open(app, '/ws/notes/')
  const second = await Client.open(app, '/ws/notes/')
  await first.request({ action: 'watch', request_id: 'a' })
  await first.request({ action: 'watch', request_id: 'b' })
  await second.request({ action: 'watch', request_id: 'c' })
  assert.deepEqual(only(events, 'subscription').map((m) => [m.route, m.delta]), [['/ws/notes/', 1], ['/ws/notes/', 1], ['/ws/notes/', 1]])

  await app.dcrf.db.insert(notes).values({ body: 'hello' })
  assert.deepEqual(await first.next(), reply('create', { id: 1, body: 'hello' }, 200, 'a'))
  assert.deepEqual(await first.next(), reply('create', { id: 1, body: 'hello' }, 200, 'b'))
  assert.deepEqual(await second.next(), reply('create', { id: 1, body: 'hello' }, 200, 'c'))
  assert.deepEqual(only(events, 'observer:publish'), [{ observer: 'notes.changes', group: '*', action: 'create' }])
  const deliveries = only(events, 'observer:deliver')
  assert.deepEqual(deliveries.map((m) => [m.route, m.stream, m.observer, m.group, m.action, m.frames]), [
    ['/ws/notes/', null, 'notes.changes', '*', 'create', 2],
    ['/ws/notes/', null, 'notes.changes', '*', 'create', 1]
  ])
  for (const delivery of deliveries) {
    assert.equal(typeof delivery.latencyMs, 'number')
    assert.ok(delivery.latencyMs >= 0 && delivery.latencyMs < 5000)
  }

  first.close()
  await until(() => only(events, 'subscription').length === 4, 'the closing connection drops its subscriptions')
  assert.deepEqual(only(events, 'subscription').at(-1), { route: '/ws/notes/', delta: -2 })

  // Instance subscriptions: reported as the observer `<table>.instance`, the row's key as the group.
  const watcher = await Client.open(app, '/ws/note/')
  assert.equal((await watcher.request({ action: 'subscribe_instance', pk: 1, request_id: 'i' })).response_status, 201)
  events.length = 0
  await app.dcrf.db.update(notes).set({ body: 'edited' }).where(eq(notes.id, 1))
  assert.equal((await watcher.next()).action, 'update')
  await app.dcrf.db.delete(notes).where(eq(notes.id, 1))
  assert.equal((await watcher.next()).action, 'delete')
  const instance = only(events, 'observer:deliver').filter((m) => m.route === '/ws/note/')
  assert.deepEqual(instance.map((m) => [m.observer, m.group, m.action, m.frames]), [['notes.instance', '1', 'update', 1], ['notes.instance', '1', 'delete', 1]])
  assert.ok(instance.every((m) => m.latencyMs >= 0 && m.latencyMs < 5000))
})

test('the tracing channel runs the action inside the stores bound to its start', async (t) => {
  const { app } = await build(t)
  const { AsyncLocalStorage } = await import('node:async_hooks')
  const store = new AsyncLocalStorage<string>()
  const seen: Array<string | undefined> = []
  app.dcrf.consumer('/ws/echo/', defineConsumer({
    actions: {
      work: async () => {
        seen.push(store.getStore())
        await sleep(1)
        seen.push(store.getStore())
        return { data: 'ok' }
      }
    }
  }))
  const tracing = dc.tracingChannel<unknown, ActionTraceContext>(channelNames.action)
  tracing.start.bindStore(store, (trace) => `span of ${trace.action} ${String(trace.requestId)}`)
  t.after(() => tracing.start.unbindStore(store))
  const client = await Client.open(app, '/ws/echo/')
  assert.deepEqual(await client.request({ action: 'work', request_id: 3 }), reply('work', 'ok', 200, 3))
  assert.deepEqual(seen, ['span of work 3', 'span of work 3'])
})

test('the channel layer going down and up is reported, with its number of groups', {
  skip: RedisServer.available() ? false : 'redis-server is not installed',
  timeout: 60_000
}, async (t) => {
  const redis = new RedisServer(await sparePort())
  await redis.start()
  t.after(() => redis.stop())
  const { app } = await build(t, { channelLayer: { redis: redis.url, closeTimeout: 500, subscribeTimeout: 200 } })
  app.dcrf.consumer('/ws/', defineConsumer({ actions: { join: async (ctx, { room }) => { await ctx.addGroup(String(room)); return { status: 201 } } } }))
  const events = record(t)
  const client = await Client.open(app, '/ws/')
  await client.request({ action: 'join', room: 'a' })
  await client.request({ action: 'join', room: 'b' })
  await redis.stop()
  await until(() => only(events, 'channel-layer:state').some((m) => m.state === 'down'), 'the outage is reported')
  await redis.start()
  const recovered = (): boolean => {
    const states = only(events, 'channel-layer:state')
    const down = states.findIndex((m) => m.state === 'down')
    return down >= 0 && states.slice(down + 1).some((m) => m.state === 'up')
  }
  await until(recovered, 'the recovery is reported')
  const states = only(events, 'channel-layer:state')
  assert.deepEqual(states.slice(0, 2).map((m) => [m.state, m.groups]), [['up', 1], ['up', 2]])
  assert.equal(states[2].state, 'down')
  assert.equal(states[2].groups, 2)
  assert.ok(states[2].error instanceof Error)
  assert.deepEqual([states.at(-1).state, states.at(-1).groups], ['up', 2])
})

test('paused reading and the detached-action limit are reported', async (t) => {
  const { app } = await build(t, { maxQueuedFrames: 4, maxDetachedActions: 1 })
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  app.dcrf.consumer('/ws/work/', defineConsumer({
    actions: {
      slow: async (_ctx, { n }) => { await sleep(1); return { data: n } },
      hold: action({ detached: true, handler: async () => { await held; return { data: 'released' } } })
    }
  }))
  const events = record(t)
  const client = await Client.open(app, '/ws/work/')
  for (let n = 0; n < 20; n++) client.send({ action: 'slow', n, request_id: n })
  for (let n = 0; n < 20; n++) assert.equal((await client.next()).data, n)
  const pauses = only(events, 'socket:paused')
  assert.ok(pauses.length >= 2, 'reading paused and resumed')
  assert.deepEqual(pauses.slice(0, 2), [{ route: '/ws/work/', paused: true }, { route: '/ws/work/', paused: false }])
  assert.equal(pauses.at(-1).paused, false, 'and reads again at the end')

  client.send({ action: 'hold', request_id: 'h1' })
  assert.equal((await client.request({ action: 'hold', request_id: 'h2' })).response_status, 429)
  assert.deepEqual(only(events, 'socket:throttled'), [{ route: '/ws/work/', stream: null, limit: 'detached' }])
  release()
  assert.deepEqual(await client.next(), reply('hold', 'released', 200, 'h1'))
})
