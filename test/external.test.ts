import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { eq, sql } from 'drizzle-orm'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import {
  EXTERNAL_CHANGES_GAP,
  defineConsumer,
  externalChangesSql,
  installExternalChanges,
  instanceSubscriptions,
  modelObserver,
  observer,
  serializer,
  type Database,
  type DcrfOptions,
  type ExternalChangesGap
} from 'fastify-dcrf'
import { backends, type Backend } from './db.js'
import { build, Client, reply, sleep, type LogLines } from './helpers.js'

const rooms = pgTable('rooms', {
  id: serial('id').primaryKey(),
  name: text('name').notNull()
})
const messages = pgTable('messages', {
  id: serial('id').primaryKey(),
  roomId: integer('room_id').notNull().references(() => rooms.id, { onDelete: 'cascade' }),
  body: text('body').notNull()
})
const DDL = `
  create table rooms (id serial primary key, name text not null);
  create table messages (id serial primary key, room_id integer not null references rooms(id) on delete cascade, body text not null);
  insert into rooms (name) values ('one'), ('two');
`

const messageConsumer = defineConsumer({
  table: messages,
  observers: {
    activity: modelObserver(messages, {
      serialize: (row) => ({ id: row.id, body: row.body, room: row.roomId }),
      groupsForSignal: (row) => [`room__${row.roomId}`],
      groupsForConsumer: (_ctx, { room }) => [`room__${String(room)}`]
    }),
    gaps: observer<ExternalChangesGap>(EXTERNAL_CHANGES_GAP, { serialize: (gap) => ({ reason: gap.reason }) })
  },
  actions: {
    watch: async (ctx, { room }, { requestId }) => {
      await ctx.observer('activity').subscribe({ requestId, room })
      return { status: 201 }
    },
    watch_gaps: async (ctx, _args, { requestId }) => {
      await ctx.observer('gaps').subscribe({ requestId })
      return { status: 201 }
    },
    ping: () => ({ data: 'pong' })
  }
})

const roomConsumer = defineConsumer({
  table: rooms,
  serializer: serializer(rooms, { fields: ['id', 'name'] }),
  actions: { ...instanceSubscriptions(), ping: () => ({ data: 'pong' }) }
})

/** A connection of its own to the test's database, as psql or another service would use. */
interface Outside {
  run (text: string): Promise<unknown>
}

let channels = 0

/** The app, with `seed` (one statement) run before the triggers exist: its rows are no events. */
async function setup (t: TestContext, backend: Backend, extra: Partial<DcrfOptions> = {}, seed?: string) {
  const database = await backend.create(t, DDL)
  if (seed !== undefined) await database.exec(seed)
  // one channel per test: PostgreSQL tests share a server
  const externalChanges = { tables: [rooms, messages], channel: `dcrf_test_${process.pid}_${++channels}` }
  await installExternalChanges(database.db as Database, externalChanges)
  const { app, logs } = await build(t, { db: database.db as Database, externalChanges, ...extra })
  app.dcrf.consumer('/ws/messages/', messageConsumer)
  app.dcrf.consumer('/ws/rooms/', roomConsumer)
  const outside = await outsideOf(t, backend, database.exec)
  return { app, logs, db: app.dcrf.db, outside, exec: database.exec, externalChanges }
}

/** PostgreSQL: a second client. PGlite (one connection): raw SQL that bypasses `app.dcrf.db`. */
async function outsideOf (t: TestContext, backend: Backend, exec: (text: string) => Promise<unknown[]>): Promise<Outside> {
  if (backend.name === 'pglite') return { run: exec }
  const [{ schema }] = await exec('select current_schema() as schema') as Array<{ schema: string }>
  const client = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
  t.after(() => client.end({ timeout: 5 }))
  return { run: (text) => client.unsafe(text) }
}

function event (action: string, id: number, body: unknown, room: number, requestId: unknown) {
  return reply(action, { id, body, room }, 200, requestId)
}

async function nothingElse (client: Client): Promise<void> {
  // long enough for a notification that should not come to arrive and be handled
  await sleep(100)
  assert.deepEqual(await client.request({ action: 'ping', request_id: 'barrier' }), reply('ping', 'pong', 200, 'barrier'))
}

async function watcher (app: Awaited<ReturnType<typeof setup>>['app'], room: number, requestId: string): Promise<Client> {
  const client = await Client.open(app, '/ws/messages/')
  assert.deepEqual(await client.request({ action: 'watch', room, request_id: requestId }), reply('watch', null, 201, requestId))
  return client
}

for (const backend of backends) {
  test(`[${backend.name}] inserts, updates and deletes made outside the app reach model observers with the same frames`, async (t) => {
    const { app, db, outside } = await setup(t, backend)
    const room1 = await watcher(app, 1, 'r1')
    await outside.run("insert into messages (room_id, body) values (1, 'from psql')")
    assert.deepEqual(await room1.next(), event('create', 1, 'from psql', 1, 'r1'))
    await outside.run("update messages set body = 'edited in psql' where id = 1")
    assert.deepEqual(await room1.next(), event('update', 1, 'edited in psql', 1, 'r1'))
    await outside.run('delete from messages where id = 1')
    assert.deepEqual(await room1.next(), event('delete', 1, 'edited in psql', 1, 'r1'))

    // the same writes through app.dcrf.db give the same frames
    const [row] = await db.insert(messages).values({ roomId: 1, body: 'from psql' }).returning()
    assert.deepEqual(await room1.next(), event('create', row.id, 'from psql', 1, 'r1'))
    await db.update(messages).set({ body: 'edited in psql' }).where(eq(messages.id, row.id))
    assert.deepEqual(await room1.next(), event('update', row.id, 'edited in psql', 1, 'r1'))
    await db.delete(messages).where(eq(messages.id, row.id))
    assert.deepEqual(await room1.next(), event('delete', row.id, 'edited in psql', 1, 'r1'))
    await nothingElse(room1)
  })

  test(`[${backend.name}] instance subscribers hear of updates and deletes made outside the app`, async (t) => {
    const { app, outside } = await setup(t, backend)
    const client = await Client.open(app, '/ws/rooms/')
    assert.deepEqual(await client.request({ action: 'subscribe_instance', pk: 2, request_id: 's' }), reply('subscribe_instance', null, 201, 's'))
    await outside.run("update rooms set name = 'renamed' where id = 2")
    assert.deepEqual(await client.next(), reply('update', { id: 2, name: 'renamed' }, 200, 's'))
    await outside.run('delete from rooms where id = 2')
    assert.deepEqual(await client.next(), reply('delete', { pk: 2 }, 204, 's'))
    await nothingElse(client)
  })

  test(`[${backend.name}] a cascade delete reaches the observers of the cascaded table`, async (t) => {
    const { app, db, outside } = await setup(t, backend, {}, "insert into messages (room_id, body) values (1, 'a'), (1, 'b'), (2, 'c')")
    const room1 = await watcher(app, 1, 'r1')
    const room2 = await watcher(app, 2, 'r2')
    const roomPage = await Client.open(app, '/ws/rooms/')
    await roomPage.request({ action: 'subscribe_instance', pk: 1, request_id: 'room' })
    // deleted through the app: the room's own event is captured, its messages' come from the trigger
    await db.delete(rooms).where(eq(rooms.id, 1))
    assert.deepEqual(await roomPage.next(), reply('delete', { pk: 1 }, 204, 'room'))
    const deletes = [await room1.next(), await room1.next()].sort((x, y) => x.data.id - y.data.id)
    assert.deepEqual(deletes, [event('delete', 1, 'a', 1, 'r1'), event('delete', 2, 'b', 1, 'r1')])
    await nothingElse(roomPage)
    await nothingElse(room1)
    await nothingElse(room2)
    // and through another connection, cascade and all
    await outside.run('delete from rooms where id = 2')
    assert.deepEqual(await room2.next(), event('delete', 3, 'c', 2, 'r2'))
    await nothingElse(room2)
  })

  test(`[${backend.name}] a write through app.dcrf.db is one event; raw SQL in the same transaction is reported`, async (t) => {
    const { app, db } = await setup(t, backend, {}, "insert into messages (room_id, body) values (1, 'a'), (1, 'b')")
    const room1 = await watcher(app, 1, 'r1')
    await db.update(messages).set({ body: 'captured' }).where(eq(messages.id, 1))
    assert.deepEqual(await room1.next(), event('update', 1, 'captured', 1, 'r1'))
    await nothingElse(room1)
    await db.transaction(async (tx) => {
      await tx.update(messages).set({ body: 'captured in tx' }).where(eq(messages.id, 1))
      await tx.execute(sql`update messages set body = 'raw in tx' where id = 2`)
    })
    const frames = [await room1.next(), await room1.next()].sort((x, y) => x.data.id - y.data.id)
    assert.deepEqual(frames, [event('update', 1, 'captured in tx', 1, 'r1'), event('update', 2, 'raw in tx', 1, 'r1')])
    await nothingElse(room1)
  })

  test(`[${backend.name}] a row larger than the NOTIFY limit still writes, and still notifies by key`, async (t) => {
    const { app, outside, exec } = await setup(t, backend, {}, "insert into messages (room_id, body) values (1, 'small')")
    const room1 = await watcher(app, 1, 'r1')
    const big = 'x'.repeat(12_000)
    await outside.run(`update messages set body = '${big}' where id = 1`)
    const update = await room1.next()
    assert.ok(update.data.body === big, 'the update carries the whole row, read back')
    assert.deepEqual({ ...update, data: { ...update.data, body: 'big' } }, event('update', 1, 'big', 1, 'r1'))
    assert.deepEqual(await exec('select length(body) as length from messages'), [{ length: 12_000 }])
    // the previous row is too large to send whole: the delete keeps its small values (the groups)
    await outside.run('delete from messages where id = 1')
    assert.deepEqual(await room1.next(), event('delete', 1, null, 1, 'r1'))
    await nothingElse(room1)
  })

  test(`[${backend.name}] a group move made outside the app: delete from the previous row, create in the new group`, async (t) => {
    const { app, outside } = await setup(t, backend, {}, "insert into messages (room_id, body) values (1, 'before')")
    const room1 = await watcher(app, 1, 'r1')
    const room2 = await watcher(app, 2, 'r2')
    await outside.run("update messages set room_id = 2, body = 'after' where id = 1")
    assert.deepEqual(await room1.next(), event('delete', 1, 'before', 1, 'r1'))
    assert.deepEqual(await room2.next(), event('create', 1, 'after', 2, 'r2'))
    await nothingElse(room1)
    await nothingElse(room2)
  })

  test(`[${backend.name}] a bulk statement is a few notifications, and one event per row`, async (t) => {
    const { app, outside, exec, externalChanges } = await setup(t, backend)
    const room1 = await watcher(app, 1, 'r1')
    await outside.run("insert into messages (room_id, body) select 1, 'bulk ' || i from generate_series(1, 300) i")
    const ids = new Set<number>()
    for (let i = 0; i < 300; i++) {
      const frame = await room1.next()
      assert.equal(frame.action, 'create')
      ids.add(frame.data.id)
    }
    assert.equal(ids.size, 300)
    await nothingElse(room1)
    // what the trigger sends for the same statement, heard on a LISTEN of our own
    const heard: string[] = []
    const stop = await listenRaw(t, backend, app, externalChanges.channel, (payload) => heard.push(payload))
    await outside.run("update messages set body = body || '!'")
    for (let i = 0; i < 300; i++) assert.equal((await room1.next()).action, 'update')
    await stop()
    assert.ok(heard.length > 1 && heard.length < 20, `${heard.length} notifications`)
    assert.ok(heard.every((payload) => Buffer.byteLength(payload) < 8000))
    assert.deepEqual(await exec("select count(*)::int as n from messages where body like '%!'"), [{ n: 300 }])
  })

  test(`[${backend.name}] installing is idempotent, and the SQL text installs the same`, async (t) => {
    const { exec, externalChanges, db, app, outside } = await setup(t, backend)
    await installExternalChanges(db, externalChanges)
    const count = "select count(*)::int as n from pg_trigger where tgname like 'dcrf_changes_%' and tgrelid in ('rooms'::regclass, 'messages'::regclass)"
    assert.deepEqual(await exec(count), [{ n: 6 }])
    const script = `begin; ${externalChangesSql(externalChanges)} commit;`
    // a script of several statements: PGlite runs those with exec(), not query()
    if (backend.name === 'pglite') await (db as unknown as { $client: { exec: (text: string) => Promise<unknown> } }).$client.exec(script)
    else await exec(script)
    assert.deepEqual(await exec(count), [{ n: 6 }])
    const room1 = await watcher(app, 1, 'r1')
    await outside.run("insert into messages (room_id, body) values (1, 'still once')")
    assert.deepEqual(await room1.next(), event('create', 1, 'still once', 1, 'r1'))
    await nothingElse(room1)
  })
}

/** A second LISTEN on the channel: a postgres.js client, or PGlite's own. */
async function listenRaw (t: TestContext, backend: Backend, app: { dcrf: { db: Database } }, channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
  if (backend.name === 'pglite') {
    const client = (app.dcrf.db as unknown as { $client: { listen: (c: string, f: (p: string) => void) => Promise<() => Promise<void>> } }).$client
    return client.listen(channel, onNotify)
  }
  const client = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.after(() => client.end({ timeout: 5 }))
  const { unlisten } = await client.listen(channel, onNotify)
  return async () => { await sleep(100); await unlisten() }
}

test('options: tables without a primary key and bad channels fail the boot', async (t) => {
  const database = await backends[0].create(t, 'create table logs (line text)')
  const logs = pgTable('logs', { line: text('line') })
  const db = database.db as Database
  await assert.rejects(build(t, { db, externalChanges: { tables: [logs] } }), { code: 'DCRF_ERR_INVALID_OPTION', message: /externalChanges\.tables: table logs has no primary key/ })
  await assert.rejects(build(t, { db, externalChanges: { tables: [] } }), { code: 'DCRF_ERR_INVALID_OPTION', message: /externalChanges\.tables/ })
  await assert.rejects(build(t, { db, externalChanges: { tables: [rooms], channel: 'Bad-Name' } }), { code: 'DCRF_ERR_INVALID_OPTION', message: /externalChanges\.channel/ })
  await assert.rejects(build(t, { externalChanges: { tables: [rooms] } }), { code: 'DCRF_ERR_INVALID_OPTION', message: /needs the db option/ })
  await assert.rejects(installExternalChanges(db, { tables: [logs] }), { code: 'DCRF_ERR_INVALID_OPTION' })
})

const postgresBackend = backends.find((backend) => backend.name === 'postgres')

test('two processes sharing Redis: each change made outside reaches each subscriber once', { skip: postgresBackend && process.env.REDIS_URL ? false : 'needs DATABASE_URL and REDIS_URL' }, async (t) => {
  const redis = { channelLayer: { redis: process.env.REDIS_URL } }
  const first = await setup(t, postgresBackend!, redis)
  // the second process: its own clients, the same database and Redis
  const [{ schema }] = await first.exec('select current_schema() as schema') as Array<{ schema: string }>
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const client = postgres(process.env.DATABASE_URL!, { max: 2, onnotice: () => {}, connection: { search_path: schema } })
  t.after(() => client.end({ timeout: 5 }))
  const second = await build(t, { db: drizzle(client) as unknown as Database, externalChanges: first.externalChanges, ...redis })
  second.app.dcrf.consumer('/ws/messages/', messageConsumer)

  const a = await watcher(first.app, 1, 'a')
  const b = await watcher(second.app, 1, 'b')
  await first.outside.run("insert into messages (room_id, body) values (1, 'outside')")
  assert.deepEqual(await a.next(), event('create', 1, 'outside', 1, 'a'))
  assert.deepEqual(await b.next(), event('create', 1, 'outside', 1, 'b'))
  // a captured write in one process: through Redis, once, to both
  await second.app.dcrf.db.update(messages).set({ body: 'captured' }).where(eq(messages.id, 1))
  assert.deepEqual(await a.next(), event('update', 1, 'captured', 1, 'a'))
  assert.deepEqual(await b.next(), event('update', 1, 'captured', 1, 'b'))
  await nothingElse(a)
  await nothingElse(b)
})

test('apps in two schemas of one database, on one channel: each hears only the changes of its own tables', { skip: postgresBackend ? false : 'DATABASE_URL is not set' }, async (t) => {
  const channel = { channel: `dcrf_test_${process.pid}_shared` }
  const one = await setup(t, postgresBackend!, {})
  const two = await setup(t, postgresBackend!, {})
  for (const context of [one, two]) {
    await installExternalChanges(context.app.dcrf.db, { ...context.externalChanges, ...channel })
  }
  const first = await build(t, { db: one.app.dcrf.db, externalChanges: { ...one.externalChanges, ...channel } })
  const second = await build(t, { db: two.app.dcrf.db, externalChanges: { ...two.externalChanges, ...channel } })
  first.app.dcrf.consumer('/ws/messages/', messageConsumer)
  second.app.dcrf.consumer('/ws/messages/', messageConsumer)
  const a = await watcher(first.app, 1, 'a')
  const b = await watcher(second.app, 1, 'b')
  // the same table name, the same key, another schema: another row
  await one.outside.run("insert into messages (room_id, body) values (1, 'in one')")
  assert.deepEqual(await a.next(), event('create', 1, 'in one', 1, 'a'))
  await two.outside.run("insert into messages (room_id, body) values (1, 'in two')")
  assert.deepEqual(await b.next(), event('create', 1, 'in two', 1, 'b'))
  await nothingElse(a)
  await nothingElse(b)
})

test('the LISTEN connection killed and restored: the gap is reported, and changes flow again', { skip: postgresBackend ? false : 'DATABASE_URL is not set' }, async (t) => {
  const gaps: ExternalChangesGap[] = []
  const context = await setup(t, postgresBackend!)
  const { outside, externalChanges } = context
  // a second registration with onGap, on its own client, so that killing its LISTEN is all we do
  const [{ schema }] = await context.exec('select current_schema() as schema') as Array<{ schema: string }>
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const client = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {}, connection: { search_path: schema, application_name: 'dcrf_gap_test' } })
  t.after(() => client.end({ timeout: 5 }))
  const other = await build(t, { db: drizzle(client) as unknown as Database, externalChanges: { ...externalChanges, onGap: (gap) => gaps.push(gap) } })
  other.app.dcrf.consumer('/ws/messages/', messageConsumer)

  const room1 = await watcher(other.app, 1, 'r1')
  assert.deepEqual(await room1.request({ action: 'watch_gaps', request_id: 'gaps' }), reply('watch_gaps', null, 201, 'gaps'))
  await outside.run("insert into messages (room_id, body) values (1, 'before')")
  assert.deepEqual(await room1.next(), event('create', 1, 'before', 1, 'r1'))

  const killed = await outside.run("select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = 'dcrf_gap_test' and query ilike 'listen%'") as Array<{ done: boolean }>
  assert.deepEqual([...killed], [{ done: true }])
  // the subscriber is told, and so is the application
  assert.deepEqual(await room1.next(), reply(EXTERNAL_CHANGES_GAP, { reason: 'reconnected' }, 200, 'gaps'))
  assert.equal(gaps.length, 1)
  assert.equal(gaps[0].reason, 'reconnected')
  assert.ok(gaps[0].since instanceof Date)
  assert.ok(warned(other.logs, /LISTEN connection restored/))

  await outside.run("insert into messages (room_id, body) values (1, 'after')")
  assert.deepEqual(await room1.next(), event('create', 2, 'after', 1, 'r1'))
  await nothingElse(room1)
})

function warned (logs: LogLines, pattern: RegExp): boolean {
  return logs.some((line) => line.level === 40 && pattern.test(line.msg))
}

test('the example on PGlite: psql through the served port changes a row, and a cascaded room deletion reaches the room page', async (t) => {
  const { buildApp } = await import('../example/app.js')
  const app = await buildApp({ pgliteSocketPort: 0 })
  t.after(() => app.close())
  assert.match(app.pgliteUrl!, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
  const login = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'test2', password: 'password2' } })
  const { token } = login.json()
  const users = await Client.open(app, '/ws/users/')
  assert.deepEqual(await users.request({ action: 'subscribe_instance', pk: 3, request_id: 'u' }), reply('subscribe_instance', null, 201, 'u'))
  const room = await Client.open(app, `/ws/chat/room/?token=${token}`)
  assert.deepEqual(await room.request({ action: 'subscribe_instance', pk: 1, request_id: 'instance' }), reply('subscribe_instance', null, 201, 'instance'))

  // a client of its own on the served port, as psql is
  const psql = postgres(app.pgliteUrl!, { max: 1, onnotice: () => {} })
  t.after(() => psql.end({ timeout: 5 }))
  await psql.unsafe("update users set email = 'psql@example.com' where id = 3")
  assert.deepEqual(await users.next(), reply('update', { id: 3, username: 'test3', email: 'psql@example.com' }, 200, 'u'))
  // the room's host deleted: the room goes with it (ON DELETE CASCADE), and its page hears of it
  await psql.unsafe("delete from users where username = 'test1'")
  assert.deepEqual(await room.next(), reply('delete', { pk: 1 }, 204, 'instance'))
})

test('a listener of its own: LISTEN on another client (a direct URL, when the pool goes through PgBouncer)', { skip: postgresBackend ? false : 'DATABASE_URL is not set' }, async (t) => {
  const context = await setup(t, postgresBackend!)
  const [{ schema }] = await context.exec('select current_schema() as schema') as Array<{ schema: string }>
  const direct = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {}, connection: { search_path: schema, application_name: 'dcrf_direct_listener' } })
  t.after(() => direct.end({ timeout: 5 }))
  const other = await build(t, { db: context.app.dcrf.db, externalChanges: { ...context.externalChanges, listener: direct } })
  other.app.dcrf.consumer('/ws/messages/', messageConsumer)
  const listening = await context.exec("select count(*)::int as n from pg_stat_activity where application_name = 'dcrf_direct_listener' and query ilike 'listen%'")
  assert.deepEqual(listening, [{ n: 1 }])
  const room1 = await watcher(other.app, 1, 'r1')
  await context.outside.run("insert into messages (room_id, body) values (1, 'heard on the direct client')")
  assert.deepEqual(await room1.next(), event('create', 1, 'heard on the direct client', 1, 'r1'))
  await nothingElse(room1)
})
