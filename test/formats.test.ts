/**
 * String formats: what each accepts (DRF's meaning), DRF's default lengths, and that hostile
 * strings are refused promptly — each check is linear in the length of what a client sends, so a
 * test here that meets a pattern with super-linear backtracking runs into its timeout instead.
 */
import { after, before, describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as turn } from 'node:timers/promises'
import { date, pgEnum, pgTable, serial, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core'
import { Type } from '@sinclair/typebox'
import { action, crud, defineConsumer, serializer, type Database } from 'fastify-dcrf'
import { databaseValidationError } from '../plugin/db-errors.js'
import { FORMAT_CHECKS } from '../plugin/validation.js'
import { buildApp } from '../example/app.js'
import { backends } from './db.js'
import { build, Client, reply } from './helpers.js'
import type { FastifyInstance } from 'fastify'

// Far below the 1 MiB frame limit, and far beyond what a quadratic check gets through in the timeout.
const HOSTILE = 200_000
// Only the hostile requests are timed: applications and databases start in `before` hooks.
const PROMPTLY = { timeout: 10_000 }
// A timer after a synchronous check: a check that held the event loop past the timeout fails the
// test then, instead of finishing it before the timeout's own timer could run.
const afterTurn = async <T>(value: T): Promise<T> => { await turn(1); return value }

/** What `t.after` gives a test, for setup in a suite's `before` hook: cleaned up in the suite's `after`. */
function suiteContext (): TestContext {
  const cleanups: Array<() => unknown> = []
  after(async () => { for (const cleanup of cleanups.reverse()) await cleanup() })
  return { after: (fn: () => unknown) => { cleanups.push(fn) } } as unknown as TestContext
}

/** `a@a.a.a.…a. ` — the address that made a backtracking email pattern quadratic. */
const hostileEmail = 'a@' + 'a.'.repeat(HOSTILE / 2) + ' '
const hostile: Record<string, string> = {
  email: hostileEmail,
  uri: 'http://' + 'a.'.repeat(HOSTILE / 2) + ' ',
  uuid: '0'.repeat(HOSTILE),
  date: '2024-01-01' + '1'.repeat(HOSTILE),
  'date-time': '2024-01-01T00:00:00.' + '1'.repeat(HOSTILE) + 'x'
}

const samples: Record<string, { valid: string[], invalid: string[] }> = {
  // Django's EmailValidator, as DRF's EmailField runs it.
  email: {
    valid: [
      'alice@example.com', 'a@b.co', 'first.last+tag@sub.example.org', 'o\'hara!#$%&*=?^_`{|}~-@example.com', 'a@localhost',
      '"john\\ doe"@example.com', '"a@b"@example.com', 'a@[127.0.0.1]', 'a@[::1]', 'a@[2001:db8::1]', 'a@müller.de', 'a@b.xn--p1ai',
      'A@EXAMPLE.COM', `${'x'.repeat(64)}@${'a'.repeat(63)}.com`
    ],
    invalid: [
      '', 'a', '@example.com', 'a@', 'a@b', 'a@b.c', 'a@b.c0m', 'a@b.12', 'a@b.com.', 'a@-b.com', 'a@b-.com', 'a@b..com', `a@${'a'.repeat(64)}.com`,
      '.a@b.com', 'a.@b.com', 'a..b@b.com', 'a b@b.com', 'a@b .com', ' a@b.com', 'a@b.com ', 'a@b\u3000c.com', 'jöe@example.com', '"a"b"@example.com',
      '"john doe"@example.com', 'a@[256.0.0.1]', 'a@[1.2.3]', 'a@[fe80::1%eth0]', 'a@exam_ple.com', `${'a'.repeat(310)}@example.com`, hostileEmail
    ]
  },
  // DRF's DateTimeField: ISO 8601, a real date and time.
  'date-time': {
    valid: ['2024-01-01T00:00:00Z', '2024-01-01T00:00', '2024-01-01 23:59:59.999999', '2024-02-29T12:00:00+05:30', '2024-01-01T00:00:00-0800', '2024-01-01t00:00z'],
    invalid: ['2024-01-01', '2024-02-30T00:00Z', '2023-02-29T00:00Z', '2024-13-01T00:00Z', '2024-01-01T24:00Z', '2024-01-01T00:60Z', '2024-01-01T00:00:60Z',
      '0000-01-01T00:00Z', '2024-01-01T00:00+24:00', '2024-1-01T00:00Z', '2024-01-01T00:00Z ', 'yesterday']
  },
  // DRF's DateField: YYYY-MM-DD, a real date.
  date: {
    valid: ['2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31'],
    invalid: ['2100-02-29', '2024-04-31', '2024-00-10', '2024-1-1', '2024-01-01T00:00Z', '20240101', '']
  },
  uuid: {
    valid: ['123e4567-e89b-12d3-a456-426614174000', '123E4567-E89B-12D3-A456-426614174000', '00000000-0000-0000-0000-000000000000'],
    invalid: ['123e4567e89b12d3a456426614174000', '123e4567-e89b-12d3-a456-42661417400', '123e4567-e89b-12d3-a456-4266141740000', 'g23e4567-e89b-12d3-a456-426614174000', '']
  },
  // DRF's URLField: Django's URLValidator.
  uri: {
    valid: ['https://example.com', 'http://example.com/a/b?c=d#e', 'http://localhost:8000/', 'http://127.0.0.1/', 'http://[::1]:8080/x', 'ftp://files.example.org/x',
      'ftps://example.com', 'HTTPS://EXAMPLE.COM/', 'http://user:pw@example.com/', 'http://münchen.de/', 'http://example.com./'],
    invalid: ['example.com', 'javascript:alert(1)', 'mailto:a@b.co', 'file:///etc/passwd', 'http:example.com', 'http://example', 'http://example.c0m',
      'http://exa mple.com', ' http://example.com', 'http://example.com/\n', 'http://example.com/\t', 'http://-a.com', `http://${'a.'.repeat(127)}com`,
      `http://example.com/${'a'.repeat(2048)}`, '']
  }
}

test('every format accepts what DRF accepts and refuses what DRF refuses', () => {
  for (const [format, { valid, invalid }] of Object.entries(samples)) {
    for (const value of valid) assert.equal(FORMAT_CHECKS[format](value), true, `${format}: ${JSON.stringify(value)} is valid`)
    for (const value of invalid) assert.equal(FORMAT_CHECKS[format](value), false, `${format}: ${JSON.stringify(value.slice(0, 80))} is invalid`)
  }
  assert.deepEqual(Object.keys(FORMAT_CHECKS).sort(), Object.keys(samples).sort(), 'every registered format has samples here')
})

test('hostile strings of 200 KB are refused by every format promptly', PROMPTLY, async () => {
  for (const [format, value] of Object.entries(hostile)) assert.equal(await afterTurn(FORMAT_CHECKS[format](value)), false, format)
})

const people = pgTable('people', {
  id: serial('id').primaryKey(),
  email: text('email'),
  workEmail: varchar('work_email', { length: 100 }),
  homepage: text('homepage'),
  token: uuid('token'),
  born: date('born'),
  seen: timestamp('seen', { withTimezone: true })
})
const PEOPLE = 'create table people (id serial primary key, email text, work_email varchar(100), homepage text, token uuid, born date, seen timestamptz)'
const personSerializer = serializer(people, {
  schema: {
    email: Type.String({ format: 'email' }),
    workEmail: Type.String({ format: 'email' }),
    homepage: Type.String({ format: 'uri' })
  }
})

const invalid = (fields: Record<string, string[]>) => ({ statusCode: 400, code: 'DCRF_ERR_VALIDATION', fields })
const rejection = async (promise: Promise<unknown>) => {
  const err = await promise.then(() => assert.fail('expected a validation error'), (e) => e)
  return { statusCode: err.statusCode, code: err.code, fields: err.detail }
}

test('serializer: email and URL fields get DRF\'s default max lengths unless the column or the schema gives one', async () => {
  const { properties } = personSerializer.inputSchema
  const maxLength = (key: string) => {
    const schema = properties[key] as { maxLength?: number, anyOf?: Array<{ maxLength?: number }> }
    return schema.anyOf?.[0].maxLength ?? schema.maxLength
  }
  assert.equal(maxLength('email'), 254, 'EmailField: 254')
  assert.equal(maxLength('workEmail'), 100, 'varchar(100) says otherwise')
  assert.equal(maxLength('homepage'), 200, 'URLField: 200')
  assert.equal(maxLength('token'), undefined, 'a uuid has its fixed length')
  const own = serializer(people, { schema: { email: Type.String({ format: 'email', maxLength: 320 }), homepage: Type.Array(Type.String({ format: 'uri' })) as never } })
  assert.equal((own.inputSchema.properties.email as unknown as { anyOf: Array<{ maxLength?: number }> }).anyOf[0].maxLength, 320, 'an explicit maxLength stays')
  assert.equal((own.inputSchema.properties.homepage as unknown as { anyOf: Array<{ items: { maxLength?: number } }> }).anyOf[0].items.maxLength, 200, 'items of a list too')
  const plain = serializer(people, { schema: { workEmail: Type.String({ minLength: 3 }), email: Type.String() } })
  assert.equal((plain.inputSchema.properties.workEmail as unknown as { anyOf: Array<{ maxLength?: number }> }).anyOf[0].maxLength, 100, 'varchar(100) under any string refinement')
  assert.equal((plain.inputSchema.properties.email as unknown as { anyOf: Array<{ maxLength?: number }> }).anyOf[0].maxLength, undefined, 'a text column without a format has no limit, as a TextField')

  const long = `${'a'.repeat(243)}@example.com` // 255 characters, valid but for its length
  assert.equal(FORMAT_CHECKS.email(long), true)
  assert.deepEqual(await rejection(personSerializer.validate({ email: long, workEmail: `${'a'.repeat(89)}@example.com`, homepage: `https://example.com/${'a'.repeat(181)}` })), invalid({
    email: ['Ensure this field has no more than 254 characters.'],
    workEmail: ['Ensure this field has no more than 100 characters.'],
    homepage: ['Ensure this field has no more than 200 characters.']
  }))
  assert.deepEqual(await personSerializer.validate({ email: long.slice(1), homepage: `https://example.com/${'a'.repeat(180)}` }, { partial: true }),
    { email: long.slice(1), homepage: `https://example.com/${'a'.repeat(180)}` })
})

test('serializer: each format answers with DRF\'s message', async () => {
  assert.deepEqual(await rejection(personSerializer.validate({ email: 'a@b', workEmail: 'a b@c.de', homepage: 'javascript:alert(1)', token: 'x', born: '2024-02-30', seen: '2024-01-01T25:00Z' })), invalid({
    email: ['Enter a valid email address.'],
    workEmail: ['Enter a valid email address.'],
    homepage: ['Enter a valid URL.'],
    token: ['Must be a valid UUID.'],
    born: ['Date has wrong format.'],
    seen: ['Datetime has wrong format.']
  }))
  const valid = { email: 'a@b.co', workEmail: '"a\\ b"@[::1]', homepage: 'https://example.com/', token: '123e4567-e89b-12d3-a456-426614174000', born: '2024-02-29', seen: '2024-02-29T23:59:59Z' }
  const values = await personSerializer.validate(valid)
  assert.deepEqual({ ...values, seen: (values.seen as Date).toISOString() }, { ...valid, seen: '2024-02-29T23:59:59.000Z' })
})

test('serializer: hostile strings of 200 KB in every format field are refused promptly', PROMPTLY, async () => {
  assert.deepEqual(await afterTurn(await rejection(personSerializer.validate({
    email: hostile.email, workEmail: hostile.email, homepage: hostile.uri, token: hostile.uuid, born: hostile.date, seen: hostile['date-time']
  }))), invalid({
    email: ['Ensure this field has no more than 254 characters.'],
    workEmail: ['Ensure this field has no more than 100 characters.'],
    homepage: ['Ensure this field has no more than 200 characters.'],
    token: ['Must be a valid UUID.'],
    born: ['Date has wrong format.'],
    seen: ['Datetime has wrong format.']
  }))
})

const personConsumer = defineConsumer({
  table: people,
  serializer: personSerializer,
  actions: {
    ...crud(),
    // An action's own schema has no default length: the format check alone must be linear.
    contact: action({
      schema: Type.Object({ email: Type.String({ format: 'email' }), homepage: Type.String({ format: 'uri' }) }),
      handler: (_ctx, { email, homepage }) => ({ data: { email, homepage }, status: 200 })
    })
  }
})

const tooLong = (field: string, length: number) => ({ [field]: [`Ensure this field has no more than ${length} characters.`] })

for (const backend of backends) {
  describe(`[${backend.name}] a consumer`, () => {
    let client: Client
    const t = suiteContext()
    before(async () => {
      const { db } = await backend.create(t, PEOPLE)
      const { app } = await build(t, { db: db as Database })
      app.dcrf.consumer('/ws/people/', personConsumer)
      client = await Client.open(app, '/ws/people/')
      t.after(() => client.close())
      assert.equal((await client.request({ action: 'create', request_id: 0, data: { email: 'a@b.co', homepage: 'https://example.com/' } })).response_status, 201)
    })

    // One field a frame: each frame stays well inside the 1 MiB limit.
    const fields: Array<[string, string, Record<string, string[]>]> = [
      ['email', hostile.email, tooLong('email', 254)],
      ['workEmail', hostile.email, tooLong('workEmail', 100)],
      ['homepage', hostile.uri, tooLong('homepage', 200)],
      ['token', hostile.uuid, { token: ['Must be a valid UUID.'] }],
      ['born', hostile.date, { born: ['Date has wrong format.'] }],
      ['seen', hostile['date-time'], { seen: ['Datetime has wrong format.'] }]
    ]
    for (const [field, value, errors] of fields) {
      test(`refuses a hostile ${field} of 200 KB with 400 promptly`, PROMPTLY, async () => {
        assert.deepEqual(await client.request({ action: 'patch', request_id: field, pk: 1, data: { [field]: value } }), reply('patch', null, 400, field, [errors]))
      })
    }

    test('refuses hostile strings in an action\'s own format fields, which have no default length, promptly', PROMPTLY, async () => {
      assert.deepEqual(await client.request({ action: 'contact', request_id: 1, email: hostile.email, homepage: 'https://example.com/' }),
        reply('contact', null, 400, 1, [{ email: ['Enter a valid email address.'] }]))
      assert.deepEqual(await client.request({ action: 'contact', request_id: 2, email: 'a@b.co', homepage: hostile.uri }),
        reply('contact', null, 400, 2, [{ homepage: ['Enter a valid URL.'] }]))
    })

    test('keeps serving: valid values are written and read back', PROMPTLY, async () => {
      assert.deepEqual(await client.request({ action: 'contact', request_id: 3, email: 'a@b.co', homepage: 'http://localhost/' }),
        reply('contact', { email: 'a@b.co', homepage: 'http://localhost/' }, 200, 3))
      const person = { id: 1, email: 'b@example.org', workEmail: 'w@example.org', homepage: 'https://example.com/', token: '123e4567-e89b-12d3-a456-426614174000', born: '2024-02-29', seen: '2024-02-29T23:59:59.000Z' }
      assert.deepEqual(await client.request({ action: 'patch', request_id: 4, pk: 1, data: { ...person, seen: '2024-02-29T23:59:59Z' } }), reply('patch', person, 200, 4))
    })
  })
}

describe('the example', () => {
  let app: FastifyInstance
  before(async () => {
    app = await buildApp({ secretKey: 'formats-test' })
  })
  after(() => app.close())

  test('a hostile email on /ws/users/ and POST /api/users/ is a prompt 400 with DRF\'s message', PROMPTLY, async () => {
    const client = await Client.open(app, '/ws/users/')
    assert.deepEqual(await client.request({ action: 'patch', request_id: 1, pk: 1, data: { email: hostileEmail } }), reply('patch', null, 400, 1, [tooLong('email', 254)]))
    const response = await app.inject({ method: 'POST', url: '/api/users/', payload: { username: 'mallory', email: hostileEmail, password: 'secret-password' } })
    assert.equal(response.statusCode, 400)
    assert.deepEqual(response.json(), tooLong('email', 254))
    // The socket goes on serving.
    assert.equal((await client.request({ action: 'patch', request_id: 2, pk: 1, data: { email: 'new@example.com' } })).data.email, 'new@example.com')
    client.close()
  })
})

const mood = pgEnum('mood', ['sad', 'ok', 'happy'])
const moods = pgTable('moods', { id: serial('id').primaryKey(), mood: mood('mood') })

for (const backend of backends) {
  describe(`[${backend.name}] database messages`, () => {
    let db: Awaited<ReturnType<typeof backend.create>>['db']
    const t = suiteContext()
    before(async () => {
      ({ db } = await backend.create(t, "create type mood as enum ('sad', 'ok', 'happy'); create table moods (id serial primary key, mood mood)"))
    })

    test('a hostile enum value quoted in the message is read promptly', PROMPTLY, async () => {
      // PostgreSQL quotes the value whole; a pattern retried at every "for enum" would be quadratic.
      const value = 'for enum mood: "'.repeat(40_000) + '\n'
      const err = await db.insert(moods).values({ mood: value as never }).then(() => assert.fail('the enum refuses it'), (e: unknown) => e)
      const detail = (await afterTurn(databaseValidationError(err, { table: moods })))?.detail as Record<string, string[]> | undefined
      // compared as a boolean: a failure must not print 640 KB
      assert.ok(detail?.mood?.[0] === `"${value}" is not a valid choice.` && Object.keys(detail).length === 1, 'the enum value, whole, on its field')
    })
  })
}
test('database messages: keys holding line breaks and hostile referencing details are read as PostgreSQL wrote them', PROMPTLY, async () => {
  const users = pgTable('users', { id: serial('id').primaryKey(), username: text('username').notNull().unique() })
  // The shape both drivers give (SQLSTATE, detail); the text is PostgreSQL's own.
  const unique = { code: '23505', message: 'duplicate key value violates unique constraint "users_username_key"', detail: 'Key (username)=(a\nb) already exists.', table_name: 'users' }
  assert.deepEqual(databaseValidationError(unique, { table: users })?.detail, { username: ['user with this username already exists.'] })
  const marker = ' is still referenced from table "'
  const referenced = { code: '23503', message: 'update or delete on table "users" violates foreign key constraint', detail: `Key (username)=(${marker.repeat(20_000)}\n) is still referenced from table "comments".`, table_name: 'users' }
  assert.deepEqual((await afterTurn(databaseValidationError(referenced, { table: users })))?.detail, { non_field_errors: ['This user is still referenced from table "comments".'] })
})
