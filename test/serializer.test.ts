import { test } from 'node:test'
import assert from 'node:assert/strict'
import { asc, eq, sql } from 'drizzle-orm'
import {
  bigint, boolean, char, check, customType, date, integer, jsonb, numeric, pgEnum, pgTable, real, serial, text,
  timestamp, unique, uuid, varchar
} from 'drizzle-orm/pg-core'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { serializer, type inferSerialized, type SerializerContext } from '../plugin/serializer.js'
import { databaseValidationError } from '../plugin/db-errors.js'
import type { Database } from '../types/index.js'
import { backends } from './db.js'

// The DCRF chat tutorial's models, and a table with a column of every kind.
const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: varchar('username', { length: 150 }).notNull().unique(),
  email: text('email').notNull(),
  password: text('password').notNull(),
  isStaff: boolean('is_staff').notNull().default(false),
  lastLogin: timestamp('last_login', { withTimezone: true })
})
const rooms = pgTable('rooms', {
  id: serial('id').primaryKey(),
  name: varchar('name', { length: 255 }).notNull().unique(),
  hostId: integer('host_id').notNull().references(() => users.id)
})
const messages = pgTable('messages', {
  id: serial('id').primaryKey(),
  roomId: integer('room_id').notNull().references(() => rooms.id),
  userId: integer('user_id').notNull().references(() => users.id),
  text: text('text').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
})
const roomUsers = pgTable('room_users', {
  roomId: integer('room_id').notNull().references(() => rooms.id),
  userId: integer('user_id').notNull().references(() => users.id)
}, (t) => [unique('room_users_room_user').on(t.roomId, t.userId)])
const mood = pgEnum('mood', ['sad', 'ok', 'happy'])
const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' })
const samples = pgTable('samples', {
  id: serial('id').primaryKey(),
  n: integer('n'),
  counter: integer('counter').notNull().default(0),
  big: bigint('big', { mode: 'bigint' }),
  price: numeric('price', { precision: 5, scale: 2 }),
  ratio: real('ratio'),
  flag: boolean('flag'),
  day: date('day', { mode: 'date' }),
  at: timestamp('at', { withTimezone: true }),
  meta: jsonb('meta'),
  tags: integer('tags').array(),
  mood: mood('mood'),
  uid: uuid('uid'),
  code: char('code', { length: 3 }),
  blob: bytea('blob')
}, (t) => [check('counter_positive', sql`${t.counter} >= 0`)])

const DDL = `
  create table users (id serial primary key, username varchar(150) not null unique, email text not null, password text not null,
    is_staff boolean not null default false, last_login timestamptz);
  create table rooms (id serial primary key, name varchar(255) not null unique, host_id integer not null references users(id));
  create table messages (id serial primary key, room_id integer not null references rooms(id), user_id integer not null references users(id),
    text text not null, created_at timestamptz not null default now());
  create table room_users (room_id integer not null references rooms(id), user_id integer not null references users(id),
    constraint room_users_room_user unique (room_id, user_id));
  create type mood as enum ('sad', 'ok', 'happy');
  create table samples (id serial primary key, n integer, counter integer not null default 0 constraint counter_positive check (counter >= 0),
    big bigint, price numeric(5, 2), ratio real, flag boolean, day date, at timestamptz, meta jsonb, tags integer[], mood mood, uid uuid,
    code char(3), blob bytea);
`

const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password'],
  schema: { email: Type.String({ format: 'email' }) }
})
const alice = { id: 1, username: 'alice', email: 'alice@example.com', password: 'hash', isStaff: false, lastLogin: null }

/** The DRF error a promise rejects with, as the wire would carry it. */
async function rejection (promise: Promise<unknown>): Promise<{ status: unknown, detail: unknown }> {
  try {
    await promise
  } catch (err) {
    const { statusCode, detail } = err as { statusCode: number, detail: unknown }
    return { status: statusCode, detail }
  }
  assert.fail('expected a rejection')
}

const invalid = (detail: unknown): { status: number, detail: unknown } => ({ status: 400, detail })

// Type-level checks: compared by `tsc --noEmit`, asserted at runtime to keep every test asserting.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false

test('fields choose and order the output; write-only fields never appear', async () => {
  assert.deepEqual(await userSerializer.toRepresentation(alice), { id: 1, username: 'alice', email: 'alice@example.com' })
  assert.deepEqual(userSerializer.fields, ['id', 'username', 'email'])
  assert.deepEqual(userSerializer.writableFields, ['username', 'email', 'password'])
  const reordered = serializer(users, { fields: ['email', 'id'] })
  assert.deepEqual(Object.keys(await reordered.toRepresentation(alice)), ['email', 'id'])
  const excluding = serializer(users, { exclude: ['password'] })
  assert.deepEqual(await excluding.toRepresentation(alice), { id: 1, username: 'alice', email: 'alice@example.com', isStaff: false, lastLogin: null })

  const typed: Equal<inferSerialized<typeof userSerializer>, { id: number, username: string, email: string }> = true
  const typedExclude: Equal<inferSerialized<typeof excluding>, { id: number, username: string, email: string, isStaff: boolean, lastLogin: string | null }> = true
  assert.equal(typed && typedExclude, true)
})

test('pk outputs the primary key, where `fields` lists it or first with `pk: true`', async () => {
  const room = { id: 7, name: 'lobby', hostId: 1 }
  const listed = serializer(rooms, { fields: ['name', 'pk', 'hostId'] })
  assert.deepEqual(Object.entries(await listed.toRepresentation(room)), [['name', 'lobby'], ['pk', 7], ['hostId', 1]])
  const flagged = serializer(rooms, { pk: true, fields: ['name'] })
  assert.deepEqual(Object.entries(await flagged.toRepresentation(room)), [['pk', 7], ['name', 'lobby']])
  assert.deepEqual(await serializer(rooms, { pk: true }).toRepresentation(room), { pk: 7, id: 7, name: 'lobby', hostId: 1 })
  // `pk` is output only: on input it is ignored like any read-only field.
  assert.deepEqual(await listed.validate({ pk: 99, name: 'x', hostId: 1 }), { name: 'x', hostId: 1 })
  const typed: Equal<inferSerialized<typeof listed>, { pk: number, name: string, hostId: number }> = true
  const typedFlag: Equal<inferSerialized<typeof flagged>, { pk: number, name: string }> = true
  assert.equal(typed && typedFlag, true)
})

test('read-only fields (the serial primary key, readOnly) and unknown fields are ignored on input', async () => {
  const s = serializer(users, { fields: ['id', 'username', 'email', 'password', 'isStaff'], readOnly: ['isStaff'] })
  const data = { id: 5, username: 'bob', email: 'bob@example.com', password: 'pw', isStaff: true, is_superuser: true }
  assert.deepEqual(await s.validate(data), { username: 'bob', email: 'bob@example.com', password: 'pw' })
  assert.deepEqual(Object.keys(s.inputSchema.properties), ['username', 'email', 'password'])
  assert.deepEqual(s.inputSchema.required, ['username', 'email', 'password'])
  // A natural primary key (no default) stays writable: the client must give it, as in DRF.
  const tags = pgTable('tags', { slug: text('slug').primaryKey(), label: text('label') })
  assert.deepEqual(await serializer(tags).validate({ slug: 'js', label: 'JavaScript' }), { slug: 'js', label: 'JavaScript' })
})

test('required fields, null and wrong types answer with DRF messages', async () => {
  assert.deepEqual(await rejection(userSerializer.validate({})), invalid({
    username: ['This field is required.'],
    email: ['This field is required.'],
    password: ['This field is required.']
  }))
  const err = await userSerializer.validate({ password: null, email: 'nope', username: { a: 1 } }).catch((e) => e)
  assert.equal(err.code, 'DCRF_ERR_VALIDATION')
  assert.equal(err.statusCode, 400)
  // One message per field, in the order of the fields.
  assert.deepEqual(Object.entries(err.detail), [
    ['username', ['Not a valid string.']],
    ['email', ['Enter a valid email address.']],
    ['password', ['This field may not be null.']]
  ])
  assert.deepEqual(await rejection(userSerializer.validate({ username: 'x'.repeat(151), email: ['a@b.c'], password: true })), invalid({
    username: ['Ensure this field has no more than 150 characters.'],
    email: ['Not a valid string.'],
    password: ['Not a valid string.']
  }))
  // DRF's CharField takes numbers as their text.
  assert.deepEqual(await userSerializer.validate({ username: 42, email: 'a@b.co', password: 1.5 }), { username: '42', email: 'a@b.co', password: '1.5' })
})

test('data that is not a dictionary is refused as DRF refuses it', async () => {
  const cases: Array<[unknown, string]> = [
    [[], 'Invalid data. Expected a dictionary, but got list.'],
    ['x', 'Invalid data. Expected a dictionary, but got str.'],
    [5, 'Invalid data. Expected a dictionary, but got int.'],
    [1.5, 'Invalid data. Expected a dictionary, but got float.'],
    [true, 'Invalid data. Expected a dictionary, but got bool.'],
    [new Date(0), 'Invalid data. Expected a dictionary, but got Date.'],
    [null, 'No data provided'],
    [undefined, 'No data provided']
  ]
  for (const [data, message] of cases) {
    assert.deepEqual(await rejection(userSerializer.validate(data)), invalid({ non_field_errors: [message] }))
  }
})

test('partial validation requires nothing and still checks what is given', async () => {
  assert.deepEqual(await userSerializer.validate({}, { partial: true }), {})
  assert.deepEqual(await userSerializer.validate({ email: 'new@example.com', id: 3 }, { partial: true }), { email: 'new@example.com' })
  assert.deepEqual(await rejection(userSerializer.validate({ email: null, username: '' }, { partial: true })), invalid({
    email: ['This field may not be null.']
  }))
})

test('column kinds: integers, numbers, decimals, bigints, booleans, dates, json, arrays, enums, uuids', async () => {
  const s = serializer(samples)
  const valid = await s.validate({
    n: '5',
    counter: 7.0,
    big: '9007199254740993',
    price: 12.5,
    ratio: '0.25',
    flag: 'true',
    day: '2024-02-03',
    at: '2024-02-03T04:05:06.789Z',
    meta: { nested: [1, { a: null }] },
    tags: [1, '2'],
    mood: 'happy',
    uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    code: 'ab'
  })
  assert.deepEqual(valid, {
    n: 5,
    counter: 7,
    big: 9007199254740993n,
    price: '12.5',
    ratio: 0.25,
    flag: true,
    day: new Date('2024-02-03T00:00:00.000Z'),
    at: new Date('2024-02-03T04:05:06.789Z'),
    meta: { nested: [1, { a: null }] },
    tags: [1, 2],
    mood: 'happy',
    uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    code: 'ab'
  })
  assert.deepEqual(await s.validate({ n: '  -12.000 ', big: 5, flag: 0, counter: '+3' }), { n: -12, counter: 3, big: 5n, flag: false })
  assert.deepEqual(await s.validate({ n: null, big: null, at: null, meta: null }), { n: null, big: null, at: null, meta: null })

  assert.deepEqual(await rejection(s.validate({
    n: 5.5,
    counter: 'abc',
    big: '9223372036854775808',
    price: '1.234',
    ratio: 'x',
    flag: 'maybe',
    day: '03/02/2024',
    at: 'yesterday',
    tags: 'not a list',
    mood: 'angry',
    uid: 'nope',
    code: 'abcd'
  })), invalid({
    n: ['A valid integer is required.'],
    counter: ['A valid integer is required.'],
    big: ['Ensure this value is less than or equal to 9223372036854775807.'],
    price: ['Ensure that there are no more than 2 decimal places.'],
    ratio: ['A valid number is required.'],
    flag: ['Must be a valid boolean.'],
    day: ['Date has wrong format.'],
    at: ['Datetime has wrong format.'],
    tags: ['Expected a list of items but got type "str".'],
    mood: ['"angry" is not a valid choice.'],
    uid: ['Must be a valid UUID.'],
    code: ['Ensure this field has no more than 3 characters.']
  }))
  assert.deepEqual(await rejection(s.validate({ n: true, counter: 2147483648, price: '1234', at: 12, tags: [1, 'x'], big: 1.5 })), invalid({
    n: ['A valid integer is required.'],
    counter: ['Ensure this value is less than or equal to 2147483647.'],
    big: ['A valid integer is required.'],
    price: ['Ensure that there are no more than 3 digits before the decimal point.'],
    at: ['Datetime has wrong format.'],
    tags: ['A valid integer is required.']
  }))
  assert.deepEqual(await rejection(s.validate({ price: '123456', n: -2147483649, counter: 'x'.repeat(1001) })), invalid({
    n: ['Ensure this value is greater than or equal to -2147483648.'],
    counter: ['String value too large.'],
    price: ['Ensure that there are no more than 5 digits in total.']
  }))
})

test('output is JSON: dates as ISO strings, bigints as numbers or strings, bytes as base64', async () => {
  const s = serializer(samples, { exclude: ['counter', 'ratio', 'flag', 'uid', 'code'] })
  const row = {
    id: 1,
    n: null,
    counter: 0,
    big: 9007199254740993n,
    price: '12.50',
    ratio: null,
    flag: null,
    day: new Date('2024-02-03T00:00:00.000Z'),
    at: new Date('2024-02-03T04:05:06.789Z'),
    meta: { a: [1, 'b'] },
    tags: [1, 2],
    mood: 'ok' as const,
    uid: null,
    code: null,
    blob: Buffer.from('hello')
  }
  const expected = {
    id: 1,
    n: null,
    big: '9007199254740993',
    price: '12.50',
    day: '2024-02-03',
    at: '2024-02-03T04:05:06.789Z',
    meta: { a: [1, 'b'] },
    tags: [1, 2],
    mood: 'ok',
    blob: 'aGVsbG8='
  }
  assert.deepEqual(s.toRepresentationSync(row), expected)
  assert.deepEqual(await s.toRepresentation({ ...row, big: 42n }), { ...expected, big: 42 })
  assert.deepEqual(await s.toRepresentationMany([row, { ...row, id: 2, at: null }]), [expected, { ...expected, id: 2, at: null }])
  // The output schema describes the output.
  assert.equal(Value.Check(s.outputSchema, JSON.parse(JSON.stringify(expected))), true)
  assert.deepEqual(JSON.parse(JSON.stringify(s.outputSchema.properties.at)), { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] })
  assert.deepEqual(JSON.parse(JSON.stringify(s.outputSchema.properties.big)), { anyOf: [{ anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?\\d+$' }] }, { type: 'null' }] })
  const typed: Equal<inferSerialized<typeof s>['at'] | inferSerialized<typeof s>['big'], string | number | null> = true
  assert.equal(typed, true)

  // Computed values are made JSON too, deeply.
  const computed = serializer(rooms, {
    fields: ['pk'],
    computed: { info: () => ({ at: new Date(0), big: 2n ** 64n, list: [1n, undefined], raw: JSON.parse('{"__proto__": {"x": 1}}') }) }
  })
  assert.deepEqual(await computed.toRepresentation({ id: 7, name: 'lobby', hostId: 1 }), {
    pk: 7,
    info: { at: '1970-01-01T00:00:00.000Z', big: '18446744073709551616', list: [1, null], raw: JSON.parse('{"__proto__": {"x": 1}}') }
  })
  const typedComputed: Equal<inferSerialized<typeof computed>, { pk: number, info: { at: string, big: number | string, list: Array<number | string | null>, raw: any } }> = true
  assert.equal(typedComputed, true)
})

test('__proto__ and constructor keys in input pollute nothing', async () => {
  const data = JSON.parse('{"username": "eve", "email": "eve@example.com", "password": "pw", "__proto__": {"isAdmin": true}, "constructor": {"prototype": {"isAdmin": true}}}')
  const valid = await userSerializer.validate(data)
  assert.deepEqual(valid, { username: 'eve', email: 'eve@example.com', password: 'pw' })
  assert.equal(Object.getPrototypeOf(valid), Object.prototype)
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined)
  const json = serializer(samples, { fields: ['meta'] })
  // Inside a json column the key is data like any other, kept as an own key.
  const meta = await json.validate(JSON.parse('{"meta": {"__proto__": {"x": 1}}}'))
  assert.equal(JSON.stringify(meta), '{"meta":{"__proto__":{"x":1}}}')
  assert.equal(({} as Record<string, unknown>).x, undefined)
})

test('object-level validate receives the values and the context', async () => {
  const seen: unknown[] = []
  const s = serializer(rooms, {
    fields: ['name', 'hostId'],
    validate (attrs, { partial, context }) {
      seen.push(partial, context.user)
      if (attrs.name === 'admin') throw Object.assign(new Error('x'), { statusCode: 400, detail: { non_field_errors: ['Reserved name.'] } })
      return { ...attrs, name: attrs.name?.toLowerCase() }
    }
  })
  assert.deepEqual(await s.validate({ name: 'Lobby', hostId: 1 }, { context: { user: 'u1' } }), { name: 'lobby', hostId: 1 })
  assert.deepEqual(await rejection(s.validate({ name: 'admin' }, { partial: true })), invalid({ non_field_errors: ['Reserved name.'] }))
  assert.deepEqual(seen, [false, 'u1', true, undefined])
})

// DCRF tutorial: MessageSerializer with created_at_formatted and a nested user.
const chatUserSerializer = serializer(users, { exclude: ['password'] })
const pad = (n: number): string => String(n).padStart(2, '0')
const messageSerializer = serializer(messages, {
  computed: {
    created_at_formatted: (row) => `${pad(row.createdAt.getUTCDate())}-${pad(row.createdAt.getUTCMonth() + 1)}-${row.createdAt.getUTCFullYear()} ` +
      `${pad(row.createdAt.getUTCHours())}:${pad(row.createdAt.getUTCMinutes())}:${pad(row.createdAt.getUTCSeconds())}`
  },
  nested: { user: { serializer: chatUserSerializer } }
})

test('computed and nested fields: a message with its user, as rows loaded with `with`', async () => {
  const row = { id: 3, roomId: 1, userId: 1, text: 'hi', createdAt: new Date('2024-05-06T07:08:09Z'), user: alice }
  const expected = {
    id: 3,
    roomId: 1,
    userId: 1,
    text: 'hi',
    createdAt: '2024-05-06T07:08:09.000Z',
    created_at_formatted: '06-05-2024 07:08:09',
    user: { id: 1, username: 'alice', email: 'alice@example.com', isStaff: false, lastLogin: null }
  }
  assert.deepEqual(Object.entries(messageSerializer.toRepresentationSync(row)), Object.entries(expected))
  assert.deepEqual(await messageSerializer.toRepresentation(row), expected)
  assert.deepEqual(await messageSerializer.toRepresentation({ ...row, user: null } as never), { ...expected, user: null })
  // Computed and nested fields are output only.
  assert.deepEqual(await messageSerializer.validate({ roomId: 1, userId: 1, text: 'x', user: { id: 9 }, created_at_formatted: 'y' }), { roomId: 1, userId: 1, text: 'x' })
  // A relation that was not loaded is a mistake, not a null.
  await assert.rejects(messageSerializer.toRepresentation({ ...row, user: undefined } as never), /nested.user: the row has no "user"/)

  const typed: Equal<inferSerialized<typeof messageSerializer>, {
    id: number
    roomId: number
    userId: number
    text: string
    createdAt: string
    created_at_formatted: string
    user: { id: number, username: string, email: string, isStaff: boolean, lastLogin: string | null } | null
  }> = true
  assert.equal(typed, true)
})

test('configuration mistakes throw when the serializer is defined', () => {
  const mistake = (message: string) => (err: Error & { code?: string }) => err.code === 'DCRF_ERR_INVALID_SERIALIZER' && err.message.endsWith(message)
  // @ts-expect-error a typo in a column name does not compile
  assert.throws(() => serializer(users, { fields: ['id', 'nam'] }), mistake('fields: "nam" is not a column, "pk", a computed or a nested field'))
  // @ts-expect-error neither here
  assert.throws(() => serializer(users, { writeOnly: ['pasword'] }), mistake('writeOnly: "pasword" is not a column'))
  assert.throws(() => serializer(users, { fields: ['id'], exclude: ['email'] }), mistake('give either fields or exclude, not both'))
  assert.throws(() => serializer(users, { fields: ['id'], writeOnly: ['password'] }), mistake('writeOnly: "password" is not among the fields'))
  assert.throws(() => serializer(users, { readOnly: ['email'], writeOnly: ['email'] }), mistake('"email" cannot be both read-only and write-only'))
  assert.throws(() => serializer(roomUsers, { pk: true }), mistake('"pk" needs a primary key of one column'))
  assert.throws(() => serializer(rooms, { nested: { host: { serializer: { outputSchema: Type.Object({}) } as never } } }), mistake('nested.host: the serializer must come from serializer()'))
  assert.throws(() => serializer(rooms, { nested: { m: { serializer: messageSerializer, many: true, source: async () => [] } } }).toRepresentationSync({ id: 1, name: 'a', hostId: 1 }),
    mistake('toRepresentationSync met an asynchronous computed or nested field; use toRepresentation'))
})

test('databaseValidationError leaves other errors alone', () => {
  assert.equal(databaseValidationError(new Error('boom'), { table: users }), null)
  assert.equal(databaseValidationError(null, { table: users }), null)
  assert.equal(databaseValidationError(Object.assign(new Error('x'), { code: 'EPIPE' }), { table: users }), null)
  assert.equal(databaseValidationError({ code: '42601', message: 'syntax error' }, { table: users }), null)
  // Unique over an expression, and a column label of the application's own.
  const expression = { code: '23505', detail: 'Key (lower(username::text))=(bob) already exists.', constraint: 'users_lower_username' }
  assert.deepEqual(databaseValidationError({ cause: expression }, { table: users })?.detail, { non_field_errors: ['Constraint “users_lower_username” is violated.'] })
  const camel = { code: '23505', detail: 'Key ("isStaff")=(t) already exists.', table: 'users' }
  assert.deepEqual(databaseValidationError(camel, { table: pgTable('users', { isStaff: boolean('isStaff') }), modelName: 'person' })?.detail,
    { isStaff: ['person with this is staff already exists.'] })
  assert.deepEqual(databaseValidationError({ code: '23505', detail: 'Key (username)=(x) already exists.' }, { table: users, fieldLabel: () => 'login' })?.detail,
    { username: ['user with this login already exists.'] })
})

for (const backend of backends) {
  test(`${backend.name}: validated input round-trips through the database`, async (t) => {
    const db = (await backend.create(t, DDL)).db as Database
    const values = await userSerializer.validate({ username: 'alice', email: 'alice@example.com', password: 'hash', isStaff: true })
    const [user] = await db.insert(users).values(values as typeof users.$inferInsert).returning()
    assert.deepEqual(await userSerializer.toRepresentation(user), { id: 1, username: 'alice', email: 'alice@example.com' })
    assert.equal(user.isStaff, false)

    const s = serializer(samples)
    const input = {
      n: '5',
      big: '9223372036854775807',
      price: '12.5',
      ratio: 0.5,
      flag: true,
      day: '2024-02-29',
      at: '2024-02-03T04:05:06.789+02:00',
      meta: { k: ['v', 1, null] },
      tags: [3, 1],
      mood: 'sad',
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      code: 'ab'
    }
    const [row] = await db.insert(samples).values(await s.validate(input) as typeof samples.$inferInsert).returning()
    assert.deepEqual(await s.toRepresentation(row), {
      id: 1,
      n: 5,
      counter: 0,
      big: '9223372036854775807',
      price: '12.50',
      ratio: 0.5,
      flag: true,
      day: '2024-02-29',
      at: '2024-02-03T02:05:06.789Z',
      meta: { k: ['v', 1, null] },
      tags: [3, 1],
      mood: 'sad',
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      code: 'ab ',
      blob: null
    })
    const patch = await s.validate({ big: 7, price: null }, { partial: true })
    const [patched] = await db.update(samples).set(patch).where(eq(samples.id, row.id)).returning()
    assert.deepEqual([(await s.toRepresentation(patched)).big, patched.price], [7, null])
  })

  test(`${backend.name}: nested serializers with async sources (DCRF's RoomSerializer)`, async (t) => {
    const db = (await backend.create(t, DDL)).db as Database
    await db.insert(users).values([
      { username: 'alice', email: 'alice@example.com', password: 'x' },
      { username: 'bob', email: 'bob@example.com', password: 'y' }
    ])
    await db.insert(rooms).values({ name: 'lobby', hostId: 1 })
    await db.insert(roomUsers).values([{ roomId: 1, userId: 2 }])
    await db.insert(messages).values([
      { roomId: 1, userId: 1, text: 'first', createdAt: new Date('2024-01-01T10:00:00Z') },
      { roomId: 1, userId: 2, text: 'second', createdAt: new Date('2024-01-01T10:00:05Z') }
    ])
    const dbOf = (context: SerializerContext): Database => context.db as Database
    const messagesOf = async (roomId: number, context: SerializerContext) => {
      const rows = await dbOf(context).select().from(messages).innerJoin(users, eq(users.id, messages.userId))
        .where(eq(messages.roomId, roomId)).orderBy(asc(messages.createdAt))
      return rows.map(({ messages: message, users: user }) => ({ ...message, user }))
    }
    const roomSerializer = serializer(rooms, {
      fields: ['pk', 'name', 'host', 'messages', 'current_users', 'last_message'],
      nested: {
        host: { serializer: chatUserSerializer, source: async (room, context) => (await dbOf(context).select().from(users).where(eq(users.id, room.hostId)))[0] },
        messages: { serializer: messageSerializer, many: true, source: (room, context) => messagesOf(room.id, context) },
        current_users: {
          serializer: chatUserSerializer,
          many: true,
          source: async (room, context) => (await dbOf(context).select().from(roomUsers).innerJoin(users, eq(users.id, roomUsers.userId))
            .where(eq(roomUsers.roomId, room.id))).map((r) => r.users)
        }
      },
      computed: {
        last_message: async (room, context) => {
          const last = (await messagesOf(room.id, context)).at(-1)
          return last === undefined ? null : await messageSerializer.toRepresentation(last, context)
        }
      }
    })
    const [room] = await db.select().from(rooms)
    const aliceOut = { id: 1, username: 'alice', email: 'alice@example.com', isStaff: false, lastLogin: null }
    const bobOut = { id: 2, username: 'bob', email: 'bob@example.com', isStaff: false, lastLogin: null }
    const second = { id: 2, roomId: 1, userId: 2, text: 'second', createdAt: '2024-01-01T10:00:05.000Z', created_at_formatted: '01-01-2024 10:00:05', user: bobOut }
    const output = await roomSerializer.toRepresentation(room, { db })
    assert.deepEqual(Object.keys(output), ['pk', 'name', 'host', 'messages', 'current_users', 'last_message'])
    assert.deepEqual(output, {
      pk: 1,
      name: 'lobby',
      host: aliceOut,
      messages: [
        { id: 1, roomId: 1, userId: 1, text: 'first', createdAt: '2024-01-01T10:00:00.000Z', created_at_formatted: '01-01-2024 10:00:00', user: aliceOut },
        second
      ],
      current_users: [bobOut],
      last_message: second
    })
    assert.deepEqual(await roomSerializer.toRepresentationMany([room, { id: 9, name: 'empty', hostId: 3 }], { db }), [output, {
      pk: 9, name: 'empty', host: null, messages: [], current_users: [], last_message: null
    }])
    assert.equal(Value.Check(roomSerializer.outputSchema, JSON.parse(JSON.stringify(output))), true)
  })

  test(`${backend.name}: constraint violations become DRF field errors`, async (t) => {
    const db = (await backend.create(t, DDL)).db as Database
    const mapped = async (write: PromiseLike<unknown>, table: Parameters<typeof databaseValidationError>[1]['table']) => {
      try {
        await write
      } catch (err) {
        const error = databaseValidationError(err, { table })
        assert.ok(error, `not mapped: ${String(err)} ${String((err as Error).cause)}`)
        return { status: error.statusCode, detail: error.detail }
      }
      assert.fail('the write succeeded')
    }
    await db.insert(users).values({ username: 'alice', email: 'a@example.com', password: 'x' })
    await db.insert(rooms).values({ name: 'lobby', hostId: 1 })
    await db.insert(roomUsers).values({ roomId: 1, userId: 1 })

    assert.deepEqual(await mapped(db.insert(users).values({ username: 'alice', email: 'b@example.com', password: 'y' }), users),
      invalid({ username: ['user with this username already exists.'] }))
    assert.deepEqual(await mapped(db.insert(rooms).values({ name: 'lobby', hostId: 1 }), rooms),
      invalid({ name: ['room with this name already exists.'] }))
    assert.deepEqual(await mapped(db.insert(roomUsers).values({ roomId: 1, userId: 1 }), roomUsers),
      invalid({ non_field_errors: ['The fields roomId, userId must make a unique set.'] }))
    assert.deepEqual(await mapped(db.insert(messages).values({ roomId: 1, userId: 99, text: 'x' }), messages),
      invalid({ userId: ['Invalid pk "99" - object does not exist.'] }))
    assert.deepEqual(await mapped(db.update(rooms).set({ hostId: 42 }), rooms),
      invalid({ hostId: ['Invalid pk "42" - object does not exist.'] }))
    assert.deepEqual(await mapped(db.delete(rooms), rooms),
      invalid({ non_field_errors: ['This room is still referenced from table "room_users".'] }))
    assert.deepEqual(await mapped(db.insert(users).values({ username: 'bob', email: null as never, password: 'x' }), users),
      invalid({ email: ['This field may not be null.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ counter: -1 }), samples),
      invalid({ non_field_errors: ['Constraint “counter_positive” is violated.'] }))
    assert.deepEqual(await mapped(db.insert(users).values({ username: 'x'.repeat(151), email: 'e', password: 'x' }), users),
      invalid({ username: ['Ensure this field has no more than 150 characters.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ code: 'abcd' }), samples),
      invalid({ code: ['Ensure this field has no more than 3 characters.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ price: '1234.5' }), samples),
      invalid({ price: ['Ensure that there are no more than 3 digits before the decimal point.'] }))
    // Two integer columns (n, counter): the culprit is not clear, so it is not a field error.
    assert.deepEqual(await mapped(db.insert(samples).values({ n: 99999999999 }), samples),
      invalid({ non_field_errors: ['Ensure this value is less than or equal to 2147483647.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ n: 'abc' as never }), samples),
      invalid({ non_field_errors: ['A valid integer is required.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ uid: 'nope' }), samples),
      invalid({ uid: ['Must be a valid UUID.'] }))
    assert.deepEqual(await mapped(db.insert(samples).values({ mood: 'angry' as never }), samples),
      invalid({ mood: ['"angry" is not a valid choice.'] }))
    assert.deepEqual(await mapped(db.execute(sql`select id from samples where at = ${'soon'}`), samples),
      invalid({ at: ['Datetime has wrong format.'] }))
  })
}
