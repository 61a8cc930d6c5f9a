import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { eq, sql } from 'drizzle-orm'
import {
  bigint,
  customType,
  date,
  integer,
  interval,
  json,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uuid,
  varchar,
  type PgTable
} from 'drizzle-orm/pg-core'
import { databaseValidationError, tableOfDatabaseError } from '../plugin/db-errors.js'
import type { Database } from '../types/index.js'
import { backends, type Backend } from './db.js'

const mood = pgEnum('mood', ['happy', 'sad'])
const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: varchar('username', { length: 8 }).notNull().unique(),
  email: text('email').notNull()
})
const rooms = pgTable('rooms', {
  id: serial('id').primaryKey(),
  hostId: integer('host_id').notNull().references(() => users.id),
  capacity: smallint('capacity').notNull().default(10)
})
const memberships = pgTable('memberships', {
  roomId: integer('room_id').notNull().references(() => rooms.id),
  userId: integer('user_id').notNull().references(() => users.id)
}, (t) => [primaryKey({ columns: [t.roomId, t.userId] })])
const samples = pgTable('samples', {
  id: serial('id').primaryKey(),
  big: bigint('big', { mode: 'bigint' }),
  price: numeric('price', { precision: 5, scale: 2 }),
  mood: mood('mood'),
  uid: uuid('uid'),
  doc: jsonb('doc'),
  meta: json('meta'),
  day: date('day'),
  at: timestamp('at', { withTimezone: true }),
  note: text('note'),
  span: interval('span')
})
const box = customType<{ data: string }>({ dataType: () => 'box' })
const spots = pgTable('spots', { id: serial('id').primaryKey(), area: box('area') })

const DDL = `
  create type mood as enum ('happy', 'sad');
  create table users (id serial primary key, username varchar(8) not null unique, email text not null);
  create table rooms (id serial primary key, host_id integer not null references users (id),
    capacity smallint not null default 10 constraint rooms_capacity_positive check (capacity > 0));
  create table memberships (room_id integer not null references rooms (id), user_id integer not null references users (id),
    primary key (room_id, user_id));
  create table samples (id serial primary key, big bigint, price numeric(5, 2), mood mood, uid uuid, doc jsonb, meta json, day date,
    at timestamptz, note text, span interval);
  create table spots (id serial primary key, area box, constraint spots_no_overlap exclude using gist (area with &&));
  insert into users (username, email) values ('alice', 'a@example.com');
  insert into rooms (host_id) values (1);
  insert into memberships values (1, 1);
  insert into spots (area) values ('((0,0),(2,2))')
`

/** What the client is answered for the database error a write raises, mapped against `table`. */
async function answer (write: PromiseLike<unknown>, table: PgTable): Promise<{ status: number, code: string, detail: unknown }> {
  try {
    await write
  } catch (err) {
    const mapped = databaseValidationError(err, { table })
    assert.ok(mapped, `not mapped: ${String((err as Error).cause ?? err)}`)
    return { status: mapped.statusCode, code: mapped.code, detail: mapped.detail }
  }
  assert.fail('the write succeeded')
}

const invalid = (detail: Record<string, string[]>) => ({ status: 400, code: 'DCRF_ERR_VALIDATION', detail })

async function setup (t: TestContext, backend: Backend): Promise<Database> {
  return (await backend.create(t, DDL)).db as Database
}

for (const backend of backends) {
  test(`${backend.name}: 23505 unique violations: on the field, or the set of fields`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(users).values({ username: 'alice', email: 'b@example.com' }), users),
      invalid({ username: ['user with this username already exists.'] }))
    assert.deepEqual(await answer(db.insert(memberships).values({ roomId: 1, userId: 1 }), memberships),
      invalid({ non_field_errors: ['The fields roomId, userId must make a unique set.'] }))
  })

  test(`${backend.name}: 23503 foreign keys: a missing row on the field, a referenced row as a whole`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(rooms).values({ hostId: 99 }), rooms),
      invalid({ hostId: ['Invalid pk "99" - object does not exist.'] }))
    assert.deepEqual(await answer(db.update(rooms).set({ hostId: 42 }).where(eq(rooms.id, 1)), rooms),
      invalid({ hostId: ['Invalid pk "42" - object does not exist.'] }))
    assert.deepEqual(await answer(db.delete(users).where(eq(users.id, 1)), users),
      invalid({ non_field_errors: ['This user is still referenced from table "rooms".'] }))
  })

  test(`${backend.name}: 23502 not null, 23514 check and 23P01 exclusion violations`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(users).values({ username: 'bob', email: null as never }), users),
      invalid({ email: ['This field may not be null.'] }))
    assert.deepEqual(await answer(db.insert(rooms).values({ hostId: 1, capacity: 0 }), rooms),
      invalid({ non_field_errors: ['Constraint “rooms_capacity_positive” is violated.'] }))
    assert.deepEqual(await answer(db.insert(spots).values({ area: '((1,1),(3,3))' }), spots),
      invalid({ non_field_errors: ['Constraint “spots_no_overlap” is violated.'] }))
  })

  test(`${backend.name}: 22001 too long and 22003 out of range, with DRF's limits`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(users).values({ username: 'x'.repeat(9), email: 'e' }), users),
      invalid({ username: ['Ensure this field has no more than 8 characters.'] }))
    assert.deepEqual(await answer(db.insert(rooms).values({ hostId: 1, capacity: 99999 }), rooms),
      invalid({ capacity: ['Ensure this value is less than or equal to 32767.'] }))
    assert.deepEqual(await answer(db.insert(rooms).values({ hostId: 1, capacity: -99999 }), rooms),
      invalid({ capacity: ['Ensure this value is greater than or equal to -32768.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ big: 2n ** 63n }), samples),
      invalid({ big: ['Ensure this value is less than or equal to 9223372036854775807.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ price: '1234.5' }), samples),
      invalid({ price: ['Ensure that there are no more than 3 digits before the decimal point.'] }))
  })

  test(`${backend.name}: 22P02 invalid text representations: the type's message, on its only column of that type`, async (t) => {
    const db = await setup(t, backend)
    // a database-filled primary key is never the culprit: host_id is the only other integer
    assert.deepEqual(await answer(db.insert(rooms).values({ hostId: 'abc' as never }), rooms),
      invalid({ hostId: ['A valid integer is required.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ uid: 'nope' }), samples), invalid({ uid: ['Must be a valid UUID.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ mood: 'angry' as never }), samples),
      invalid({ mood: ['"angry" is not a valid choice.'] }))
    assert.deepEqual(await answer(db.execute(sql`insert into samples (meta) values (${'{'})`), samples),
      invalid({ meta: ['Value must be valid JSON.'] }))
  })

  test(`${backend.name}: 22007 and 22008 date/time values; 22P05 and 22021 values the database cannot encode`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(samples).values({ day: 'soon' }), samples), invalid({ day: ['Date has wrong format.'] }))
    assert.deepEqual(await answer(db.execute(sql`insert into samples (at) values (${'yesterday-ish'})`), samples),
      invalid({ at: ['Datetime has wrong format.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ span: 'forever' }), samples), invalid({ span: ['Duration has wrong format.'] }))
    // "date/time field value out of range" names no type: samples has a date and a timestamp column
    assert.deepEqual(await answer(db.insert(samples).values({ day: '2024-02-30' }), samples),
      invalid({ non_field_errors: ['Datetime has wrong format.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ doc: { text: '\u0000' } }), samples),
      invalid({ non_field_errors: ['Invalid value.'] }))
    assert.deepEqual(await answer(db.insert(samples).values({ note: 'a\u0000b' }), samples),
      invalid({ non_field_errors: ['Invalid value.'] }))
  })

  test(`${backend.name}: an error about another table never names this table's fields`, async (t) => {
    const db = await setup(t, backend)
    assert.deepEqual(await answer(db.insert(memberships).values({ roomId: 1, userId: 99 }), rooms),
      invalid({ non_field_errors: ['Invalid pk "99" - object does not exist.'] }))
    assert.deepEqual(await answer(db.insert(memberships).values({ roomId: 1, userId: 99 }), memberships),
      invalid({ userId: ['Invalid pk "99" - object does not exist.'] }))
  })

  test(`${backend.name}: other database errors are not validation errors; constraint errors name the table of their constraint`, async (t) => {
    const db = await setup(t, backend)
    const raised = async (write: PromiseLike<unknown>): Promise<unknown> => {
      try {
        await write
      } catch (err) {
        return err
      }
      assert.fail('the write succeeded')
    }
    const syntax = await raised(db.execute(sql`selec 1`))
    assert.equal(databaseValidationError(syntax, { table: users }), null)
    assert.equal(databaseValidationError(await raised(db.execute(sql`select * from nowhere`)), { table: users }), null)
    assert.equal(tableOfDatabaseError(syntax), undefined)
    assert.equal(tableOfDatabaseError(await raised(db.insert(rooms).values({ hostId: 99 }))), 'rooms')
    // a referenced row's delete is about the referencing table's constraint
    assert.equal(tableOfDatabaseError(await raised(db.delete(users).where(eq(users.id, 1)))), 'rooms')
  })
}
