/**
 * fastify-dcrf/client against a real server on a loopback port, with real consumers on the test
 * databases. A spying `WebSocket` (the `ws` package, as Node 20 has no global one) records every
 * frame in both directions, so that the tests assert what went over the wire.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { defineConsumer, defineStreams, paginatedList, serializer, streamedList, type Database } from 'fastify-dcrf'
import { connect, ConnectionLostError, DcrfError, type ConnectionState, type ConnectOptions } from 'fastify-dcrf/client'
import { backends } from './db.js'
import { build, sleep, urlOf } from './helpers.js'

const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull(),
  email: text('email').notNull()
})
const userSerializer = serializer(users, { fields: ['id', 'username', 'email'] })

const DDL = `create table users (id serial primary key, username text not null, email text not null);
insert into users (username, email) values ('ada', 'ada@example.com'), ('bob', 'bob@example.com'), ('cy', 'cy@example.com'), ('di', 'di@example.com'), ('ed', 'ed@example.com')`

const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  observers: ({ modelObserver, observer }) => ({
    activity: modelObserver(users, { serialize: (row) => ({ id: row.id, username: row.username }) }),
    notes: observer('note', { serialize: (payload: { text: string }) => payload })
  }),
  actions: ({ action, crud, instanceSubscriptions }) => ({
    ...crud(),
    ...instanceSubscriptions(),
    echo: action({ schema: Type.Object({ text: Type.String() }), handler: (_ctx, { text }) => ({ data: { text } }) }),
    later: action({
      schema: Type.Object({ ms: Type.Integer(), text: Type.String() }),
      handler: async (_ctx, { ms, text }) => { await sleep(ms); return { data: text } }
    }),
    // Returns nothing, so it never replies.
    silent: () => undefined,
    bye: action({ schema: Type.Object({ code: Type.Integer() }), handler: (ctx, { code }) => { ctx.close(code) } }),
    subscribe_activity: action({
      subscribes: 'activity',
      async handler (ctx, _args, { requestId }) {
        await ctx.observer('activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
    unsubscribe_activity: async (ctx, _args, { requestId }) => {
      await ctx.observer('activity').unsubscribe({ requestId })
      return { status: 204 }
    },
    subscribe_notes: action({
      subscribes: 'notes',
      async handler (ctx, _args, { requestId }) {
        await ctx.observer('notes').subscribe({ requestId })
        return { status: 201 }
      }
    })
  })
})

const streams = defineStreams({
  users: userConsumer,
  streamed: defineConsumer({ table: users, serializer: userSerializer, actions: { ...streamedList({ limit: 1, delay: 100 }) } }),
  paged: defineConsumer({ table: users, serializer: userSerializer, actions: { ...paginatedList({ limit: 2 }) } })
})

/** The frames a client's sockets sent and received, parsed, and how many sockets it opened. */
interface Wire { out: any[], in: any[], sockets: number }

function spy (): { wire: Wire, WebSocket: ConnectOptions['WebSocket'] } {
  const wire: Wire = { out: [], in: [], sockets: 0 }
  class Spy extends WebSocket {
    constructor (url: string) {
      super(url)
      wire.sockets++
      this.on('message', (data) => wire.in.push(JSON.parse(String(data))))
    }

    override send (data: any, ...rest: any[]): void {
      wire.out.push(JSON.parse(data))
      super.send(data, ...rest)
    }
  }
  return { wire, WebSocket: Spy }
}

/** Resolves once `check()` holds; fails after 10 s. */
async function until (check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return
    await sleep(20)
  }
  assert.fail(`${what} did not happen`)
}

/** Clients of each test, closed before its app (which would otherwise see them reconnect while it closes). */
const clients = new WeakMap<TestContext, Array<{ close: () => void }>>()

function closing<T extends { close: () => void }> (t: TestContext, client: T): T {
  clients.get(t)!.push(client)
  return client
}

async function server (t: TestContext, backend = backends[0]): Promise<{ app: FastifyInstance, attempts: () => number }> {
  if (!clients.has(t)) {
    clients.set(t, [])
    t.after(() => { for (const client of clients.get(t)!) client.close() })
  }
  const { db } = await backend.create(t, DDL)
  const { app } = await build(t, { db: db as Database })
  let attempts = 0
  app.dcrf.consumer('/ws/users/', userConsumer)
  app.dcrf.multiplex('/ws', streams)
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (_request, reply) => { attempts++; await reply.code(401).send({ error: 'sign in' }) })
    scope.dcrf.consumer('/ws/private/', userConsumer)
  })
  return { app, attempts: () => attempts }
}

async function users$ (t: TestContext, options: ConnectOptions = {}, backend = backends[0]) {
  const { app, attempts } = await server(t, backend)
  const { wire, WebSocket } = spy()
  const states: ConnectionState[] = []
  const client = closing(t, connect<typeof userConsumer>(await urlOf(app, '/ws/users/'), { WebSocket, onState: (s) => states.push(s), ...options }))
  return { app, client, wire, states, attempts }
}

function terminateAll (app: FastifyInstance): void {
  for (const socket of app.websocketServer.clients) socket.terminate()
}

for (const backend of backends) {
  test(`${backend.name}: every call kind resolves with the reply's data`, async (t) => {
    const { client, wire, states } = await users$(t, {}, backend)
    assert.equal(client.state, 'connecting')
    assert.deepEqual((await client.list()).map((u) => u.username), ['ada', 'bob', 'cy', 'di', 'ed'])
    assert.deepEqual(states, ['open'])
    assert.deepEqual(await client.retrieve({ pk: 1 }), { id: 1, username: 'ada', email: 'ada@example.com' })
    const created = await client.create({ data: { username: 'fay', email: 'fay@example.com' } })
    assert.deepEqual(created, { id: 6, username: 'fay', email: 'fay@example.com' })
    assert.deepEqual(await client.update({ pk: 6, data: { username: 'faye', email: 'faye@example.com' } }), { id: 6, username: 'faye', email: 'faye@example.com' })
    assert.deepEqual(await client.patch({ pk: 6, data: { email: 'f@example.com' } }), { id: 6, username: 'faye', email: 'f@example.com' })
    assert.equal(await client.delete({ pk: 6 }), null)
    assert.deepEqual(await client.echo({ text: 'hi' }), { text: 'hi' })
    assert.deepEqual(await client.$call('echo', { text: 'by name' }), { text: 'by name' })
    // What went out: DCRF frames, a new request id per call.
    assert.deepEqual(wire.out[1], { pk: 1, action: 'retrieve', request_id: 2 })
    assert.deepEqual(wire.out.map((f) => f.request_id), [1, 2, 3, 4, 5, 6, 7, 8])
    assert.deepEqual(wire.in[3], { errors: [], data: { id: 6, username: 'faye', email: 'faye@example.com' }, action: 'update', response_status: 200, request_id: 4 })
  })

  test(`${backend.name}: a multiplexed route, a typed consumer per stream`, async (t) => {
    const { app } = await server(t, backend)
    const { wire, WebSocket } = spy()
    const client = closing(t, connect<typeof streams>(await urlOf(app, '/ws'), { WebSocket }))
    assert.deepEqual(await client.stream('users').retrieve({ pk: 2 }), { id: 2, username: 'bob', email: 'bob@example.com' })
    assert.deepEqual(await client.stream('paged').list({ limit: 1, offset: 1 }), { count: 5, results: [{ id: 2, username: 'bob', email: 'bob@example.com' }], limit: 1, offset: 1 })
    assert.deepEqual(wire.out, [
      { stream: 'users', payload: { pk: 2, action: 'retrieve', request_id: 1 } },
      { stream: 'paged', payload: { limit: 1, offset: 1, action: 'list', request_id: 2 } }
    ])
    // An unknown stream answers 404 on that stream.
    const unknown = await (client.stream as (name: string) => any)('nope').list().catch((err: unknown) => err)
    assert.ok(unknown instanceof DcrfError)
    assert.equal(unknown.status, 404)
  })
}

test('a reply other than 2xx rejects with a DcrfError: status, errors, action, request id', async (t) => {
  const { client } = await users$(t)
  const missing = await client.retrieve({ pk: 999 }).catch((err: unknown) => err)
  assert.ok(missing instanceof DcrfError)
  assert.deepEqual({ ...missing, message: missing.message }, { name: 'DcrfError', status: 404, errors: ['Not found'], action: 'retrieve', requestId: 1, message: 'retrieve: 404 ["Not found"]' })
  const invalid = await client.create({ data: { username: 'x' } as any }).catch((err: unknown) => err)
  assert.ok(invalid instanceof DcrfError)
  assert.deepEqual([invalid.status, invalid.errors], [400, [{ email: ['This field is required.'] }]])
  const unknown = await (client.$call as (name: string) => Promise<unknown>)('nope').catch((err: unknown) => err)
  assert.ok(unknown instanceof DcrfError)
  assert.deepEqual([unknown.status, unknown.errors, unknown.requestId], [405, ['Method "nope" not allowed.'], 3])
})

test('timeouts: per call and by default; a reply after it is dropped', async (t) => {
  const { client, wire } = await users$(t, { timeout: 200 })
  await client.echo({ text: 'open' }, { timeout: 0 })
  const silent = await client.silent().catch((err: unknown) => err)
  assert.ok(silent instanceof DOMException)
  assert.equal(silent.name, 'TimeoutError')
  const late = await client.later({ ms: 300, text: 'late' }, { timeout: 50 }).catch((err: unknown) => err)
  assert.equal((late as Error).name, 'TimeoutError')
  // The late reply arrives first (the queue is ordered), and is not taken for this call's.
  assert.deepEqual(await client.echo({ text: 'next' }, { timeout: 2000 }), { text: 'next' })
  assert.deepEqual(wire.in.map((f) => [f.request_id, f.data]), [[1, { text: 'open' }], [3, 'late'], [4, { text: 'next' }]])
  assert.equal(client.state, 'open')
})

test('an AbortSignal per call: the call rejects with its reason, the reply is dropped', async (t) => {
  const { client, wire } = await users$(t)
  await client.echo({ text: 'open' })
  const controller = new AbortController()
  const call = client.later({ ms: 200, text: 'too late' }, { signal: controller.signal })
  setTimeout(() => controller.abort(), 20)
  const err = await call.catch((e: unknown) => e)
  assert.equal((err as Error).name, 'AbortError')
  await assert.rejects(client.echo({ text: 'x' }, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  assert.deepEqual(await client.echo({ text: 'after' }), { text: 'after' })
  // The aborted-before-sending call never went out.
  assert.deepEqual(wire.out.map((f) => f.action), ['echo', 'later', 'echo'])
})

test('a streamed list, page by page; leaving the loop sends list_cancel and no page follows', async (t) => {
  const { app } = await server(t)
  const { wire, WebSocket } = spy()
  const client = closing(t, connect<typeof streams>(await urlOf(app, '/ws'), { WebSocket }))
  const all = []
  for await (const page of client.stream('streamed').$stream('list')) all.push(...page.results.map((u) => u.id))
  assert.deepEqual(all, [1, 2, 3, 4, 5])

  const seen = []
  for await (const page of client.stream('streamed').$stream('list')) {
    seen.push(page.offset)
    if (seen.length === 2) break
  }
  assert.deepEqual(seen, [0, 1])
  await until(() => wire.in.some((f) => f.payload.action === 'list_cancel'), 'the reply to list_cancel')
  assert.deepEqual(wire.out.at(-1), { stream: 'streamed', payload: { action: 'list_cancel', request_id: 3 } })
  assert.deepEqual(wire.in.at(-1).payload, { errors: [], data: null, action: 'list_cancel', response_status: 200, request_id: 3 })
  const pages = wire.in.filter((f) => f.payload.request_id === 2).length
  await sleep(400)
  assert.equal(wire.in.filter((f) => f.payload.request_id === 2).length, pages, 'no page after list_cancel')
  assert.ok(pages < 5)

  // Aborting cancels as well.
  const controller = new AbortController()
  const iterator = client.stream('streamed').$stream('list', {}, { signal: controller.signal })
  assert.equal((await iterator.next()).value?.offset, 0)
  controller.abort()
  await assert.rejects(iterator.next(), { name: 'AbortError' })
  await until(() => wire.out.filter((f) => f.payload.action === 'list_cancel').length === 2, 'a second list_cancel')
})

test('$pages walks a paginated list', async (t) => {
  const { app } = await server(t)
  const client = closing(t, connect<typeof streams>(await urlOf(app, '/ws'), { WebSocket }))
  const offsets = []
  const ids = []
  for await (const page of client.stream('paged').$pages('list')) {
    offsets.push(page.offset)
    ids.push(...page.results.map((u) => u.id))
  }
  assert.deepEqual(offsets, [0, 2, 4])
  assert.deepEqual(ids, [1, 2, 3, 4, 5])
})

test('subscriptions: an instance, a model observer, an application event; unsubscribing one request id', async (t) => {
  const { app, client, wire } = await users$(t)
  const instance: unknown[] = []
  const one = await client.$subscribe('subscribe_instance', { pk: 1 }, { onEvent: (e) => instance.push(e) })
  const other = await client.$subscribe('subscribe_instance', { pk: 1 })
  const activity = await client.$subscribe('subscribe_activity', {}, { unsubscribe: 'unsubscribe_activity' })
  const notes = await client.$subscribe('subscribe_notes', {}, { unsubscribe: false })
  assert.deepEqual([one.requestId, other.requestId, activity.requestId, notes.requestId], [1, 2, 3, 4])

  await client.patch({ pk: 1, data: { username: 'ada2' } })
  await app.dcrf.signal('note', { text: 'hello' })
  const created = await client.create({ data: { username: 'gil', email: 'gil@example.com' } })
  await until(() => instance.length === 1, 'the instance event')
  assert.deepEqual(instance, [{ action: 'update', data: { id: 1, username: 'ada2', email: 'ada@example.com' } }])

  const events = activity[Symbol.asyncIterator]()
  assert.deepEqual((await events.next()).value, { action: 'update', data: { id: 1, username: 'ada2' } })
  assert.deepEqual((await events.next()).value, { action: 'create', data: { id: created.id, username: 'gil' } })
  const noteEvents = notes[Symbol.asyncIterator]()
  assert.deepEqual((await noteEvents.next()).value, { action: 'note', data: { text: 'hello' } })

  // Unsubscribing sends the unsubscribe action with the subscription's own request id; the other
  // subscription to the same row keeps receiving.
  await one.unsubscribe()
  assert.deepEqual(wire.out.at(-1), { pk: 1, action: 'unsubscribe_instance', request_id: 1 })
  await client.delete({ pk: 1 })
  const otherEvents = other[Symbol.asyncIterator]()
  assert.deepEqual((await otherEvents.next()).value, { action: 'update', data: { id: 1, username: 'ada2', email: 'ada@example.com' } })
  assert.deepEqual((await otherEvents.next()).value, { action: 'delete', data: { pk: 1 } })
  assert.equal(instance.length, 1)

  // Leaving a loop unsubscribes, with the subscription's request id.
  for await (const event of activity) {
    assert.deepEqual(event, { action: 'delete', data: { id: 1, username: 'ada2' } })
    if (event.action === 'delete') break
  }
  await until(() => wire.in.at(-1).action === 'unsubscribe_activity', 'the reply to the unsubscribe')
  assert.deepEqual(wire.out.at(-1), { action: 'unsubscribe_activity', request_id: 3 })
  assert.equal(wire.in.at(-1).response_status, 204)
  // And unsubscribing drops what was received and not read.
  await client.patch({ pk: 2, data: { username: 'bob2' } })
  await client.echo({ text: 'sync' })
  // ack, update, create, delete, the unsubscribe's reply
  assert.equal(wire.in.filter((f) => f.request_id === 3).length, 5)
})

test('the server terminates the sockets: the client reconnects, resubscribes with the same request ids, events flow once', async (t) => {
  const states: ConnectionState[] = []
  let queued: Promise<{ username: string }> | undefined
  const { app, client, wire } = await users$(t, {
    reconnect: { minDelay: 50 },
    onState: (state) => {
      states.push(state)
      // A call made while disconnected waits for the next socket.
      if (state === 'reconnecting') queued ??= client.retrieve({ pk: 3 })
    }
  })
  const events: Array<{ action: string, data: { id: number, username: string } }> = []
  const sub = await client.$subscribe('subscribe_activity', {}, { onEvent: (e) => events.push(e) })
  const row = await client.$subscribe('subscribe_instance', { pk: 2 })
  await client.patch({ pk: 2, data: { username: 'b1' } })
  await until(() => events.length === 1, 'the first event')

  terminateAll(app)
  await until(() => queued !== undefined, 'reconnecting')
  assert.deepEqual((await queued!).username, 'cy')
  assert.deepEqual(states, ['open', 'reconnecting', 'open'])
  assert.equal(wire.sockets, 2)
  const resent = wire.out.slice(-3)
  assert.deepEqual(resent, [
    { action: 'subscribe_activity', request_id: sub.requestId },
    { pk: 2, action: 'subscribe_instance', request_id: row.requestId },
    { pk: 3, action: 'retrieve', request_id: 4 }
  ])

  // The retrieve's reply came after both resubscriptions were served: later commits reach them.
  for (const name of ['b2', 'b3', 'b4']) await client.patch({ pk: 2, data: { username: name } })
  await until(() => events.length === 4, 'the events after the reconnect')
  assert.deepEqual(events.map((e) => e.data.username), ['b1', 'b2', 'b3', 'b4'])
  const rows = row[Symbol.asyncIterator]()
  for (const name of ['b1', 'b2', 'b3', 'b4']) assert.equal(((await rows.next()).value?.data as { username: string }).username, name)

  // Twice more, and still exactly once each.
  terminateAll(app)
  await until(() => states.length === 5, 'reconnecting again')
  assert.deepEqual(states, ['open', 'reconnecting', 'open', 'reconnecting', 'open'])
  await client.patch({ pk: 2, data: { username: 'b5' } })
  await until(() => events.length === 5, 'the event after the second reconnect')
  await sleep(100)
  assert.deepEqual(events.map((e) => e.data.username), ['b1', 'b2', 'b3', 'b4', 'b5'])
  // Request ids are unique over the client's life, across sockets.
  const ids = wire.out.filter((f) => !f.action.startsWith('subscribe')).map((f) => f.request_id)
  assert.equal(new Set(ids).size, ids.length)
})

test('calls in flight when the socket drops reject with ConnectionLostError, unless declared safe to retry', async (t) => {
  const { app, client } = await users$(t, { reconnect: { minDelay: 50 }, retry: ['retrieve'] })
  await client.retrieve({ pk: 1 })
  const lost = client.later({ ms: 300, text: 'lost' })
  // A read behind it in the queue: in flight too, and sent again on the next socket.
  const read = client.retrieve({ pk: 2 })
  await sleep(50)
  terminateAll(app)
  await assert.rejects(lost, (err: unknown) => err instanceof ConnectionLostError)
  assert.equal((await read).username, 'bob')
})

test('close codes: 1012 reconnects; 1000 and 4xxx do not', async (t) => {
  const { client, states } = await users$(t, { reconnect: { minDelay: 20 } })
  await client.echo({ text: 'open' })
  client.bye({ code: 1012 }).catch(() => {})
  await until(() => states.join() === 'open,reconnecting,open', 'the reconnect after 1012')
  const pending = client.bye({ code: 4403 }).catch((err: unknown) => err)
  await until(() => client.state === 'closed', 'closed after 4403')
  assert.ok(await pending instanceof ConnectionLostError)
  await assert.rejects(client.echo({ text: 'x' }), (err: unknown) => err instanceof ConnectionLostError)

  const second = await users$(t, { reconnect: { minDelay: 20 } })
  second.client.bye({ code: 1000 }).catch(() => {})
  await until(() => second.client.state === 'closed', 'closed after 1000')
  await sleep(100)
  assert.deepEqual(second.states, ['open', 'closed'])
  assert.equal(second.wire.sockets, 1)
})

test('a refused handshake stops after its attempts; calls waiting reject', async (t) => {
  const { app, attempts } = await server(t)
  const { wire, WebSocket } = spy()
  const states: ConnectionState[] = []
  const client = closing(t, connect<typeof userConsumer>(await urlOf(app, '/ws/private/'), { WebSocket, reconnect: { retries: 2, minDelay: 10 }, onState: (s) => states.push(s) }))
  const call = client.retrieve({ pk: 1 }).catch((err: unknown) => err)
  await until(() => client.state === 'closed', 'giving up')
  assert.equal(attempts(), 3)
  assert.equal(wire.sockets, 3)
  assert.deepEqual(states, ['reconnecting', 'closed'])
  const err = await call
  assert.ok(err instanceof ConnectionLostError)
  assert.equal(err.message, 'The connection failed')
  assert.deepEqual(wire.out, [])
})

test('close(): state closed, calls waiting reject, subscriptions end, no reconnect', async (t) => {
  const { client, wire } = await users$(t)
  const sub = await client.$subscribe('subscribe_instance', { pk: 1 })
  const pending = client.silent().catch((err: unknown) => err)
  const events = sub[Symbol.asyncIterator]()
  client.close()
  assert.equal(client.state, 'closed')
  assert.ok(await pending instanceof ConnectionLostError)
  await assert.rejects(events.next(), (err: unknown) => err instanceof ConnectionLostError)
  await sleep(100)
  assert.equal(wire.sockets, 1)
})
