/**
 * The example application against its contract (EXAMPLE.md): every route and every shape, with
 * the exact frames a client sees over real sockets. Runs on PGlite always, on the PostgreSQL of
 * `DATABASE_URL` too (in a schema of its own), and across two processes sharing Redis when
 * `REDIS_URL` is set as well.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { eq, sql } from 'drizzle-orm'
import postgres from 'postgres'
import { buildApp, type ExampleOptions } from '../example/app.js'
import { passwordStamp, redactTokens } from '../example/auth.js'
import { rooms, users } from '../example/schema.js'
import { Client, reply, sleep } from './helpers.js'

const DATABASE_URL = process.env.DATABASE_URL
const REDIS_URL = process.env.REDIS_URL

interface Backend {
  name: 'pglite' | 'postgres'
  /** Database options of a fresh, empty database, and how to remove it afterwards. */
  database (): Promise<{ options: ExampleOptions, drop (): Promise<void> }>
}

const pglite: Backend = {
  name: 'pglite',
  database: async () => ({ options: {}, drop: async () => {} })
}

/** A schema of its own on the server, reached through `search_path` in the URL. */
function postgresBackend (url: string): Backend {
  return {
    name: 'postgres',
    async database () {
      const schema = `example_${randomBytes(6).toString('hex')}`
      const admin = postgres(url, { max: 1, onnotice: () => {} })
      await admin.unsafe(`create schema ${schema}`)
      const databaseUrl = new URL(url)
      databaseUrl.searchParams.set('search_path', schema)
      return {
        options: { databaseUrl: databaseUrl.href },
        async drop () {
          await admin.unsafe(`drop schema ${schema} cascade`)
          await admin.end({ timeout: 5 })
        }
      }
    }
  }
}

const backends: Backend[] = DATABASE_URL ? [pglite, postgresBackend(DATABASE_URL)] : [pglite]

/** The example on a fresh database, seeded; closed (and its database dropped) after the test. */
async function start (t: TestContext, backend: Backend, options: ExampleOptions = {}): Promise<FastifyInstance> {
  const database = await backend.database()
  const app = await buildApp({ ...database.options, ...options }).catch(async (err) => { await database.drop(); throw err })
  t.after(async () => {
    await app.close()
    await database.drop()
  })
  return app
}

async function tokenOf (app: FastifyInstance, username: string, password: string): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password } })
  assert.equal(response.statusCode, 200, response.body)
  return response.json().token
}

/** Fails if a frame arrives within a short while. */
async function nothingElse (client: Client): Promise<void> {
  await sleep(150)
  assert.deepEqual(client.frames, [])
}

/** The seeded users, as the users serializer sends them. */
const u1 = { id: 1, username: 'test1', email: 'test1@example.com' }
const u2 = { id: 2, username: 'test2', email: 'test2@example.com' }
const u3 = { id: 3, username: 'test3', email: 'test3@example.com' }

const wrap = (stream: string, payload: unknown) => ({ stream, payload })

for (const backend of backends) {
  test(`[${backend.name}] login, the REST API for users, and the pages`, async (t) => {
    const app = await start(t, backend)
    const post = (url: string, payload: unknown, token?: string) =>
      app.inject({ method: 'POST', url, payload: payload as object, headers: token ? { authorization: `Bearer ${token}` } : {} })
    const patch = (url: string, payload: unknown, token?: string) =>
      app.inject({ method: 'PATCH', url, payload: payload as object, headers: token ? { authorization: `Bearer ${token}` } : {} })

    const login = await post('/api/login', { username: 'test1', password: 'password1' })
    assert.equal(login.statusCode, 200)
    assert.deepEqual(Object.keys(login.json()), ['token'])
    assert.match(login.json().token, /^[\w-]+\.[\w-]+$/)
    const wrong = await post('/api/login', { username: 'test1', password: 'password2' })
    assert.equal(wrong.statusCode, 401)
    assert.deepEqual(wrong.json(), { detail: 'Invalid username or password.' })
    assert.equal((await post('/api/login', { username: 'nobody', password: 'password1' })).statusCode, 401)
    assert.equal((await post('/api/login', { username: 'test1' })).statusCode, 400)

    assert.deepEqual((await app.inject('/api/users/')).json(), [u1, u2, u3])
    assert.deepEqual((await app.inject('/api/users/2')).json(), u2)
    const missing = await app.inject('/api/users/99')
    assert.equal(missing.statusCode, 404)
    assert.deepEqual(missing.json(), { detail: 'Not found.' })

    const created = await post('/api/users/', { username: 'ada', email: 'ada@example.com', password: 's3cret' })
    assert.equal(created.statusCode, 201)
    assert.deepEqual(created.json(), { id: 4, username: 'ada', email: 'ada@example.com' })
    const [stored] = await app.dcrf.db.select().from(users).where(eq(users.id, 4))
    assert.match(stored.password, /^scrypt\$/)
    await tokenOf(app, 'ada', 's3cret')
    const taken = await post('/api/users/', { username: 'ada', email: 'ada@example.com', password: 'x' })
    assert.equal(taken.statusCode, 400)
    assert.deepEqual(taken.json(), { username: ['user with this username already exists.'] })
    const invalid = await post('/api/users/', { username: 'bob', email: 'not an email' })
    assert.equal(invalid.statusCode, 400)
    assert.deepEqual(invalid.json(), { email: ['Enter a valid email address.'], password: ['This field is required.'] })

    const one = login.json().token
    const two = await tokenOf(app, 'test2', 'password2')
    assert.equal((await patch('/api/users/1', { email: 'one@example.com' })).statusCode, 401)
    const forbidden = await patch('/api/users/1', { email: 'one@example.com' }, two)
    assert.equal(forbidden.statusCode, 403)
    assert.deepEqual(forbidden.json(), { detail: 'You do not have permission to perform this action.' })
    const patched = await patch('/api/users/1', { email: 'one@example.com' }, one)
    assert.equal(patched.statusCode, 200)
    assert.deepEqual(patched.json(), { ...u1, email: 'one@example.com' })
    assert.equal((await patch('/api/users/1', { username: 'test2' }, one)).statusCode, 400)

    assert.deepEqual((await app.inject('/api/rooms/')).json(), [{ id: 1, name: 'general', host: 1 }])
    assert.equal((await post('/api/rooms/', { name: 'fresh' })).statusCode, 401)
    const existing = await post('/api/rooms/', { name: ' general ' }, two)
    assert.equal(existing.statusCode, 200)
    assert.deepEqual(existing.json(), { id: 1, name: 'general', host: 1 })
    const opened = await post('/api/rooms/', { name: 'fresh' }, two)
    assert.equal(opened.statusCode, 201)
    // (id 2 went to the insert that met "general": a sequence never goes back)
    assert.deepEqual(opened.json(), { id: 3, name: 'fresh', host: 2 })
    assert.equal((await post('/api/rooms/', { name: '   ' }, two)).statusCode, 400)

    for (const url of ['/', '/users/', '/chat/', '/chat/room/1/']) {
      const page = await app.inject(url)
      assert.equal(page.statusCode, 200, url)
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8', url)
      assert.match(page.body, /^<!DOCTYPE html>/, url)
    }
    assert.match((await app.inject('/')).body, /href="\/users\/"[\s\S]*href="\/chat\/"/)
    assert.equal((await app.inject('/static/style.css')).headers['content-type'], 'text/css; charset=utf-8')
    assert.equal((await app.inject('/static/common.js')).headers['content-type'], 'text/javascript; charset=utf-8')
    for (const url of ['/static/nope.css', '/static/index.html', '/static/..%2Fapp.ts']) {
      assert.equal((await app.inject(url)).statusCode, 404, url)
    }
  })

  test(`[${backend.name}] /ws/users/ (CRUD, hashed passwords, instance subscriptions), /ws/users/paginated/ and /ws/users/streamed/`, async (t) => {
    const app = await start(t, backend)

    // Paginated and streamed lists: 2 users a page by default.
    const page = (results: unknown[], offset: number, limit = 2) => ({ count: 3, results, limit, offset })
    const paginated = await Client.open(app, '/ws/users/paginated/')
    assert.deepEqual(await paginated.request({ action: 'list', request_id: 1 }), reply('list', page([u1, u2], 0), 200, 1))
    assert.deepEqual(await paginated.request({ action: 'list', request_id: 2, offset: 2 }), reply('list', page([u3], 2), 200, 2))
    assert.deepEqual(await paginated.request({ action: 'list', request_id: 3, limit: 3 }), reply('list', page([u1, u2, u3], 0, 3), 200, 3))

    const streamed = await Client.open(app, '/ws/users/streamed/')
    streamed.send({ action: 'list', request_id: 's' })
    assert.deepEqual(await streamed.next(), reply('list', page([u1, u2], 0), 200, 's'))
    assert.deepEqual(await streamed.next(), reply('list', page([u3], 2), 200, 's'))
    await nothingElse(streamed)
    // Cancelled after the first page: the rest never comes.
    assert.deepEqual(await streamed.request({ action: 'list', request_id: 'c', limit: 1 }), reply('list', page([u1], 0, 1), 200, 'c'))
    assert.deepEqual(await streamed.request({ action: 'list_cancel', request_id: 'x' }), reply('list_cancel', null, 200, 'x'))
    await sleep(150)
    assert.deepEqual(streamed.frames, [])

    // The generic consumer: DCRF's six actions; a watcher subscribed to the row it changes.
    const client = await Client.open(app, '/ws/users/')
    const watcher = await Client.open(app, '/ws/users/')
    const u4 = { id: 4, username: 'test4', email: '4@example.com' }
    assert.deepEqual(await client.request({ action: 'list', request_id: 1 }), reply('list', [u1, u2, u3], 200, 1))
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 2, pk: 2 }), reply('retrieve', u2, 200, 2))
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 3, pk: 99 }), reply('retrieve', null, 404, 3, ['Not found']))
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 4, data: { username: 'test4', email: '4@example.com', password: 'testpassword123' } }),
      reply('create', u4, 201, 4)
    )
    await tokenOf(app, 'test4', 'testpassword123')
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 5, data: { username: 'test5' } }),
      reply('create', null, 400, 5, [{ email: ['This field is required.'], password: ['This field is required.'] }])
    )
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 6, data: { username: 'test1', email: 'x@example.com', password: 'p' } }),
      reply('create', null, 400, 6, [{ username: ['user with this username already exists.'] }])
    )

    assert.deepEqual(await watcher.request({ action: 'subscribe_instance', request_id: 'w', pk: 4 }), reply('subscribe_instance', null, 201, 'w'))
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 7, pk: 4, data: { email: 'edited@example.com' } }),
      reply('patch', { ...u4, email: 'edited@example.com' }, 200, 7)
    )
    assert.deepEqual(await watcher.next(), reply('update', { ...u4, email: 'edited@example.com' }, 200, 'w'))
    assert.deepEqual(
      await client.request({ action: 'update', request_id: 8, pk: 4, data: { username: 'user 4', email: '4@example.com', password: 'changed' } }),
      reply('update', { ...u4, username: 'user 4' }, 200, 8)
    )
    assert.deepEqual(await watcher.next(), reply('update', { ...u4, username: 'user 4' }, 200, 'w'))
    // Only create writes a password: the update left it as it was.
    await tokenOf(app, 'user 4', 'testpassword123')
    assert.deepEqual(
      await client.request({ action: 'update', request_id: 9, pk: 4, data: { username: 'user 4' } }),
      reply('update', null, 400, 9, [{ email: ['This field is required.'] }])
    )
    assert.deepEqual(await client.request({ action: 'delete', request_id: 10, pk: 4 }), reply('delete', null, 204, 10))
    assert.deepEqual(await watcher.next(), reply('delete', { pk: 4 }, 204, 'w'))

    assert.deepEqual(await watcher.request({ action: 'subscribe_instance', request_id: 'x', pk: 1 }), reply('subscribe_instance', null, 201, 'x'))
    assert.deepEqual(await watcher.request({ action: 'unsubscribe_instance', request_id: 'x', pk: 1 }), reply('unsubscribe_instance', null, 204, 'x'))
    await client.request({ action: 'patch', request_id: 11, pk: 1, data: { email: 'quiet@example.com' } })
    await nothingElse(watcher)
  })

  test(`[${backend.name}] /ws/comments/: CRUD and the model observer, filtered by user`, async (t) => {
    const app = await start(t, backend)
    const writer = await Client.open(app, '/ws/comments/')
    const all = await Client.open(app, '/ws/comments/')
    const two = await Client.open(app, '/ws/comments/')
    const event = (action: string, id: number, text: string, user: number, requestId: unknown) => reply(action, { id, text, user }, 200, requestId)

    assert.deepEqual(await all.request({ action: 'subscribe_to_comment_activity', request_id: 'all' }), reply('subscribe_to_comment_activity', null, 201, 'all'))
    assert.deepEqual(await two.request({ action: 'subscribe_to_user_comments', request_id: 'two', user_pk: 2 }), reply('subscribe_to_user_comments', null, 201, 'two'))
    assert.deepEqual(
      await two.request({ action: 'subscribe_to_user_comments', request_id: 'bad' }),
      reply('subscribe_to_user_comments', null, 400, 'bad', [{ user_pk: ['This field is required.'] }])
    )

    assert.deepEqual(await writer.request({ action: 'create', request_id: 1, data: { text: 'by one', user: 1 } }), reply('create', { id: 1, text: 'by one', user: 1 }, 201, 1))
    assert.deepEqual(await all.next(), event('create', 1, 'by one', 1, 'all'))
    // Another user's comments never reach the filtered subscriber.
    await nothingElse(two)

    assert.deepEqual(await writer.request({ action: 'create', request_id: 2, data: { text: 'by two', user: 2 } }), reply('create', { id: 2, text: 'by two', user: 2 }, 201, 2))
    assert.deepEqual(await all.next(), event('create', 2, 'by two', 2, 'all'))
    assert.deepEqual(await two.next(), event('create', 2, 'by two', 2, 'two'))
    assert.deepEqual(await writer.request({ action: 'patch', request_id: 3, pk: 2, data: { text: 'edited' } }), reply('patch', { id: 2, text: 'edited', user: 2 }, 200, 3))
    assert.deepEqual(await all.next(), event('update', 2, 'edited', 2, 'all'))
    assert.deepEqual(await two.next(), event('update', 2, 'edited', 2, 'two'))
    // A comment handed to user 2 enters that user's group.
    await writer.request({ action: 'patch', request_id: 4, pk: 1, data: { user: 2 } })
    assert.deepEqual(await all.next(), event('update', 1, 'by one', 2, 'all'))
    assert.deepEqual(await two.next(), event('create', 1, 'by one', 2, 'two'))
    assert.deepEqual(await writer.request({ action: 'delete', request_id: 5, pk: 2 }), reply('delete', null, 204, 5))
    assert.deepEqual(await all.next(), event('delete', 2, 'edited', 2, 'all'))
    assert.deepEqual(await two.next(), event('delete', 2, 'edited', 2, 'two'))

    assert.deepEqual(await writer.request({ action: 'list', request_id: 6 }), reply('list', [{ id: 1, text: 'by one', user: 2 }], 200, 6))
    assert.deepEqual(
      await writer.request({ action: 'create', request_id: 7, data: { text: 'nobody', user: 99 } }),
      reply('create', null, 400, 7, [{ user: ['Invalid pk "99" - object does not exist.'] }])
    )

    assert.deepEqual(
      await all.request({ action: 'unsubscribe_from_comment_activity', request_id: 'all', user_pk: 'comments.#' }),
      reply('unsubscribe_from_comment_activity', null, 400, 'all', [{ user_pk: ['A valid integer is required.'] }])
    )
    assert.deepEqual(await all.request({ action: 'unsubscribe_from_comment_activity', request_id: 'all' }), reply('unsubscribe_from_comment_activity', null, 204, 'all'))
    await writer.request({ action: 'create', request_id: 8, data: { text: 'late', user: 2 } })
    // (id 3 went to the refused insert: a sequence never goes back)
    assert.deepEqual(await two.next(), event('create', 4, 'late', 2, 'two'))
    await nothingElse(all)
  })

  test(`[${backend.name}] /ws/users/: the model observer on users (subscribe_to_users), and /client.js`, async (t) => {
    const app = await start(t, backend)
    const writer = await Client.open(app, '/ws/users/')
    const watcher = await Client.open(app, '/ws/users/')
    const event = (action: string, data: unknown) => reply(action, data, 200, 'users')

    assert.deepEqual(await watcher.request({ action: 'subscribe_to_users', request_id: 'users' }), reply('subscribe_to_users', null, 201, 'users'))
    const created = { id: 4, username: 'live', email: 'live@example.com' }
    assert.deepEqual(
      await writer.request({ action: 'create', request_id: 1, data: { ...created, id: undefined, password: 'secret123' } }),
      reply('create', created, 201, 1)
    )
    // Serialized as the users serializer sends them: never the password, nor its hash.
    assert.deepEqual(await watcher.next(), event('create', created))
    await writer.request({ action: 'patch', request_id: 2, pk: 4, data: { email: 'edited@example.com' } })
    assert.deepEqual(await watcher.next(), event('update', { ...created, email: 'edited@example.com' }))
    // Over REST, without any socket, too.
    const token = await tokenOf(app, 'test2', 'password2')
    const rest = await app.inject({ method: 'PATCH', url: '/api/users/2', payload: { email: 'rest@example.com' }, headers: { authorization: `Bearer ${token}` } })
    assert.equal(rest.statusCode, 200)
    assert.deepEqual(await watcher.next(), event('update', { ...u2, email: 'rest@example.com' }))
    assert.deepEqual(await writer.request({ action: 'delete', request_id: 3, pk: 4 }), reply('delete', null, 204, 3))
    assert.deepEqual(await watcher.next(), event('delete', { ...created, email: 'edited@example.com' }))
    // The writer never subscribed: its socket carried only its replies.
    await nothingElse(writer)

    assert.deepEqual(await watcher.request({ action: 'unsubscribe_from_users', request_id: 'users' }), reply('unsubscribe_from_users', null, 204, 'users'))
    await writer.request({ action: 'patch', request_id: 4, pk: 1, data: { email: 'after@example.com' } })
    await nothingElse(watcher)

    // The pages' client, bundled at start.
    const client = await app.inject('/client.js')
    assert.equal(client.statusCode, 200)
    assert.equal(client.headers['content-type'], 'text/javascript; charset=utf-8')
    assert.match(client.body, /export\s*\{[^}]*\bconnect\b/)
    assert.doesNotMatch(client.body, /drizzle|fastify/i)
  })

  test(`[${backend.name}] tokens on sockets: /ws/me/ (401 without one, whoami) and /ws/rest/users/ (view as consumer)`, async (t) => {
    const app = await start(t, backend)
    assert.equal(await Client.refused(app, '/ws/me/'), 401)
    assert.equal(await Client.refused(app, '/ws/me/?token=forged.token'), 401)
    const token = await tokenOf(app, 'test1', 'password1')
    // A token signed for another payload does not pass.
    const [, signature] = token.split('.')
    const forged = `${Buffer.from(JSON.stringify({ sub: 2, exp: 9999999999 })).toString('base64url')}.${signature}`
    assert.equal(await Client.refused(app, `/ws/me/?token=${forged}`), 401)

    const me = await Client.open(app, `/ws/me/?token=${token}`)
    assert.deepEqual(await me.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 1, username: 'test1' }, 200, 1))
    const withHeader = await Client.open(app, '/ws/me/', { headers: { authorization: `Bearer ${await tokenOf(app, 'test2', 'password2')}` } })
    assert.deepEqual(await withHeader.request({ action: 'whoami', request_id: 2 }), reply('whoami', { id: 2, username: 'test2' }, 200, 2))

    // The REST routes over a socket: the socket's token reaches them as a bearer header.
    const client = await Client.open(app, `/ws/rest/users/?token=${token}`)
    assert.deepEqual(await client.request({ action: 'list', request_id: 1 }), reply('list', [u1, u2, u3], 200, 1))
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 2, parameters: { id: 2 } }), reply('retrieve', u2, 200, 2))
    assert.deepEqual(await client.request({ action: 'retrieve', request_id: 3, parameters: { id: 99 } }), reply('retrieve', { detail: 'Not found.' }, 404, 3))
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 4, data: { username: 'rest', email: 'rest@example.com', password: 'pw' } }),
      reply('create', { id: 4, username: 'rest', email: 'rest@example.com' }, 201, 4)
    )
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 5, data: { username: 'rest' } }),
      reply('create', { email: ['This field is required.'], password: ['This field is required.'] }, 400, 5)
    )
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 6, parameters: { id: 1 }, data: { email: 'mine@example.com' } }),
      reply('patch', { ...u1, email: 'mine@example.com' }, 200, 6)
    )
    assert.deepEqual(
      await client.request({ action: 'patch', request_id: 7, parameters: { id: 2 }, data: { email: 'theirs@example.com' } }),
      reply('patch', { detail: 'You do not have permission to perform this action.' }, 403, 7)
    )
    assert.deepEqual(await client.request({ action: 'delete', request_id: 8, parameters: { id: 1 } }), reply('delete', null, 405, 8, ['Method "delete" not allowed.']))
    const anonymous = await Client.open(app, '/ws/rest/users/')
    assert.deepEqual(
      await anonymous.request({ action: 'patch', request_id: 9, parameters: { id: 1 }, data: {} }),
      reply('patch', { detail: 'Authentication credentials were not provided.' }, 401, 9)
    )
  })

  test(`[${backend.name}] /ws/chat/room/: join, current users, live messages, leave and disconnect`, async (t) => {
    const app = await start(t, backend)
    assert.equal(await Client.refused(app, '/ws/chat/room/'), 401)
    const one = await Client.open(app, `/ws/chat/room/?token=${await tokenOf(app, 'test1', 'password1')}`)
    const two = await Client.open(app, `/ws/chat/room/?token=${await tokenOf(app, 'test2', 'password2')}`)
    const three = await Client.open(app, `/ws/chat/room/?token=${await tokenOf(app, 'test3', 'password3')}`)
    const member1 = { id: 1, username: 'test1' }
    const member2 = { id: 2, username: 'test2' }

    assert.deepEqual(await one.request({ action: 'join_room', request_id: 'j1', pk: 1 }), reply('join_room', null, 200, 'j1'))
    assert.deepEqual(await one.next(), reply('update_users', [member1], 200, 'j1'))
    assert.deepEqual(await one.request({ action: 'subscribe_to_messages_in_room', request_id: 'm1', pk: 1 }), reply('subscribe_to_messages_in_room', null, 201, 'm1'))
    assert.deepEqual(await two.request({ action: 'join_room', request_id: 'j2', pk: '1' }), reply('join_room', null, 200, 'j2'))
    assert.deepEqual(await two.next(), reply('update_users', [member1, member2], 200, 'j2'))
    assert.deepEqual(await one.next(), reply('update_users', [member1, member2], 200, 'j1'))
    assert.deepEqual(await two.request({ action: 'subscribe_to_messages_in_room', request_id: 'm2', pk: 1 }), reply('subscribe_to_messages_in_room', null, 201, 'm2'))

    const sent = await two.request({ action: 'create_message', request_id: 's', message: 'hello from two' })
    const message = sent.data
    assert.deepEqual(Object.keys(message), ['id', 'room', 'user', 'text', 'created_at', 'created_at_formatted'])
    assert.deepEqual({ ...message, created_at: null, created_at_formatted: null }, { id: 1, room: 1, user: member2, text: 'hello from two', created_at: null, created_at_formatted: null })
    assert.ok(Math.abs(Date.parse(message.created_at) - Date.now()) < 60_000, message.created_at)
    assert.match(message.created_at_formatted, /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/)
    assert.deepEqual(sent, reply('create_message', message, 201, 's'))
    assert.deepEqual(await two.next(), reply('create', message, 200, 'm2'))
    assert.deepEqual(await one.next(), reply('create', message, 200, 'm1'))

    const room = { pk: 1, name: 'general', host: member1, messages: [message], current_users: [member1, member2], last_message: message }
    assert.deepEqual(await three.request({ action: 'retrieve', request_id: 'r', pk: 1 }), reply('retrieve', room, 200, 'r'))
    assert.deepEqual(await three.request({ action: 'create_message', request_id: 'x', message: 'not joined' }), reply('create_message', null, 400, 'x', ['Join a room before sending messages.']))
    assert.deepEqual(await three.request({ action: 'join_room', request_id: 'y', pk: 99 }), reply('join_room', null, 404, 'y', ['Not found']))
    assert.deepEqual(await three.request({ action: 'subscribe_instance', request_id: 'i', pk: 1 }), reply('subscribe_instance', null, 201, 'i'))
    await app.dcrf.db.update(rooms).set({ name: 'general chat' }).where(eq(rooms.id, 1))
    assert.deepEqual(await three.next(), reply('update', { ...room, name: 'general chat' }, 200, 'i'))
    // Only the room's members heard of the members; only subscribers of the room's messages of those.
    await nothingElse(three)

    assert.deepEqual(await two.request({ action: 'leave_room', request_id: 'l', pk: 1 }), reply('leave_room', null, 200, 'l'))
    assert.deepEqual(await one.next(), reply('update_users', [member1], 200, 'j1'))
    await two.request({ action: 'join_room', request_id: 'j2', pk: 1 })
    assert.deepEqual(await two.next(), reply('update_users', [member1, member2], 200, 'j2'))
    assert.deepEqual(await one.next(), reply('update_users', [member1, member2], 200, 'j1'))
    two.close()
    assert.deepEqual(await one.next(), reply('update_users', [member1], 200, 'j1'))
    await nothingElse(one)
  })

  test(`[${backend.name}] /ws: the multiplexed streams things (pk) and things_with_id (id)`, async (t) => {
    const app = await start(t, backend)
    const client = await Client.open(app, '/ws')
    const watcher = await Client.open(app, '/ws')
    let id = 2
    for (const [stream, key, other] of [['things', 'pk', 'things_with_id'], ['things_with_id', 'id', 'things']]) {
      const thing = (pk: number, name: string, counter: number) => ({ [key]: pk, name, counter })
      const ask = async (payload: Record<string, unknown>) => {
        const answer = await client.request(wrap(stream, payload))
        assert.equal(answer.stream, stream)
        return answer.payload
      }
      assert.deepEqual(await ask({ action: 'list', request_id: 1 }), reply('list', [thing(1, 'first', 0), thing(2, 'second', 0)], 200, 1))
      assert.deepEqual(await ask({ action: 'retrieve', request_id: 2, pk: 2 }), reply('retrieve', thing(2, 'second', 0), 200, 2))
      id++
      assert.deepEqual(await ask({ action: 'create', request_id: 3, data: { name: 'made' } }), reply('create', thing(id, 'made', 0), 201, 3))
      // Subscribed through this stream and through the other: each gets its own serialization.
      assert.deepEqual(await watcher.request(wrap(stream, { action: 'subscribe_instance', request_id: 'a', pk: id })), wrap(stream, reply('subscribe_instance', null, 201, 'a')))
      assert.deepEqual(await watcher.request(wrap(other, { action: 'subscribe_instance', request_id: 'b', pk: id })), wrap(other, reply('subscribe_instance', null, 201, 'b')))
      const otherThing = (name: string, counter: number) => ({ [other === 'things' ? 'pk' : 'id']: id, name, counter })
      const events = async () => [await watcher.next(), await watcher.next()].sort((x, y) => x.stream.localeCompare(y.stream))
      const both = (action: string, mine: unknown, theirs: unknown, status = 200) =>
        [wrap(stream, reply(action, mine, status, 'a')), wrap(other, reply(action, theirs, status, 'b'))].sort((x, y) => x.stream.localeCompare(y.stream))

      assert.deepEqual(await ask({ action: 'update', request_id: 4, pk: id, data: { name: 'updated', counter: 1 } }), reply('update', thing(id, 'updated', 1), 200, 4))
      assert.deepEqual(await events(), both('update', thing(id, 'updated', 1), otherThing('updated', 1)))
      assert.deepEqual(await ask({ action: 'patch', request_id: 5, pk: id, data: { counter: 2 } }), reply('patch', thing(id, 'updated', 2), 200, 5))
      assert.deepEqual(await events(), both('update', thing(id, 'updated', 2), otherThing('updated', 2)))
      assert.deepEqual(await watcher.request(wrap(other, { action: 'unsubscribe_instance', request_id: 'b', pk: id })), wrap(other, reply('unsubscribe_instance', null, 204, 'b')))
      assert.deepEqual(await ask({ action: 'delete', request_id: 6, pk: id }), reply('delete', null, 204, 6))
      assert.deepEqual(await watcher.next(), wrap(stream, reply('delete', { pk: id }, 204, 'a')))
      assert.deepEqual(await ask({ action: 'retrieve', request_id: 7, pk: id }), reply('retrieve', null, 404, 7, ['Not found']))
      await nothingElse(watcher)
    }
    assert.deepEqual(await client.request(wrap('nope', { action: 'list', request_id: 8 })), wrap('nope', reply('list', null, 404, 8, ['Unknown stream "nope".'])))
  })
}

test('/ws/lobby/: the README\'s quick start; seed: false leaves the database empty', async (t) => {
  const app = await start(t, pglite, { seed: false })
  const ada = await Client.open(app, '/ws/lobby/')
  const bob = await Client.open(app, '/ws/lobby/')
  assert.deepEqual(await ada.request({ action: 'set_name', name: 'ada', request_id: 1 }), reply('set_name', { name: 'ada' }, 200, 1))
  assert.deepEqual(await ada.request({ action: 'say', text: 'hello', request_id: 2 }), reply('say', null, 202, 2))
  assert.deepEqual(await ada.next(), reply('message', { name: 'ada', text: 'hello' }, 200, null))
  assert.deepEqual(await bob.next(), reply('message', { name: 'ada', text: 'hello' }, 200, null))
  assert.deepEqual((await app.inject('/api/users/')).json(), [])
  assert.deepEqual((await app.inject('/api/rooms/')).json(), [])
})

test('dataDir: PGlite in a folder keeps its data across restarts; seeding adds only what is missing', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dcrf-example-'))
  t.after(() => rm(dataDir, { recursive: true, force: true }))
  const first = await buildApp({ dataDir })
  try {
    const client = await Client.open(first, '/ws/users/')
    await client.request({ action: 'create', request_id: 1, data: { username: 'kept', email: 'kept@example.com', password: 'pw' } })
  } finally {
    await first.close()
  }
  const second = await buildApp({ dataDir })
  t.after(() => second.close())
  assert.deepEqual((await second.inject('/api/users/')).json(), [u1, u2, u3, { id: 4, username: 'kept', email: 'kept@example.com' }])
  assert.deepEqual((await second.inject('/api/rooms/')).json(), [{ id: 1, name: 'general', host: 1 }])
  await tokenOf(second, 'kept', 'pw')
})

test('two processes sharing PostgreSQL and Redis: comments and the chat reach subscribers of the other process', {
  skip: DATABASE_URL && REDIS_URL ? false : 'DATABASE_URL and REDIS_URL are not both set'
}, async (t) => {
  // Closed in reverse order: the apps, then their schema.
  const closers: Array<() => Promise<unknown>> = []
  t.after(async () => { for (const close of closers.reverse()) await close() })
  const database = await postgresBackend(DATABASE_URL!).database()
  closers.push(() => database.drop())
  // One after the other: both create the tables and seed the same database.
  const writer = await buildApp({ ...database.options, redisUrl: REDIS_URL })
  closers.push(() => writer.close())
  const reader = await buildApp({ ...database.options, redisUrl: REDIS_URL })
  closers.push(() => reader.close())

  const subscriber = await Client.open(reader, '/ws/comments/')
  assert.deepEqual(await subscriber.request({ action: 'subscribe_to_user_comments', user_pk: 1, request_id: 'far' }), reply('subscribe_to_user_comments', null, 201, 'far'))
  const client = await Client.open(writer, '/ws/comments/')
  assert.deepEqual(await client.request({ action: 'create', request_id: 1, data: { text: 'across', user: 1 } }), reply('create', { id: 1, text: 'across', user: 1 }, 201, 1))
  assert.deepEqual(await subscriber.next(), reply('create', { id: 1, text: 'across', user: 1 }, 200, 'far'))

  // The chat too: the room's members and its messages, from one process to the other.
  const one = await Client.open(reader, `/ws/chat/room/?token=${await tokenOf(reader, 'test1', 'password1')}`)
  const two = await Client.open(writer, `/ws/chat/room/?token=${await tokenOf(writer, 'test2', 'password2')}`)
  await one.request({ action: 'join_room', request_id: 'j1', pk: 1 })
  assert.deepEqual(await one.next(), reply('update_users', [{ id: 1, username: 'test1' }], 200, 'j1'))
  await one.request({ action: 'subscribe_to_messages_in_room', request_id: 'm1', pk: 1 })
  await two.request({ action: 'join_room', request_id: 'j2', pk: 1 })
  const both = [{ id: 1, username: 'test1' }, { id: 2, username: 'test2' }]
  assert.deepEqual(await two.next(), reply('update_users', both, 200, 'j2'))
  assert.deepEqual(await one.next(), reply('update_users', both, 200, 'j1'))
  const { data: message } = await two.request({ action: 'create_message', request_id: 's', message: 'across processes' })
  assert.deepEqual(await one.next(), reply('create', message, 200, 'm1'))
})

test('npm start: example/server.ts prints its URL, serves, and exits cleanly on SIGTERM', { timeout: 60_000 }, async () => {
  // On PGlite in memory and the in-process channel layer, whatever the environment says.
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATABASE_URL: '', REDIS_URL: '', DATA_DIR: '', SECRET_KEY: '' }
  const root = new URL('..', import.meta.url)
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', 'example/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  try {
    const lines: string[] = []
    let url: string | undefined
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(line)
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]
      if (url !== undefined) break
    }
    child.stdout.resume()
    assert.ok(url, `no URL line in:\n${lines.join('\n')}`)
    assert.equal(lines.filter((line) => line.includes(url)).length, 1)
    // Without SECRET_KEY: a random secret, and a warning that tokens will not survive a restart.
    assert.equal(lines.filter((line) => /"level":40,.*SECRET_KEY is not set/.test(line)).length, 1, lines.join('\n'))
    const page = await fetch(`${url}/`)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /<title>fastify-dcrf example<\/title>/)
  } finally {
    child.kill('SIGTERM')
  }
  assert.deepEqual(await exited, { code: 0, signal: null })
})

// ---- The example teaches safe patterns: what an attacker tries, and what they get ----------------

/** Log lines of an app, parsed; `logger` to pass to `buildApp`. */
function logCollector (): { logs: Array<Record<string, any>>, logger: ExampleOptions['logger'] } {
  const logs: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line))
      callback()
    }
  })
  return { logs, logger: { level: 'info', stream } }
}

const errorLines = (logs: Array<Record<string, any>>) => logs.filter((line) => line.level >= 50)

/** The close code and reason of a client's socket; fails if it is not closed within 5 s. */
async function closedSoon (client: Client): Promise<{ code: number, reason: string }> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('the socket was not closed within 5 s')), 5000) })
  try {
    return await Promise.race([client.closed, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A token as the example signs them, under `secret`, for user `sub` of `app` as they are now. */
async function tokenSignedWith (app: FastifyInstance, secret: string, sub: number): Promise<string> {
  const [{ password }] = await app.dcrf.db.select().from(users).where(eq(users.id, sub))
  const payload = Buffer.from(JSON.stringify({ sub, pwd: passwordStamp(password), exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`
}

for (const backend of backends) {
  test(`[${backend.name}] /ws/users/ is open, but only create writes a password: update and patch ignore it`, async (t) => {
    const app = await start(t, backend)
    const passwordOf = async (id: number) => (await app.dcrf.db.select().from(users).where(eq(users.id, id)))[0].password
    const before = await passwordOf(1)
    const anonymous = await Client.open(app, '/ws/users/')
    assert.deepEqual(
      await anonymous.request({ action: 'patch', request_id: 1, pk: 1, data: { password: 'hijacked' } }),
      reply('patch', u1, 200, 1)
    )
    assert.deepEqual(
      await anonymous.request({ action: 'update', request_id: 2, pk: 1, data: { username: 'test1', email: 'test1@example.com', password: 'hijacked' } }),
      reply('update', u1, 200, 2)
    )
    assert.equal(await passwordOf(1), before)
    const login = (password: string) => app.inject({ method: 'POST', url: '/api/login', payload: { username: 'test1', password } })
    assert.equal((await login('hijacked')).statusCode, 401)
    await tokenOf(app, 'test1', 'password1')

    // The owner changes it over REST, with their token; nobody else can.
    const patch = (payload: object, token?: string) =>
      app.inject({ method: 'PATCH', url: '/api/users/1', payload, headers: token ? { authorization: `Bearer ${token}` } : {} })
    assert.equal((await patch({ password: 'stolen' })).statusCode, 401)
    assert.equal((await patch({ password: 'stolen' }, await tokenOf(app, 'test2', 'password2'))).statusCode, 403)
    const changed = await patch({ password: 'renewed' }, await tokenOf(app, 'test1', 'password1'))
    assert.equal(changed.statusCode, 200)
    assert.deepEqual(changed.json(), u1)
    assert.equal((await login('password1')).statusCode, 401)
    await tokenOf(app, 'test1', 'renewed')
    assert.equal((await login('stolen')).statusCode, 401)

    // The pages say what this consumer is.
    assert.match((await app.inject('/')).body, /<code>\/ws\/users\/<\/code> is DCRF's open demo consumer/)
    assert.match((await app.inject('/users/')).body, /An open demo consumer[\s\S]*anyone connected can create, change and delete any\s+user/)
  })

  test(`[${backend.name}] POST /api/login: NUL, lone surrogates, non-strings and huge values are a 400 or 401, never a 500 nor an error log`, async (t) => {
    const { logs, logger } = logCollector()
    const app = await start(t, backend, { logger })
    const bodies: unknown[] = [
      { username: 'test\u00001', password: 'password1' },
      { username: 'test1', password: 'password\u00001' },
      { username: '\ud800', password: 'password1' },
      { username: 'test1', password: 'x\udc00' },
      { username: 'test1\ud83d', password: '\ude00' },
      { username: 42, password: 'password1' },
      { username: { $ne: '' }, password: 'password1' },
      { username: ['test1'], password: 'password1' },
      { username: null, password: null },
      { username: true, password: 1.5 },
      { username: 'x'.repeat(100_000), password: 'password1' },
      { username: 'test1', password: 'x'.repeat(100_000) },
      {},
      'test1',
      [],
      null
    ]
    for (const body of bodies) {
      const response = await app.inject({ method: 'POST', url: '/api/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
      assert.ok([400, 401].includes(response.statusCode), `${JSON.stringify(body).slice(0, 60)}: ${response.statusCode} ${response.body.slice(0, 200)}`)
    }
    const nul = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'test\u00001', password: 'password1' } })
    assert.deepEqual(nul.json(), { username: ['Null characters are not allowed.'] })
    const listed = await app.inject({ method: 'POST', url: '/api/login', payload: { username: ['test1'], password: 'password1' } })
    assert.equal(listed.statusCode, 400)
    const surrogate = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'test1', password: 'x\udc00' } })
    assert.deepEqual(surrogate.json(), { password: ['Not a valid string.'] })
    assert.deepEqual(errorLines(logs), [])
    // The socket's sign-up refuses the same text with the same messages.
    const client = await Client.open(app, '/ws/users/')
    assert.deepEqual(
      await client.request({ action: 'create', request_id: 1, data: { username: 'a\u0000', email: 'a@example.com', password: 'pw' } }),
      reply('create', null, 400, 1, [{ username: ['Null characters are not allowed.'] }])
    )
    assert.deepEqual(errorLines(logs), [])
  })

  test(`[${backend.name}] a deleted user's token is refused, and their open sockets stop serving them`, async (t) => {
    const app = await start(t, backend)
    const token = await tokenOf(app, 'test2', 'password2')
    const me = await Client.open(app, `/ws/me/?token=${token}`)
    const chat = await Client.open(app, `/ws/chat/room/?token=${token}`)
    assert.deepEqual(await me.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 2, username: 'test2' }, 200, 1))
    assert.deepEqual(await chat.request({ action: 'join_room', request_id: 'j', pk: 1 }), reply('join_room', null, 200, 'j'))
    assert.deepEqual(await chat.next(), reply('update_users', [{ id: 2, username: 'test2' }], 200, 'j'))
    // A rename reaches the open socket.
    await app.inject({ method: 'PATCH', url: '/api/users/2', payload: { username: 'two' }, headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual(await me.request({ action: 'whoami', request_id: 2 }), reply('whoami', { id: 2, username: 'two' }, 200, 2))

    // Deleted through the app: both sockets are closed with 4401.
    const users = await Client.open(app, '/ws/users/')
    assert.deepEqual(await users.request({ action: 'delete', request_id: 1, pk: 2 }), reply('delete', null, 204, 1))
    assert.deepEqual(await closedSoon(me), { code: 4401, reason: 'User deleted.' })
    assert.deepEqual(await closedSoon(chat), { code: 4401, reason: 'User deleted.' })
    assert.deepEqual(me.frames, [])
    assert.equal(await Client.refused(app, `/ws/me/?token=${token}`), 401)
    assert.equal(await Client.refused(app, `/ws/chat/room/?token=${token}`), 401)
    const rest = await app.inject({ method: 'PATCH', url: '/api/users/2', payload: { email: 'ghost@example.com' }, headers: { authorization: `Bearer ${token}` } })
    assert.equal(rest.statusCode, 401)

    // Deleted where no observer sees it (triggers off, as a replica applies rows; or an event lost):
    // the next action re-reads the user and is refused.
    const three = await tokenOf(app, 'test3', 'password3')
    const other = await Client.open(app, `/ws/me/?token=${three}`)
    const room = await Client.open(app, `/ws/chat/room/?token=${three}`)
    assert.deepEqual(await other.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 3, username: 'test3' }, 200, 1))
    await app.dcrf.db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`)
      await tx.execute(sql`delete from users where id = 3`)
    })
    const refused = (action: string) => reply(action, null, 401, 2, ['Incorrect authentication credentials.'])
    assert.deepEqual(await other.request({ action: 'whoami', request_id: 2 }), refused('whoami'))
    assert.deepEqual(await room.request({ action: 'retrieve', request_id: 2, pk: 1 }), refused('retrieve'))
    assert.equal(await Client.refused(app, `/ws/me/?token=${three}`), 401)
  })

  test(`[${backend.name}] a new password ends the tokens of the old one, on open sockets too`, async (t) => {
    const app = await start(t, backend)
    const old = await tokenOf(app, 'test1', 'password1')
    const me = await Client.open(app, `/ws/me/?token=${old}`)
    const patch = (payload: object, token: string) =>
      app.inject({ method: 'PATCH', url: '/api/users/1', payload, headers: { authorization: `Bearer ${token}` } })
    // Another field changes nothing.
    assert.equal((await patch({ email: 'one@example.com' }, old)).statusCode, 200)
    assert.deepEqual(await me.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 1, username: 'test1' }, 200, 1))
    assert.equal((await patch({ password: 'renewed' }, old)).statusCode, 200)
    assert.deepEqual(await closedSoon(me), { code: 4401, reason: 'Password changed.' })
    assert.equal(await Client.refused(app, `/ws/me/?token=${old}`), 401)
    assert.equal((await patch({ email: 'again@example.com' }, old)).statusCode, 401)
    const fresh = await tokenOf(app, 'test1', 'renewed')
    const again = await Client.open(app, `/ws/me/?token=${fresh}`)
    assert.deepEqual(await again.request({ action: 'whoami', request_id: 2 }), reply('whoami', { id: 1, username: 'test1' }, 200, 2))

    // Changed where no observer sees it: the next action is refused.
    await app.dcrf.db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`)
      await tx.execute(sql`update users set password = 'scrypt$x$y' where id = 1`)
    })
    assert.deepEqual(await again.request({ action: 'whoami', request_id: 3 }), reply('whoami', null, 401, 3, ['Incorrect authentication credentials.']))
  })

  test(`[${backend.name}] lists are bounded: GET /api/users/ and /api/rooms/ send at most 100, paginated limits are capped`, async (t) => {
    const app = await start(t, backend)
    await app.dcrf.db.insert(users).values(Array.from({ length: 120 }, (_, i) => ({ username: `bulk${i}`, email: `bulk${i}@example.com`, password: '' })))
    const list = async (query = '') => {
      const response = await app.inject(`/api/users/${query}`)
      return { status: response.statusCode, body: response.json() }
    }
    const first = await list()
    assert.equal(first.status, 200)
    assert.equal(first.body.length, 100)
    assert.deepEqual(first.body.slice(0, 3), [u1, u2, u3])
    const rest = await list('?offset=100')
    assert.deepEqual(rest.body.map((user: { id: number }) => user.id), Array.from({ length: 23 }, (_, i) => 101 + i))
    assert.deepEqual((await list('?limit=2&offset=1')).body, [u2, u3])
    for (const query of ['?limit=101', '?limit=0', '?offset=-1', '?limit=x']) assert.equal((await list(query)).status, 400, query)

    await app.dcrf.db.insert(rooms).values(Array.from({ length: 120 }, (_, i) => ({ name: `room ${String(i).padStart(3, '0')}`, host: 1 })))
    const roomList = await app.inject('/api/rooms/')
    assert.equal(roomList.json().length, 100)
    assert.equal((await app.inject('/api/rooms/?offset=100')).json().length, 21)
    assert.equal((await app.inject('/api/rooms/?limit=1000')).statusCode, 400)

    const paginated = await Client.open(app, '/ws/users/paginated/')
    const page = await paginated.request({ action: 'list', request_id: 1, limit: 1_000_000 })
    assert.equal(page.data.limit, 100)
    assert.equal(page.data.results.length, 100)
    assert.equal(page.data.count, 123)
  })

  test(`[${backend.name}] a server fault answers 500 without its message, logged once at error`, async (t) => {
    const { logs, logger } = logCollector()
    const app = await start(t, backend, { logger })
    await app.dcrf.db.execute(sql`drop table rooms cascade`)
    const response = await app.inject('/api/rooms/')
    assert.equal(response.statusCode, 500)
    assert.deepEqual(response.json(), { detail: 'A server error occurred.' })
    assert.equal(errorLines(logs).length, 1)
    // Client errors keep their message.
    const bad = await app.inject({ method: 'POST', url: '/api/rooms/', payload: {} })
    assert.equal(bad.statusCode, 400)
  })
}

test('tokens: without SECRET_KEY a random secret, with a warning; the old default secret is refused', async (t) => {
  const { logs, logger } = logCollector()
  const app = await start(t, pglite, { logger })
  const warnings = logs.filter((line) => line.level === 40 && /SECRET_KEY is not set.*will not survive a restart/.test(line.msg))
  assert.equal(warnings.length, 1)
  // The secret the source once held signs nothing now.
  const old = await tokenSignedWith(app, 'fastify-dcrf example secret: set SECRET_KEY outside development', 1)
  assert.equal(await Client.refused(app, `/ws/me/?token=${old}`), 401)
  const patch = await app.inject({ method: 'PATCH', url: '/api/users/1', payload: { email: 'x@example.com' }, headers: { authorization: `Bearer ${old}` } })
  assert.equal(patch.statusCode, 401)
  const random = await tokenOf(app, 'test1', 'password1')
  const me = await Client.open(app, `/ws/me/?token=${random}`)
  assert.deepEqual(await me.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 1, username: 'test1' }, 200, 1))

  // With a secret key, tokens are signed with it, and no warning is logged.
  const keyed = logCollector()
  const withKey = await start(t, pglite, { secretKey: 'a secret of the deployment', logger: keyed.logger })
  assert.deepEqual(keyed.logs.filter((line) => line.level >= 40), [])
  const token = await tokenOf(withKey, 'test1', 'password1')
  const [payload, signature] = token.split('.')
  assert.equal(signature, createHmac('sha256', 'a secret of the deployment').update(payload).digest('base64url'))
  assert.equal(await Client.refused(withKey, `/ws/me/?token=${random}`), 401)
  const signed = await Client.open(withKey, `/ws/me/?token=${await tokenSignedWith(withKey, 'a secret of the deployment', 2)}`)
  assert.deepEqual(await signed.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 2, username: 'test2' }, 200, 1))
})

test('logs: every token parameter of a URL is redacted, however its name is encoded', () => {
  assert.equal(redactTokens('/ws/me/?token=abc'), '/ws/me/?token=[redacted]')
  assert.equal(redactTokens('/ws/me/?a=1&token=x&%74oken=y&b=two%20words'), '/ws/me/?a=1&token=[redacted]&token=[redacted]&b=two%20words')
  assert.equal(redactTokens('/ws/lobby/'), '/ws/lobby/')
  assert.equal(redactTokens('/api/users/?limit=2'), '/api/users/?limit=2')
})

test('postgres.js has a connect timeout: a server that never answers fails the start in seconds, not 30', { timeout: 20_000 }, async (t) => {
  // Accepts connections and never says a word, as a stuck server or a black-holed route.
  const sockets = new Set<Socket>()
  const server = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const { port } = server.address() as { port: number }
  await assert.rejects(buildApp({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/test` }), { code: 'CONNECT_TIMEOUT' })
})
