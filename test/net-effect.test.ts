import { test } from 'node:test'
import assert from 'node:assert/strict'
import { integer, pgSchema, pgTable, primaryKey, text, timestamp, type PgTable } from 'drizzle-orm/pg-core'
import type { ChangeAction, ChangeEvent } from 'fastify-dcrf'
import { netEffect, type Change } from '../plugin/observer/change.js'
import { keyOf, tableInfo, type Row } from '../plugin/observer/table-info.js'

const notes = pgTable('notes', { id: integer('id').primaryKey(), body: text('body') })
const tags = pgTable('tags', { id: integer('id').primaryKey(), label: text('label') })
const archive = pgSchema('archive').table('notes', { id: integer('id').primaryKey(), body: text('body') })
const logs = pgTable('logs', { msg: text('msg') })
const members = pgTable('members', { userId: integer('user_id'), groupId: integer('group_id'), role: text('role') },
  (t) => [primaryKey({ columns: [t.userId, t.groupId] })])
const visits = pgTable('visits', { at: timestamp('at').primaryKey(), who: text('who') })

/** One changed row as a captured statement reports it (`previous`: the row before an update, when known). */
function change (table: PgTable, action: ChangeAction, row: Row, previous: Row | null = null): Change {
  const info = tableInfo(table)
  const key = keyOf(info, row)
  if (action === 'create') return { info, table, action, row, previous: null, key, previousKey: undefined }
  if (action === 'delete') return { info, table, action, row, previous: row, key, previousKey: key }
  return { info, table, action, row, previous, key, previousKey: previous === null ? undefined : keyOf(info, previous) }
}

function event (table: PgTable, action: ChangeAction, row: Row, previous: Row | null, pk: unknown): ChangeEvent {
  return { table, tableName: tableInfo(table).name, action, row, previous, pk }
}

test('create then update: one create with the last row', () => {
  assert.deepEqual(netEffect([
    change(notes, 'create', { id: 1, body: 'a' }),
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' })
  ]), [event(notes, 'create', { id: 1, body: 'b' }, null, 1)])
})

test('create then delete, or create, update, delete: nothing', () => {
  assert.deepEqual(netEffect([change(notes, 'create', { id: 1, body: 'a' }), change(notes, 'delete', { id: 1, body: 'a' })]), [])
  assert.deepEqual(netEffect([
    change(notes, 'create', { id: 1, body: 'a' }),
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' }),
    change(notes, 'delete', { id: 1, body: 'b' })
  ]), [])
})

test('delete then create of the same key: an update from the deleted row', () => {
  assert.deepEqual(netEffect([change(notes, 'delete', { id: 1, body: 'old' }), change(notes, 'create', { id: 1, body: 'new' })]),
    [event(notes, 'update', { id: 1, body: 'new' }, { id: 1, body: 'old' }, 1)])
})

test('delete, create, delete: a delete of the row as it was before the transaction', () => {
  assert.deepEqual(netEffect([
    change(notes, 'delete', { id: 1, body: 'old' }),
    change(notes, 'create', { id: 1, body: 'new' }),
    change(notes, 'delete', { id: 1, body: 'new' })
  ]), [event(notes, 'delete', { id: 1, body: 'old' }, { id: 1, body: 'old' }, 1)])
})

test('update then update: one update from the first previous row to the last row', () => {
  assert.deepEqual(netEffect([
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' }),
    change(notes, 'update', { id: 1, body: 'c' }, { id: 1, body: 'b' })
  ]), [event(notes, 'update', { id: 1, body: 'c' }, { id: 1, body: 'a' }, 1)])
})

test('update then delete: a delete of the row as it was before the transaction', () => {
  assert.deepEqual(netEffect([
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' }),
    change(notes, 'delete', { id: 1, body: 'b' })
  ]), [event(notes, 'delete', { id: 1, body: 'a' }, { id: 1, body: 'a' }, 1)])
})

test('an update whose previous row is unknown, then a delete: a delete of the last row seen', () => {
  assert.deepEqual(netEffect([change(notes, 'update', { id: 1, body: 'b' }, null), change(notes, 'delete', { id: 1, body: 'b' })]),
    [event(notes, 'delete', { id: 1, body: 'b' }, { id: 1, body: 'b' }, 1)])
})

test('an update that changes the key is followed under its new key', () => {
  assert.deepEqual(netEffect([
    change(notes, 'update', { id: 2, body: 'a' }, { id: 1, body: 'a' }),
    change(notes, 'update', { id: 2, body: 'b' }, { id: 2, body: 'a' })
  ]), [event(notes, 'update', { id: 2, body: 'b' }, { id: 1, body: 'a' }, 2)])
  // once the row has left its old key, a new row under that key is another row
  assert.deepEqual(netEffect([
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' }),
    change(notes, 'update', { id: 2, body: 'b' }, { id: 1, body: 'b' }),
    change(notes, 'create', { id: 1, body: 'z' })
  ]), [event(notes, 'update', { id: 2, body: 'b' }, { id: 1, body: 'a' }, 2), event(notes, 'create', { id: 1, body: 'z' }, null, 1)])
})

test('events come in the order of each row\'s first change', () => {
  assert.deepEqual(netEffect([
    change(notes, 'create', { id: 1, body: 'a' }),
    change(tags, 'update', { id: 1, label: 'y' }, { id: 1, label: 'x' }),
    change(notes, 'create', { id: 2, body: 'c' }),
    change(notes, 'update', { id: 1, body: 'b' }, { id: 1, body: 'a' })
  ]), [
    event(notes, 'create', { id: 1, body: 'b' }, null, 1),
    event(tags, 'update', { id: 1, label: 'y' }, { id: 1, label: 'x' }, 1),
    event(notes, 'create', { id: 2, body: 'c' }, null, 2)
  ])
})

test('the same key in two tables, or in two schemas, is two rows', () => {
  const events = netEffect([
    change(notes, 'create', { id: 1, body: 'a' }),
    change(tags, 'create', { id: 1, label: 'x' }),
    change(archive, 'delete', { id: 1, body: 'old' })
  ])
  assert.deepEqual(events.map(({ tableName, action, pk }) => ({ tableName, action, pk })),
    [{ tableName: 'notes', action: 'create', pk: 1 }, { tableName: 'tags', action: 'create', pk: 1 }, { tableName: 'notes', action: 'delete', pk: 1 }])
  assert.equal(events[2].table, archive)
})

test('rows of a table without a primary key cannot be told apart: each change is its own event', () => {
  assert.deepEqual(netEffect([
    change(logs, 'create', { msg: 'a' }),
    change(logs, 'update', { msg: 'b' }, null),
    change(logs, 'delete', { msg: 'b' })
  ]), [
    event(logs, 'create', { msg: 'a' }, null, null),
    event(logs, 'update', { msg: 'b' }, null, null),
    event(logs, 'delete', { msg: 'b' }, { msg: 'b' }, null)
  ])
})

test('a composite key merges by all its columns and is published as an object', () => {
  assert.deepEqual(netEffect([
    change(members, 'create', { userId: 1, groupId: 2, role: 'member' }),
    change(members, 'create', { userId: 1, groupId: 3, role: 'member' }),
    change(members, 'update', { userId: 1, groupId: 2, role: 'owner' }, { userId: 1, groupId: 2, role: 'member' })
  ]), [
    event(members, 'create', { userId: 1, groupId: 2, role: 'owner' }, null, { userId: 1, groupId: 2 }),
    event(members, 'create', { userId: 1, groupId: 3, role: 'member' }, null, { userId: 1, groupId: 3 })
  ])
})

test('keys compare by value: two Date objects of one instant are one row', () => {
  const events = netEffect([
    change(visits, 'create', { at: new Date(Date.UTC(2024, 0, 1)), who: 'a' }),
    change(visits, 'update', { at: new Date(Date.UTC(2024, 0, 1)), who: 'b' }, { at: new Date(Date.UTC(2024, 0, 1)), who: 'a' })
  ])
  assert.deepEqual(events, [event(visits, 'create', { at: new Date(Date.UTC(2024, 0, 1)), who: 'b' }, null, new Date(Date.UTC(2024, 0, 1)))])
})
