import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { eq, fillPlaceholders, gt, inArray, sql } from 'drizzle-orm'
import { customType, integer, pgTable, serial, text, timestamp, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { dialectOf, writeBuilder, type WriteConfig } from '../plugin/observer/drizzle-internals.js'
import { shapeOf } from '../plugin/observer/shape.js'
import type { ChangeAction } from 'fastify-dcrf'
import { tableInfo } from '../plugin/observer/table-info.js'
import { backends } from './db.js'

type Db = PgDatabase<PgQueryResultHKT>

const items = pgTable('items', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  qty: integer('qty').notNull().default(0),
  at: timestamp('at', { precision: 3 })
})
const sameName = pgTable('items', { id: serial('id').primaryKey(), name: text('name').notNull() })
const shout = customType<{ data: string }>({ dataType: () => 'text' })
const remarks = pgTable('remarks', { id: integer('id').primaryKey(), body: shout('body') })
const made = pgTable('made', { id: integer('id').primaryKey(), token: text('token').$defaultFn(() => 'fresh') })
const touched = pgTable('touched', { id: integer('id').primaryKey(), stamp: text('stamp').$onUpdate(() => 'now') })

/** Builders are made on a real database, never run: a shape is read from the builder alone. */
async function database (t: TestContext): Promise<Db> {
  return (await backends[0].create(t)).db as unknown as Db
}

function actionOf (config: WriteConfig): ChangeAction {
  return 'values' in config ? 'create' : 'set' in config ? 'update' : 'delete'
}

function shape (builder: object, withTemplate = false) {
  const { config } = writeBuilder(builder)
  return shapeOf(config, tableInfo(config.table), actionOf(config), withTemplate)
}

/** The template of a shaped write rendered with its values bound: what the statement shared by its shape runs. */
function renderedTemplate (db: Db, builder: object) {
  const found = shape(builder, true)
  assert.ok(found !== null, 'shapeless')
  const template = found.template as WriteConfig
  const dialect = dialectOf(db)
  const action = actionOf(template)
  const node = action === 'create'
    ? dialect.buildInsertQuery(template as never)
    : action === 'update' ? dialect.buildUpdateQuery(template as never) : dialect.buildDeleteQuery(template as never)
  const query = dialect.sqlToQuery(node)
  const values = Object.fromEntries(found.values.map((value, i) => ['p' + i, value]))
  return { sql: query.sql, params: fillPlaceholders(query.params, values) }
}

test('writes that differ only in their values share a shape; the values come in walk order', async (t) => {
  const db = await database(t)
  const at = new Date(Date.UTC(2024, 0, 1))
  const a = shape(db.insert(items).values({ name: 'a', qty: 1, at }))
  const b = shape(db.insert(items).values({ name: 'b', qty: 2, at: null }))
  const c = shape(db.insert(items).values({ name: 'c', qty: 3, at: new Date(0) }))
  assert.ok(a !== null && b !== null && c !== null)
  assert.equal(a.key, c.key)
  assert.deepEqual(a.values, ['a', 1, at])
  // null is part of the text, not a bound value
  assert.notEqual(a.key, b.key)
  assert.deepEqual(b.values, ['b', 2])

  const u1 = shape(db.update(items).set({ name: 'x' }).where(eq(items.id, 1)).returning())
  const u2 = shape(db.update(items).set({ name: 'y' }).where(eq(items.id, 2)).returning())
  assert.equal(u1?.key, u2?.key)
  assert.deepEqual(u2?.values, [2, 'y'])
  assert.equal(shape(db.delete(items).where(gt(items.qty, 1)))?.key, shape(db.delete(items).where(gt(items.qty, 9)))?.key)
})

test('what the SQL text depends on makes another shape', async (t) => {
  const db = await database(t)
  const keys = [
    shape(db.insert(items).values({ name: 'a' })),
    shape(db.insert(items).values({ name: 'a', qty: 1 })),
    shape(db.insert(items).values([{ name: 'a' }, { name: 'b' }])),
    shape(db.insert(items).values({ name: 'a' }).returning()),
    shape(db.insert(items).values({ name: 'a' }).returning({ id: items.id })),
    shape(db.insert(sameName).values({ name: 'a' })),
    shape(db.update(items).set({ name: 'a' })),
    shape(db.update(items).set({ name: 'a' }).where(eq(items.id, 1))),
    shape(db.update(items).set({ name: 'a' }).where(gt(items.id, 1))),
    shape(db.update(items).set({ qty: 1 }).where(eq(items.id, 1))),
    shape(db.update(items).set({ qty: sql`${items.qty} + ${1}` }).where(eq(items.id, 1))),
    shape(db.delete(items).where(inArray(items.id, [1, 2]))),
    shape(db.delete(items).where(inArray(items.id, [1, 2, 3]))),
    shape(db.delete(items).where(eq(items.id, 1)))
  ].map((found) => found?.key)
  assert.ok(keys.every((key) => typeof key === 'string'))
  assert.equal(new Set(keys).size, keys.length)
})

test('a shape\'s template, with its values bound, renders exactly what the write renders', async (t) => {
  const db = await database(t)
  const at = new Date(Date.UTC(2024, 5, 6, 7, 8, 9, 123))
  const writes = [
    db.insert(items).values([{ name: 'a', qty: 2, at }, { name: 'b"c', at: null }]).returning({ id: items.id, name: items.name }),
    db.update(items).set({ qty: sql`${items.qty} + ${5}`, name: 'n' }).where(inArray(items.id, [3, 4])).returning(),
    db.update(items).set({ at }).where(sql`${items.name} like ${'a%'} and ${sql.identifier('qty')} > 0`),
    db.delete(items).where(eq(items.at, at))
  ]
  for (const write of writes) {
    const own = write.toSQL()
    assert.deepEqual(renderedTemplate(db, write), { sql: own.sql, params: own.params })
  }
})

test('writes the walk cannot vouch for are shapeless, and rendered on their own', async (t) => {
  const db = await database(t)
  const cte = db.$with('recent').as(db.select({ id: items.id }).from(items))
  const shapeless: Record<string, object> = {
    'a subquery': db.delete(items).where(inArray(items.id, db.select({ id: items.id }).from(items))),
    'the user\'s own placeholder': db.insert(items).values({ name: sql.placeholder('name') }),
    'inlined params': db.update(items).set({ name: 'a' }).where(sql`${items.id} = ${1}`.inlineParams()),
    'a custom column type': db.insert(remarks).values({ id: 1, body: 'hi' }),
    'a $defaultFn column': db.insert(made).values({ id: 1 }),
    'an $onUpdate column': db.update(touched).set({ id: 2 }).where(eq(touched.id, 1)),
    'a CTE': db.with(cte).delete(items).where(eq(items.id, 1)),
    'a conflict clause': db.insert(items).values({ name: 'a' }).onConflictDoNothing(),
    'an insert from a select': db.insert(items).select(sql`select 1, 'a', 0, null`),
    'overriding system value': db.insert(items).overridingSystemValue().values({ id: 1, name: 'a' }),
    'an update with FROM': db.update(items).set({ name: 'a' }).from(sameName).where(eq(items.id, sameName.id)),
    'an SQL field in RETURNING': db.insert(items).values({ name: 'a' }).returning({ twice: sql<number>`${items.qty} * 2` })
  }
  for (const [what, builder] of Object.entries(shapeless)) {
    assert.equal(shape(builder), null, what)
  }
})
