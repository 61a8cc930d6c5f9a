import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { eq, like } from 'drizzle-orm'
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import { Type } from '@sinclair/typebox'
import { action, crud, defineConsumer, mixins, notFound, paginatedList, serializer, streamedList, validationError, type Database } from 'fastify-dcrf'
import { backends, type Backend } from './db.js'
import { build, Client, reply } from './helpers.js'

const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  email: text('email').notNull().default(''),
  password: text('password').notNull()
})
const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  userId: integer('user_id').notNull().references(() => users.id),
  date: timestamp('date', { withTimezone: true }).notNull().defaultNow()
})
const DDL = `
  create table users (id serial primary key, username text not null unique, email text not null default '', password text not null);
  create table comments (id serial primary key, text text not null, user_id integer not null references users(id), date timestamptz not null default now());
`

const userSerializer = serializer(users, { fields: ['id', 'username', 'email', 'password'], writeOnly: ['password'] })

async function setup (t: TestContext, backend: Backend, options: { atomicRequests?: boolean } = {}) {
  const { db } = await backend.create(t, DDL)
  const { app, logs } = await build(t, { db: db as Database, ...options })
  await app.dcrf.db.insert(users).values([
    { username: 'test1', email: '42@example.com', password: 'x' },
    { username: 'test2', email: '45@example.com', password: 'y' },
    { username: 'test3', email: '47@example.com', password: 'z' }
  ])
  return { app, logs, db: app.dcrf.db }
}

const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: {
    ...crud(),
    send_email: action({
      schema: Type.Object({ pk: Type.Unknown(), to: Type.String({ format: 'email' }) }),
      async handler (ctx, { pk, to }) {
        const user = await ctx.getObject(pk)
        return { data: { sent: `${user.username} → ${to}` }, status: 200 }
      }
    }),
    publish: (ctx, args) => ctx.getObject(args).then((user) => ({ data: { pk: user.id } }))
  }
})

for (const backend of backends) {
  test(`[${backend.name}] the six CRUD actions answer DCRF's frames`, async (t) => {
    const { app, db } = await setup(t, backend)
    app.dcrf.consumer('/ws/', userConsumer)
    const client = await Client.open(app, '/ws/')

    assert.deepEqual(await client.request({ action: 'list', request_id: 1 }), reply('list', [
      { id: 1, username: 'test1', email: '42@example.com' },
      { id: 2, username: 'test2', email: '45@example.com' },
      { id: 3, username: 'test3', email: '47@example.com' }
    ], 200, 1))
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 2, pk: 1 }), reply('retrieve', { id: 1, username: 'test1', email: '42@example.com' }, 200, 2))
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 3, data: { username: 'test', email: 't@example.com', password: 'testpassword123' } }),
      reply('create', { id: 4, username: 'test', email: 't@example.com' }, 201, 3)
    )
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 4, pk: 1, data: { email: '00@example.com' } }),
      reply('patch', { id: 1, username: 'test1', email: '00@example.com' }, 200, 4)
    )
    assert.deepEqual(
      await client.request({ action: 'update', request_id: 5, pk: 2, data: { username: 'test edited', password: 'p' } }),
      reply('update', { id: 2, username: 'test edited', email: '45@example.com' }, 200, 5)
    )
    assert.deepEqual(await client.request({ action: 'delete', request_id: 6, pk: 3 }), reply('delete', null, 204, 6))

    assert.deepEqual(await db.select().from(users).orderBy(users.id), [
      { id: 1, username: 'test1', email: '00@example.com', password: 'x' },
      { id: 2, username: 'test edited', email: '45@example.com', password: 'p' },
      { id: 4, username: 'test', email: 't@example.com', password: 'testpassword123' }
    ])
  })

  test(`[${backend.name}] lookups: missing pk, wrong type, out of range and absent rows`, async (t) => {
    const { app } = await setup(t, backend)
    app.dcrf.consumer('/ws/', userConsumer)
    const client = await Client.open(app, '/ws/')
    const required = (name: string, id: number) => reply(name, null, 400, id, [{ pk: ['This field is required.'] }])
    const missing = (name: string, id: number) => reply(name, null, 404, id, ['Not found'])
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 1 }), required('retrieve', 1))
    assert.deepEqual(await client.request({ action: 'delete', request_id: 2, pk: null }), required('delete', 2))
    for (const [i, pk] of ['abc', 1.5, 99999999999, -99999999999, { id: 1 }, [1], true, 404].entries()) {
      assert.deepEqual(await client.request({ action: 'retrieve', request_id: i, pk }), missing('retrieve', i), JSON.stringify(pk))
    }
    // A numeric string is a valid integer pk, as in Django.
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 9, pk: '2' }), reply('retrieve', { id: 2, username: 'test2', email: '45@example.com' }, 200, 9))
    assert.deepEqual(await client.request({ action: 'patch', request_id: 10, pk: 404, data: {} }), missing('patch', 10))
    assert.deepEqual(await client.request({ action: 'patch', request_id: 11, pk: 1 }), reply('patch', null, 400, 11, [{ data: ['This field is required.'] }]))
    assert.deepEqual(await client.request({ action: 'create', request_id: 12, data: [1] }), reply('create', null, 400, 12, [{ data: ['Invalid data. Expected a dictionary, but got list.'] }]))
    // Python's type names, as DRF prints them.
    assert.deepEqual(await client.request({ action: 'create', request_id: 13, data: 5 }), reply('create', null, 400, 13, [{ data: ['Invalid data. Expected a dictionary, but got int.'] }]))
    assert.deepEqual(await client.request({ action: 'create', request_id: 14, data: true }), reply('create', null, 400, 14, [{ data: ['Invalid data. Expected a dictionary, but got bool.'] }]))
    assert.deepEqual(await client.request({ action: 'create', request_id: 15, data: 1.5 }), reply('create', null, 400, 15, [{ data: ['Invalid data. Expected a dictionary, but got float.'] }]))
  })

  test(`[${backend.name}] default writes find their row by its lookup in one statement, with DCRF's replies`, async (t) => {
    const { db: raw, queries } = await backend.create(t, DDL)
    const { app } = await build(t, { db: raw as Database })
    await app.dcrf.db.insert(users).values([{ username: 'test1', password: 'x' }, { username: 'test2', password: 'y' }])
    app.dcrf.consumer('/ws/', userConsumer)
    app.dcrf.consumer('/ws/mine/', defineConsumer({ table: users, serializer: userSerializer, queryset: () => eq(users.username, 'test1'), actions: crud() }))
    app.dcrf.consumer('/ws/by-name/', defineConsumer({ table: users, serializer: userSerializer, lookupField: 'username', actions: crud() }))
    const client = await Client.open(app, '/ws/')
    const mine = await Client.open(app, '/ws/mine/')
    const byName = await Client.open(app, '/ws/by-name/')
    const missing = (name: string, id: number) => reply(name, null, 404, id, ['Not found'])

    const before = queries.length
    assert.deepEqual(await client.request({ action: 'patch', request_id: 1, pk: 1, data: { email: 'a@example.com' } }), reply('patch', { id: 1, username: 'test1', email: 'a@example.com' }, 200, 1))
    assert.deepEqual(await client.request({ action: 'delete', request_id: 2, pk: 2 }), reply('delete', null, 204, 2))
    assert.equal(queries.length - before, 2, queries.slice(before).join('\n'))
    // A missing row is a 404 before invalid data is a 400.
    assert.deepEqual(await client.request({ action: 'patch', request_id: 3, pk: 99, data: { username: null } }), missing('patch', 3))
    assert.deepEqual(await client.request({ action: 'patch', request_id: 4, pk: 1, data: { username: null } }), reply('patch', null, 400, 4, [{ username: ['This field may not be null.'] }]))
    assert.deepEqual(await client.request({ action: 'update', request_id: 5, pk: 99, data: { username: 'u', password: 'p' } }), missing('update', 5))
    assert.deepEqual(await client.request({ action: 'delete', request_id: 6, pk: 2 }), missing('delete', 6))
    // The queryset bounds the write as it bounds getObject.
    await app.dcrf.db.insert(users).values({ id: 2, username: 'test2', password: 'y' })
    assert.deepEqual(await mine.request({ action: 'patch', request_id: 7, pk: 2, data: { email: 'no@example.com' } }), missing('patch', 7))
    assert.deepEqual(await mine.request({ action: 'delete', request_id: 8, pk: 2 }), missing('delete', 8))
    assert.deepEqual(await mine.request({ action: 'patch', request_id: 9, pk: 1, data: {} }), reply('patch', { id: 1, username: 'test1', email: 'a@example.com' }, 200, 9))
    // A unique text lookup: values no text can hold are no row, not a database error.
    assert.deepEqual(await byName.request({ action: 'patch', request_id: 10, pk: 'test\u0000', data: { email: 'x@example.com' } }), missing('patch', 10))
    assert.deepEqual(await byName.request({ action: 'delete', request_id: 11, pk: 'test\u0000' }), missing('delete', 11))
    assert.deepEqual(await byName.request({ action: 'patch', request_id: 12, pk: 'test2', data: { email: 'b@example.com' } }), reply('patch', { id: 2, username: 'test2', email: 'b@example.com' }, 200, 12))
    assert.deepEqual(await app.dcrf.db.select().from(users).orderBy(users.id), [
      { id: 1, username: 'test1', email: 'a@example.com', password: 'x' },
      { id: 2, username: 'test2', email: 'b@example.com', password: 'y' }
    ])
  })

  test(`[${backend.name}] validation and constraint violations are 400 field errors`, async (t) => {
    const { app, db } = await setup(t, backend)
    app.dcrf.consumer('/ws/', userConsumer)
    const client = await Client.open(app, '/ws/')
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 1, data: { email: 'x@example.com' } }),
      reply('create', null, 400, 1, [{ username: ['This field is required.'], password: ['This field is required.'] }])
    )
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 2, data: { username: 'test1', password: 'p' } }),
      reply('create', null, 400, 2, [{ username: ['user with this username already exists.'] }])
    )
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 3, pk: 2, data: { username: 'test1' } }),
      reply('patch', null, 400, 3, [{ username: ['user with this username already exists.'] }])
    )
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 4, pk: 2, data: { username: null } }),
      reply('patch', null, 400, 4, [{ username: ['This field may not be null.'] }])
    )
    // Read-only fields (the primary key) and unknown fields are ignored, never written.
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 5, pk: 2, data: { id: 99, is_admin: true, email: 'new@example.com' } }),
      reply('patch', { id: 2, username: 'test2', email: 'new@example.com' }, 200, 5)
    )
    assert.deepEqual((await db.select({ id: users.id }).from(users).orderBy(users.id)).map((r) => r.id), [1, 2, 3])
  })

  test(`[${backend.name}] queryset, filterQueryset, lookupField and ordering`, async (t) => {
    const { app, db } = await setup(t, backend)
    await db.insert(comments).values([
      { text: 'first by 1', userId: 1 },
      { text: 'by 2', userId: 2 },
      { text: 'second by 1', userId: 1 }
    ])
    await app.register(async (scope) => {
      scope.addHook('onRequest', async (request) => { request.user = { id: Number((request.query as Record<string, string>).user), username: 'someone' } })
      scope.dcrf.consumer('/ws/comments/', defineConsumer({
        table: comments,
        serializer: serializer(comments, { fields: ['id', 'text', 'userId'] }),
        // Only the connected user's comments (DCRF's get_queryset).
        queryset: (ctx) => eq(comments.userId, ctx.user!.id),
        filterQueryset: (_ctx, args) => typeof args.search === 'string' ? like(comments.text, `%${args.search}%`) : undefined,
        orderBy: (table) => [table.text],
        actions: { ...mixins.list(), ...mixins.retrieve(), ...mixins.delete() }
      }))
    })
    app.dcrf.consumer('/ws/by-name/', defineConsumer({
      table: users,
      serializer: userSerializer,
      lookupField: 'username',
      lookupKwarg: 'username',
      actions: { ...mixins.retrieve() }
    }))
    const one = await Client.open(app, '/ws/comments/?user=1')
    assert.deepEqual(await one.request({ action: 'list', request_id: 1 }), reply('list', [
      { id: 1, text: 'first by 1', userId: 1 },
      { id: 3, text: 'second by 1', userId: 1 }
    ], 200, 1))
    assert.deepEqual(await one.request({ action: 'list', request_id: 2, search: 'second' }), reply('list', [{ id: 3, text: 'second by 1', userId: 1 }], 200, 2))
    // Another user's row is not in this queryset: 404, and it cannot be deleted.
    assert.deepEqual(await one.request({ action: 'retrieve', request_id: 3, pk: 2 }), reply('retrieve', null, 404, 3, ['Not found']))
    assert.deepEqual(await one.request({ action: 'delete', request_id: 4, pk: 2 }), reply('delete', null, 404, 4, ['Not found']))
    assert.equal((await db.select().from(comments)).length, 3)
    // Actions not mixed in are not there.
    assert.deepEqual(await one.request({ action: 'create', request_id: 5, data: {} }), reply('create', null, 405, 5, ['Method "create" not allowed.']))

    const byName = await Client.open(app, '/ws/by-name/')
    assert.deepEqual(await byName.request({ action: 'retrieve', request_id: 1, username: 'test3' }), reply('retrieve', { id: 3, username: 'test3', email: '47@example.com' }, 200, 1))
    assert.deepEqual(await byName.request({ action: 'retrieve', request_id: 2, username: 'nobody' }), reply('retrieve', null, 404, 2, ['Not found']))
  })

  test(`[${backend.name}] nested and computed fields in the frames; write-only fields never sent`, async (t) => {
    const { app, db } = await setup(t, backend)
    await db.insert(comments).values([
      { text: 'first', userId: 1, date: new Date('2024-05-01T10:00:00Z') },
      { text: 'second', userId: 1, date: new Date('2024-05-02T11:30:00Z') }
    ])
    const commentSerializer = serializer(comments, {
      fields: ['id', 'text', 'date'],
      computed: { date_formatted: (row) => row.date.toISOString().slice(0, 10) }
    })
    app.dcrf.consumer('/ws/', defineConsumer({
      table: users,
      serializer: serializer(users, {
        fields: ['pk', 'username', 'password'],
        writeOnly: ['password'],
        computed: { shout: (row, context) => `${row.username.toUpperCase()} (as ${String((context.user as { id?: number } | null)?.id ?? 'anonymous')})` },
        nested: {
          comments: {
            serializer: commentSerializer,
            many: true,
            source: (row, context) => context.db!.select().from(comments).where(eq(comments.userId, row.id)).orderBy(comments.id)
          }
        }
      }),
      actions: { ...mixins.retrieve(), ...mixins.create() }
    }))
    const client = await Client.open(app, '/ws/')
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 1, pk: 1 }), reply('retrieve', {
      pk: 1,
      username: 'test1',
      shout: 'TEST1 (as anonymous)',
      comments: [
        { id: 1, text: 'first', date: '2024-05-01T10:00:00.000Z', date_formatted: '2024-05-01' },
        { id: 2, text: 'second', date: '2024-05-02T11:30:00.000Z', date_formatted: '2024-05-02' }
      ]
    }, 200, 1))
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 2, data: { username: 'new', password: 'secret', shout: 'ignored', comments: [] } }),
      reply('create', { pk: 4, username: 'new', shout: 'NEW (as anonymous)', comments: [] }, 201, 2)
    )
  })

  test(`[${backend.name}] custom actions bound to a model use getObject`, async (t) => {
    const { app } = await setup(t, backend)
    app.dcrf.consumer('/ws/', userConsumer)
    const client = await Client.open(app, '/ws/')
    assert.deepEqual(await client.request({ action: 'send_email', request_id: 1, pk: 2, to: 'a@b.co' }), reply('send_email', { sent: 'test2 → a@b.co' }, 200, 1))
    assert.deepEqual(await client.request({ action: 'send_email', request_id: 2, pk: 9, to: 'a@b.co' }), reply('send_email', null, 404, 2, ['Not found']))
    assert.deepEqual(await client.request({ action: 'publish', request_id: 3, pk: 3 }), reply('publish', { pk: 3 }, 200, 3))
  })

  test(`[${backend.name}] perform steps can be overridden`, async (t) => {
    const { app, db } = await setup(t, backend)
    const seen: string[] = []
    app.dcrf.consumer('/ws/', defineConsumer({
      table: users,
      serializer: userSerializer,
      actions: crud({
        async performCreate (ctx, values) {
          seen.push('create')
          const [row] = await ctx.db.insert(users).values({ ...values, password: `hashed:${String(values.password)}` } as typeof users.$inferInsert).returning()
          return row
        },
        async performPatch (ctx, row, values) {
          seen.push(`patch ${String(row.id)}`)
          const [updated] = await ctx.db.update(users).set({ ...values, email: String(values.email).toLowerCase() }).where(eq(users.id, row.id as number)).returning()
          return updated
        },
        async performDelete (_ctx, row) {
          seen.push(`delete ${String(row.id)}`)
          throw validationError('Users cannot be deleted.')
        }
      })
    }))
    const client = await Client.open(app, '/ws/')
    assert.deepEqual((await client.request({ action: 'create', data: { username: 'n', password: 'pw' } })).data, { id: 4, username: 'n', email: '' })
    assert.deepEqual((await client.request({ action: 'patch', pk: 1, data: { email: 'MiXeD@Example.COM' } })).data, { id: 1, username: 'test1', email: 'mixed@example.com' })
    assert.deepEqual(await client.request({ action: 'delete', pk: 1, request_id: 'd' }), reply('delete', null, 400, 'd', ['Users cannot be deleted.']))
    assert.deepEqual(seen, ['create', 'patch 1', 'delete 1'])
    const [created] = await db.select().from(users).where(eq(users.id, 4))
    assert.equal(created.password, 'hashed:pw')
  })

  test(`[${backend.name}] paginated list: pages, edges and DRF's fallbacks`, async (t) => {
    const { app, db } = await setup(t, backend)
    app.dcrf.consumer('/ws/', defineConsumer({
      table: users,
      serializer: serializer(users, { fields: ['id', 'username'] }),
      actions: { ...paginatedList({ limit: 2, maxLimit: 3 }) }
    }))
    const client = await Client.open(app, '/ws/')
    const page = (results: number[], limit: number, offset: number, count = 3) => ({ count, results: results.map((id) => ({ id, username: `test${id}` })), limit, offset })
    client.send({ action: 'list', request_id: 1 })
    assert.equal(await client.nextText(), JSON.stringify(reply('list', page([1, 2], 2, 0), 200, 1)))
    assert.deepEqual(await client.request({ action: 'list', request_id: 2, offset: 2 }), reply('list', page([3], 2, 2), 200, 2))
    assert.deepEqual(await client.request({ action: 'list', request_id: 3, offset: 10 }), reply('list', page([], 2, 10), 200, 3))
    assert.deepEqual(await client.request({ action: 'list', request_id: 4, limit: 1, offset: 1 }), reply('list', page([2], 1, 1), 200, 4))
    assert.deepEqual(await client.request({ action: 'list', request_id: 5, limit: 100 }), reply('list', page([1, 2, 3], 3, 0), 200, 5))
    assert.deepEqual(await client.request({ action: 'list', request_id: 6, limit: '1', offset: '2' }), reply('list', page([3], 1, 2), 200, 6))
    for (const [i, bad] of [null, -1, 0, 'abc', '1.5', {}, [2], true].entries()) {
      assert.deepEqual(await client.request({ action: 'list', request_id: i, limit: bad, offset: bad }), reply('list', page([1, 2], 2, 0), 200, i), JSON.stringify(bad))
    }
    await db.delete(users)
    assert.deepEqual(await client.request({ action: 'list', request_id: 'empty' }), reply('list', page([], 2, 0, 0), 200, 'empty'))
  })

  test(`[${backend.name}] streamed list: a page per reply, other actions served meanwhile, list_cancel`, async (t) => {
    const { app, db } = await setup(t, backend)
    await db.insert(users).values([4, 5, 6, 7].map((n) => ({ username: `test${n}`, password: 'p' })))
    app.dcrf.consumer('/ws/', defineConsumer({
      table: users,
      serializer: serializer(users, { fields: ['id'] }),
      actions: { ...streamedList({ limit: 2, delay: 30 }), ping: () => ({ data: 'pong' }) }
    }))
    const client = await Client.open(app, '/ws/')
    const page = (ids: number[], offset: number) => reply('list', { count: 7, results: ids.map((id) => ({ id })), limit: 2, offset }, 200, 's')
    client.send({ action: 'list', request_id: 's' })
    client.send({ action: 'ping', request_id: 'p' })
    const frames = [await client.next(), await client.next(), await client.next(), await client.next(), await client.next()]
    // The ping is answered while the stream waits between pages.
    assert.deepEqual(frames.filter((f) => f.action === 'ping'), [reply('ping', 'pong', 200, 'p')])
    assert.deepEqual(frames.filter((f) => f.action === 'list'), [page([1, 2], 0), page([3, 4], 2), page([5, 6], 4), page([7], 6)])

    // A second stream, cancelled after its first page.
    client.send({ action: 'list', request_id: 's' })
    assert.deepEqual(await client.next(), page([1, 2], 0))
    assert.deepEqual(await client.request({ action: 'list_cancel', request_id: 'c' }), reply('list_cancel', null, 200, 'c'))
    // No further page arrives: the next frame is the ping's reply, sent after the stream's delay.
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.deepEqual(await client.request({ action: 'ping', request_id: 'after' }), reply('ping', 'pong', 200, 'after'))
    assert.equal(client.frames.length, 0)

    // An empty table streams one empty page.
    await db.delete(users)
    assert.deepEqual(await client.request({ action: 'list', request_id: 'e' }), reply('list', { count: 0, results: [], limit: 2, offset: 0 }, 200, 'e'))
  })

  test(`[${backend.name}] atomic actions roll back on error`, async (t) => {
    const { app, db } = await setup(t, backend)
    const consumer = defineConsumer({
      table: users,
      actions: {
        two_users: action({
          atomic: true,
          async handler (ctx, { fail }) {
            await ctx.db.insert(users).values({ username: 'atomic-a', password: 'p' })
            if (fail === 'duplicate') await ctx.db.insert(users).values({ username: 'atomic-a', password: 'p' })
            if (fail === 'throw') throw notFound()
            await ctx.db.insert(users).values({ username: 'atomic-b', password: 'p' })
            return { status: 201 }
          }
        }),
        not_atomic: async (ctx) => {
          await ctx.db.insert(users).values({ username: 'kept', password: 'p' })
          throw new Error('after the write')
        }
      }
    })
    app.dcrf.consumer('/ws/', consumer)
    const client = await Client.open(app, '/ws/')
    const names = async () => (await db.select({ username: users.username }).from(users).orderBy(users.id)).map((r) => r.username)
    assert.deepEqual(await client.request({ action: 'two_users', fail: 'throw', request_id: 1 }), reply('two_users', null, 404, 1, ['Not found']))
    // A constraint violation escaping a custom action is answered like the generic actions answer it.
    assert.deepEqual(await client.request({ action: 'two_users', fail: 'duplicate', request_id: 2 }), reply('two_users', null, 400, 2, [{ username: ['user with this username already exists.'] }]))
    assert.deepEqual(await names(), ['test1', 'test2', 'test3'])
    assert.deepEqual(await client.request({ action: 'two_users', request_id: 3 }), reply('two_users', null, 201, 3))
    assert.deepEqual(await names(), ['test1', 'test2', 'test3', 'atomic-a', 'atomic-b'])
    assert.equal((await client.request({ action: 'not_atomic' })).response_status, 500)
    assert.deepEqual(await names(), ['test1', 'test2', 'test3', 'atomic-a', 'atomic-b', 'kept'])
  })

  test(`[${backend.name}] atomicRequests makes every action atomic unless it says otherwise`, async (t) => {
    const { app, db } = await setup(t, backend, { atomicRequests: true })
    app.dcrf.consumer('/ws/', defineConsumer({
      table: users,
      actions: {
        by_default: async (ctx) => {
          await ctx.db.insert(users).values({ username: 'rolled back', password: 'p' })
          throw new Error('boom')
        },
        opted_out: action({
          atomic: false,
          async handler (ctx) {
            await ctx.db.insert(users).values({ username: 'kept', password: 'p' })
            throw new Error('boom')
          }
        })
      }
    }))
    const client = await Client.open(app, '/ws/')
    await client.request({ action: 'by_default' })
    await client.request({ action: 'opted_out' })
    assert.deepEqual((await db.select({ username: users.username }).from(users).orderBy(users.id)).map((r) => r.username), ['test1', 'test2', 'test3', 'kept'])
  })
}

test('a generic consumer needs the db option', async (t) => {
  const { app } = await build(t)
  assert.throws(() => app.dcrf.consumer('/ws/', defineConsumer({ table: users, actions: crud() })), { code: 'DCRF_ERR_INVALID_CONSUMER' })
})
