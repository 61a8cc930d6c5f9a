import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { eq, inArray, ne } from 'drizzle-orm'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import {
  action,
  defineConsumer,
  instanceSubscriptions,
  mixins,
  modelObserver,
  observer,
  serializer,
  type Database,
  type DcrfOptions,
  type Permission
} from 'fastify-dcrf'
import { backends, type Backend } from './db.js'
import { build, Client, reply } from './helpers.js'

const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique()
})
const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  userId: integer('user_id').notNull().references(() => users.id)
})
const DDL = `
  create table users (id serial primary key, username text not null unique);
  create table comments (id serial primary key, text text not null, user_id integer not null references users(id));
  insert into users (username) values ('one'), ('two'), ('three');
`

/** Counts serializer runs: the observer's serializer must run once per event. */
let serialized = 0

/** The comments consumer of DCRF's "Model observer" and "Filtered model observer" examples. */
const commentConsumer = defineConsumer({
  table: comments,
  serializer: serializer(comments, { fields: ['id', 'text', 'userId'] }),
  observers: {
    comment_activity: modelObserver(comments, {
      serialize: (row) => {
        serialized++
        return { id: row.id, text: row.text, user: row.userId }
      },
      groupsForSignal: (row) => ['all', `user__${row.userId}`],
      groupsForConsumer: (_ctx, { user_pk: userPk }) => [userPk === undefined ? 'all' : `user__${String(userPk)}`]
    })
  },
  actions: {
    ...mixins.create(),
    ...mixins.patch(),
    ...mixins.delete(),
    subscribe_to_comment_activity: async (ctx, _args, { requestId }) => {
      await ctx.observer('comment_activity').subscribe({ requestId })
      return { status: 201 }
    },
    subscribe_to_user_comments: async (ctx, { user_pk: userPk }, { requestId }) => {
      await ctx.observer('comment_activity').subscribe({ requestId, user_pk: userPk })
      return { status: 201 }
    },
    unsubscribe_from_comment_activity: async (ctx, { user_pk: userPk }, { requestId }) => {
      await ctx.observer('comment_activity').unsubscribe({ requestId: requestId ?? undefined, user_pk: userPk })
      return { status: 204 }
    },
    ping: () => ({ data: 'pong' })
  }
})

async function setup (t: TestContext, backend: Backend, options: DcrfOptions = {}) {
  const database = await backend.create(t, DDL)
  const { app, logs } = await build(t, { db: database.db as Database, ...options })
  app.dcrf.consumer('/ws/comments/', commentConsumer)
  return { app, logs, db: app.dcrf.db, queries: database.queries }
}

function event (action: string, id: number, text: string, user: number, requestId: unknown): Record<string, unknown> {
  return reply(action, { id, text, user }, 200, requestId)
}

/** Sends a ping and expects its reply next: nothing else arrived before it. */
async function nothingElse (client: Client): Promise<void> {
  assert.deepEqual(await client.request({ action: 'ping', request_id: 'barrier' }), reply('ping', 'pong', 200, 'barrier'))
}

for (const backend of backends) {
  test(`[${backend.name}] create, update and delete through the wrapped db reach subscribers`, async (t) => {
    const { app, db } = await setup(t, backend)
    const all = await Client.open(app, '/ws/comments/')
    assert.deepEqual(await all.request({ action: 'subscribe_to_comment_activity', request_id: 'sub' }), reply('subscribe_to_comment_activity', null, 201, 'sub'))

    const [row] = await db.insert(comments).values({ text: 'hello', userId: 1 }).returning()
    assert.deepEqual(await all.next(), event('create', row.id, 'hello', 1, 'sub'))
    await db.update(comments).set({ text: 'edited' }).where(eq(comments.id, row.id))
    assert.deepEqual(await all.next(), event('update', row.id, 'edited', 1, 'sub'))
    await db.delete(comments).where(eq(comments.id, row.id))
    assert.deepEqual(await all.next(), event('delete', row.id, 'edited', 1, 'sub'))
    await nothingElse(all)
  })

  test(`[${backend.name}] bulk updates and deletes send one event per row`, async (t) => {
    const { app, db } = await setup(t, backend)
    const all = await Client.open(app, '/ws/comments/')
    await all.request({ action: 'subscribe_to_comment_activity', request_id: 1 })
    await db.insert(comments).values([{ text: 'a', userId: 1 }, { text: 'b', userId: 2 }, { text: 'c', userId: 1 }])
    assert.deepEqual([await all.next(), await all.next(), await all.next()], [event('create', 1, 'a', 1, 1), event('create', 2, 'b', 2, 1), event('create', 3, 'c', 1, 1)])
    await db.update(comments).set({ text: 'bulk' }).where(eq(comments.userId, 1))
    const updates = [await all.next(), await all.next()].sort((x, y) => x.data.id - y.data.id)
    assert.deepEqual(updates, [event('update', 1, 'bulk', 1, 1), event('update', 3, 'bulk', 1, 1)])
    await db.delete(comments).where(inArray(comments.id, [1, 2]))
    const deletes = [await all.next(), await all.next()].sort((x, y) => x.data.id - y.data.id)
    assert.deepEqual(deletes, [event('delete', 1, 'bulk', 1, 1), event('delete', 2, 'b', 2, 1)])
    await nothingElse(all)
  })

  test(`[${backend.name}] only committed changes are sent, the last change of a row once`, async (t) => {
    const { app, db } = await setup(t, backend)
    const all = await Client.open(app, '/ws/comments/')
    await all.request({ action: 'subscribe_to_comment_activity', request_id: 1 })

    await assert.rejects(db.transaction(async (tx) => {
      await tx.insert(comments).values({ text: 'rolled back', userId: 1 })
      throw new Error('abort')
    }), /abort/)
    await nothingElse(all)

    await db.insert(comments).values({ text: 'v1', userId: 1 })
    assert.deepEqual(await all.next(), event('create', 2, 'v1', 1, 1))
    await db.transaction(async (tx) => {
      await tx.update(comments).set({ text: 'v2' }).where(eq(comments.id, 2))
      await tx.update(comments).set({ text: 'v3' }).where(eq(comments.id, 2))
      const [created] = await tx.insert(comments).values({ text: 'new', userId: 2 }).returning()
      await tx.update(comments).set({ text: 'new, edited' }).where(eq(comments.id, created.id))
      // Nested: a savepoint rolled back drops its own changes only.
      await tx.transaction(async (inner) => {
        await inner.update(comments).set({ text: 'v4' }).where(eq(comments.id, 2))
        inner.rollback()
      }).catch(() => undefined)
      await tx.transaction(async (inner) => {
        await inner.insert(comments).values({ text: 'kept', userId: 3 })
      })
    })
    assert.deepEqual(await all.next(), event('update', 2, 'v3', 1, 1))
    assert.deepEqual(await all.next(), event('create', 3, 'new, edited', 2, 1))
    assert.deepEqual(await all.next(), event('create', 4, 'kept', 3, 1))
    await nothingElse(all)
  })

  test(`[${backend.name}] filtered subscriptions: each user's subscribers get that user's comments only`, async (t) => {
    const { app, db } = await setup(t, backend)
    const one = await Client.open(app, '/ws/comments/')
    const two = await Client.open(app, '/ws/comments/')
    await one.request({ action: 'subscribe_to_user_comments', user_pk: 1, request_id: 'u1' })
    await two.request({ action: 'subscribe_to_user_comments', user_pk: 2, request_id: 'u2' })
    await db.insert(comments).values({ text: 'by one', userId: 1 })
    assert.deepEqual(await one.next(), event('create', 1, 'by one', 1, 'u1'))
    await nothingElse(two)
    await db.insert(comments).values({ text: 'by two', userId: 2 })
    assert.deepEqual(await two.next(), event('create', 2, 'by two', 2, 'u2'))
    await nothingElse(one)

    // A comment moving from user 1 to user 2 leaves one group and enters the other. The group it
    // left gets the comment as it knew it: never what it became.
    const before = serialized
    await db.update(comments).set({ userId: 2, text: 'secret' }).where(eq(comments.id, 1))
    assert.deepEqual(await one.next(), event('delete', 1, 'by one', 1, 'u1'))
    assert.deepEqual(await two.next(), event('create', 1, 'secret', 2, 'u2'))
    await nothingElse(one)
    await nothingElse(two)
    // Two serializations for the move (the row before and after); one for an update that stays.
    assert.equal(serialized - before, 2)
    await db.update(comments).set({ text: 'edited' }).where(eq(comments.id, 1))
    assert.deepEqual(await two.next(), event('update', 1, 'edited', 2, 'u2'))
    assert.equal(serialized - before, 3)
    await nothingElse(one)
  })

  test(`[${backend.name}] two request ids on one socket, and unsubscribing one or all`, async (t) => {
    const { app, db } = await setup(t, backend)
    const client = await Client.open(app, '/ws/comments/')
    await client.request({ action: 'subscribe_to_comment_activity', request_id: 'a' })
    await client.request({ action: 'subscribe_to_comment_activity', request_id: { id: 'b' } })
    await db.insert(comments).values({ text: 'x', userId: 1 })
    assert.deepEqual([await client.next(), await client.next()], [event('create', 1, 'x', 1, 'a'), event('create', 1, 'x', 1, { id: 'b' })])
    assert.deepEqual(await client.request({ action: 'unsubscribe_from_comment_activity', request_id: 'a' }), reply('unsubscribe_from_comment_activity', null, 204, 'a'))
    await db.update(comments).set({ text: 'y' })
    assert.deepEqual(await client.next(), event('update', 1, 'y', 1, { id: 'b' }))
    await nothingElse(client)
    client.send({ action: 'unsubscribe_from_comment_activity' })
    assert.deepEqual(await client.next(), reply('unsubscribe_from_comment_activity', null, 204, null))
    await db.update(comments).set({ text: 'z' })
    await nothingElse(client)
    assert.equal(app.dcrf.channelLayer.size, 0)
  })

  test(`[${backend.name}] the reply to a write goes out before the event it causes`, async (t) => {
    const { app } = await setup(t, backend)
    const client = await Client.open(app, '/ws/comments/')
    await client.request({ action: 'subscribe_to_comment_activity', request_id: 's' })
    client.send({ action: 'create', request_id: 'c', data: { text: 'mine', userId: 1 } })
    assert.deepEqual(await client.next(), reply('create', { id: 1, text: 'mine', userId: 1 }, 201, 'c'))
    assert.deepEqual(await client.next(), event('create', 1, 'mine', 1, 's'))
    client.send({ action: 'patch', request_id: 'p', pk: 1, data: { text: 'changed' } })
    assert.deepEqual(await client.next(), reply('patch', { id: 1, text: 'changed', userId: 1 }, 200, 'p'))
    assert.deepEqual(await client.next(), event('update', 1, 'changed', 1, 's'))
  })

  test(`[${backend.name}] the serializer runs once per event however many subscribers`, async (t) => {
    const { app, db } = await setup(t, backend)
    const clients = await Promise.all(Array.from({ length: 25 }, () => Client.open(app, '/ws/comments/')))
    await Promise.all(clients.map((client, i) => client.request({ action: 'subscribe_to_comment_activity', request_id: i })))
    serialized = 0
    await db.insert(comments).values({ text: 'fan out', userId: 1 })
    for (const [i, client] of clients.entries()) assert.deepEqual(await client.next(), event('create', 1, 'fan out', 1, i))
    assert.equal(serialized, 1)
  })

  test(`[${backend.name}] subscribe/disconnect cycles leave no group or listener behind`, async (t) => {
    const { app, db } = await setup(t, backend)
    for (let i = 0; i < 30; i++) {
      const client = await Client.open(app, '/ws/comments/')
      await client.request({ action: 'subscribe_to_user_comments', user_pk: i % 3, request_id: i })
      await client.request({ action: 'subscribe_to_comment_activity', request_id: i })
      client.close()
      await client.closed
    }
    for (let i = 0; i < 100 && app.dcrf.channelLayer.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(app.dcrf.channelLayer.size, 0)
    // Events for nobody go nowhere, and a new subscriber still gets its own.
    await db.insert(comments).values({ text: 'after', userId: 1 })
    const late = await Client.open(app, '/ws/comments/')
    await late.request({ action: 'subscribe_to_comment_activity', request_id: 'late' })
    await db.insert(comments).values({ text: 'seen', userId: 1 })
    assert.deepEqual(await late.next(), event('create', 2, 'seen', 1, 'late'))
  })

  test(`[${backend.name}] a custom handler receives the message, the action and the request ids`, async (t) => {
    const { app, db } = await setup(t, backend)
    app.dcrf.consumer('/ws/custom/', defineConsumer({
      observers: {
        activity: modelObserver(comments, {
          handle: (ctx, message, { action, requestIds, group }) => ctx.send({ message, action, requestIds, group })
        })
      },
      actions: {
        subscribe: async (ctx, _args, { requestId }) => { await ctx.observer('activity').subscribe({ requestId }) }
      }
    }))
    const client = await Client.open(app, '/ws/custom/')
    client.send({ action: 'subscribe', request_id: 7 })
    client.send({ action: 'subscribe', request_id: 8 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await db.insert(comments).values({ text: 'x', userId: 2 })
    // The default message is the primary key.
    assert.deepEqual(await client.next(), { message: { pk: 1 }, action: 'create', requestIds: [7, 8], group: '*' })
  })

  test(`[${backend.name}] an event waiting behind a busy connection is read through the queryset of when it is handled`, async (t) => {
    const { app, db } = await setup(t, backend)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let started!: () => void
    const running = new Promise<void>((resolve) => { started = resolve })
    app.dcrf.consumer('/ws/users/', defineConsumer({
      table: users,
      state: () => ({ hide: false }),
      serializer: serializer(users, { fields: ['id', 'username'] }),
      queryset: (ctx) => ctx.state.hide ? ne(users.id, 2) : undefined,
      actions: {
        ...instanceSubscriptions(),
        // Holds the connection's queue, then narrows its queryset.
        hide: async (ctx) => {
          started()
          await held
          ctx.state.hide = true
          return { data: null }
        }
      }
    }))
    const client = await Client.open(app, '/ws/users/')
    assert.deepEqual(await client.request({ action: 'subscribe_instance', pk: 2, request_id: 's' }), reply('subscribe_instance', null, 201, 's'))
    assert.deepEqual(await client.request({ action: 'subscribe_instance', pk: 3, request_id: 't' }), reply('subscribe_instance', null, 201, 't'))
    client.send({ action: 'hide', request_id: 'h' })
    await running
    // Both arrive while the queue is busy (their reads start then, through the queryset of then).
    await db.update(users).set({ username: 'renamed' }).where(eq(users.id, 2))
    await db.update(users).set({ username: 'thrice' }).where(eq(users.id, 3))
    release()
    assert.deepEqual(await client.next(), reply('hide', null, 200, 'h'))
    // Row 2 is outside the queryset by the time its event is handled: a delete for this connection.
    assert.deepEqual(await client.next(), reply('delete', { pk: 2 }, 204, 's'))
    assert.deepEqual(await client.next(), reply('update', { id: 3, username: 'thrice' }, 200, 't'))
  })

  test(`[${backend.name}] instance subscriptions: updates re-read through the queryset, deletes as {pk}`, async (t) => {
    const { app, db, queries } = await setup(t, backend)
    const denyUserThree: Permission = { hasPermission: (ctx) => (ctx.request.query as Record<string, string>).as !== 'three' }
    app.dcrf.consumer('/ws/users/', defineConsumer({
      table: users,
      permissions: [denyUserThree],
      serializer: serializer(users, { fields: ['id', 'username'] }),
      // Connections with ?hide=<name> do not see that user.
      queryset: (ctx) => {
        const hide = (ctx.request.query as Record<string, string>).hide
        return hide === undefined ? undefined : ne(users.username, hide)
      },
      actions: { ...mixins.retrieve(), ...mixins.patch(), ...instanceSubscriptions() }
    }))
    app.dcrf.consumer('/ws/users/by-name/', defineConsumer({
      table: users,
      serializer: serializer(users, { fields: ['id', 'username'] }),
      lookupField: 'username',
      actions: { ...instanceSubscriptions() }
    }))
    // The same SQL table through another definition: other keys, so it reads the row itself.
    const people = pgTable('users', { id: serial('id').primaryKey(), name: text('username').notNull() })
    app.dcrf.consumer('/ws/people/', defineConsumer({ table: people, actions: { ...instanceSubscriptions() } }))
    const a = await Client.open(app, '/ws/users/')
    const b = await Client.open(app, '/ws/users/')
    const hider = await Client.open(app, '/ws/users/?hide=renamed')
    const byName = await Client.open(app, '/ws/users/by-name/')
    assert.deepEqual(await a.request({ action: 'subscribe_instance', pk: 2, request_id: 'a1' }), reply('subscribe_instance', null, 201, 'a1'))
    assert.deepEqual(await a.request({ action: 'subscribe_instance', pk: 2, request_id: 2 }), reply('subscribe_instance', null, 201, 2))
    assert.deepEqual(await b.request({ action: 'subscribe_instance', pk: '2', request_id: [1] }), reply('subscribe_instance', null, 201, [1]))
    assert.deepEqual(await hider.request({ action: 'subscribe_instance', pk: 2, request_id: 'h' }), reply('subscribe_instance', null, 201, 'h'))
    assert.deepEqual(await byName.request({ action: 'subscribe_instance', pk: 'two', request_id: 'n' }), reply('subscribe_instance', null, 201, 'n'))
    const person = await Client.open(app, '/ws/people/')
    assert.deepEqual(await person.request({ action: 'subscribe_instance', pk: 2, request_id: 'p' }), reply('subscribe_instance', null, 201, 'p'))
    assert.deepEqual(await a.request({ action: 'subscribe_instance', pk: 99, request_id: 'x' }), reply('subscribe_instance', null, 404, 'x', ['Not found']))
    assert.deepEqual(await a.request({ action: 'subscribe_instance', pk: 1 }), reply('subscribe_instance', null, 400, null, [{ request_id: ['This field is required.'] }]))

    const before = queries.length
    await db.update(users).set({ username: 'renamed' }).where(eq(users.id, 2))
    const row = { id: 2, username: 'renamed' }
    assert.deepEqual([await a.next(), await a.next()], [reply('update', row, 200, 'a1'), reply('update', row, 200, 2)])
    assert.deepEqual(await b.next(), reply('update', row, 200, [1]))
    // For the connection whose queryset no longer holds the row, the row is gone.
    assert.deepEqual(await hider.next(), reply('delete', { pk: 2 }, 204, 'h'))
    assert.deepEqual(await byName.next(), reply('update', row, 200, 'n'))
    assert.deepEqual(await person.next(), reply('update', { id: 2, name: 'renamed' }, 200, 'p'))
    // Without a queryset, every row is visible: a, b and byName get the row as the update
    // committed it, with no re-read. hider reads it through its queryset, person through its table.
    const rereads = queries.slice(before).filter((q) => /^select/i.test(q))
    assert.equal(rereads.length, 2)
    assert.ok(rereads.some((q) => /"username" <> \$/.test(q)), rereads.join('\n'))

    // Unsubscribing one request id keeps the other.
    assert.deepEqual(await a.request({ action: 'unsubscribe_instance', pk: 2, request_id: 'a1' }), reply('unsubscribe_instance', null, 204, 'a1'))
    await db.delete(users).where(eq(users.id, 2))
    assert.deepEqual(await a.next(), reply('delete', { pk: 2 }, 204, 2))
    assert.deepEqual(await b.next(), reply('delete', { pk: '2' }, 204, [1]))
    assert.deepEqual(await byName.next(), reply('delete', { pk: 'two' }, 204, 'n'))
    await hider.next()

    // A connection whose permissions deny the row gets nothing.
    const denied = await Client.open(app, '/ws/users/?as=three')
    const allowed = await Client.open(app, '/ws/users/')
    await allowed.request({ action: 'subscribe_instance', pk: 3, request_id: 'ok' })
    assert.equal((await denied.request({ action: 'subscribe_instance', pk: 3, request_id: 'no' })).response_status, 403)
    await db.update(users).set({ username: 'third' }).where(eq(users.id, 3))
    assert.deepEqual(await allowed.next(), reply('update', { id: 3, username: 'third' }, 200, 'ok'))
  })

  test(`[${backend.name}] signal observers: any application event`, async (t) => {
    const { app } = await setup(t, backend)
    app.dcrf.consumer('/ws/admin/', defineConsumer({
      observers: {
        logins: observer<{ username: string, secret: string }>('user_logged_in', {
          serialize: (user) => ({ username: user.username }),
          groupsForSignal: (user) => [user.username === 'root' ? 'admins' : 'users'],
          groupsForConsumer: (_ctx, { role }) => [String(role)]
        })
      },
      actions: {
        watch: action({
          async handler (ctx, { role }, { requestId }) {
            await ctx.observer('logins').subscribe({ requestId, role })
            return { status: 201 }
          }
        }),
        ping: () => ({ data: 'pong' })
      }
    }))
    const admins = await Client.open(app, '/ws/admin/')
    const usersWatcher = await Client.open(app, '/ws/admin/')
    await admins.request({ action: 'watch', role: 'admins', request_id: 'a' })
    await usersWatcher.request({ action: 'watch', role: 'users', request_id: 'u' })
    await app.dcrf.signal('user_logged_in', { username: 'ada', secret: 's' })
    await app.dcrf.signal('user_logged_in', { username: 'root', secret: 's' })
    await app.dcrf.signal('nobody_listens', { username: 'x' })
    assert.deepEqual(await usersWatcher.next(), reply('user_logged_in', { username: 'ada' }, 200, 'u'))
    assert.deepEqual(await admins.next(), reply('user_logged_in', { username: 'root' }, 200, 'a'))
    await nothingElse(admins)
    await nothingElse(usersWatcher)
  })
}

test('subscribe actions go through permissions like any action', async (t) => {
  const database = await backends[0].create(t, DDL)
  const { app } = await build(t, { db: database.db as Database })
  const ownCommentsOnly: Permission = {
    // Only subscriptions to the connected user's own comments.
    hasPermission: (ctx, name, args) => name !== 'subscribe_to_user_comments' || String(args.user_pk) === (ctx.request.query as Record<string, string>).user
  }
  app.dcrf.consumer('/ws/comments/', { ...commentConsumer, permissions: [ownCommentsOnly] })
  const one = await Client.open(app, '/ws/comments/?user=1')
  assert.deepEqual(
    await one.request({ action: 'subscribe_to_user_comments', user_pk: 2, request_id: 'spy' }),
    reply('subscribe_to_user_comments', null, 403, 'spy', ['You do not have permission to perform this action.'])
  )
  assert.deepEqual(await one.request({ action: 'subscribe_to_user_comments', user_pk: 1, request_id: 'own' }), reply('subscribe_to_user_comments', null, 201, 'own'))
  await app.dcrf.db.insert(comments).values([{ text: 'by two', userId: 2 }, { text: 'by one', userId: 1 }])
  // User 2's comment never arrives; user 1's does.
  assert.deepEqual(await one.next(), event('create', 2, 'by one', 1, 'own'))
  await nothingElse(one)
})

test('a write in one process reaches subscribers connected to another, through Redis', { skip: process.env.REDIS_URL ? false : 'REDIS_URL is not set' }, async (t) => {
  const backend = backends[backends.length - 1]
  if (backend.name !== 'postgres') {
    t.skip('DATABASE_URL is not set: two processes need a shared server')
    return
  }
  const database = await backend.create(t, DDL)
  const redis = { channelLayer: { redis: process.env.REDIS_URL } }
  const writer = await build(t, { db: database.db as Database, ...redis })
  const reader = await build(t, { db: database.db as Database, ...redis })
  writer.app.dcrf.consumer('/ws/comments/', commentConsumer)
  reader.app.dcrf.consumer('/ws/comments/', commentConsumer)
  const subscriber = await Client.open(reader.app, '/ws/comments/')
  await subscriber.request({ action: 'subscribe_to_comment_activity', request_id: 'far' })
  await writer.app.dcrf.db.insert(comments).values({ text: 'across', userId: 1 })
  assert.deepEqual(await subscriber.next(), event('create', 1, 'across', 1, 'far'))
})
