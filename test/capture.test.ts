import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { count, eq, getTableName, gt, inArray, is, sql } from 'drizzle-orm'
import {
  customType,
  integer,
  PgDatabase,
  pgSchema,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uuid,
  type PgQueryResultHKT,
  type PgTable
} from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { captureChanges, type ChangeEvent } from 'fastify-dcrf'
import { backends, type Backend } from './db.js'

type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>
type Row = Record<string, unknown>

const items = pgTable('items', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  qty: integer('qty').notNull().default(0),
  createdAt: timestamp('created_at', { precision: 3 }).notNull()
})
const tags = pgTable('tags', { slug: text('slug').primaryKey(), label: text('label') })
const memberships = pgTable('memberships', {
  userId: integer('user_id').notNull(),
  groupId: integer('group_id').notNull(),
  role: text('role').notNull()
}, (t) => [primaryKey({ columns: [t.userId, t.groupId] })])
const docs = pgTable('docs', { id: uuid('id').primaryKey().defaultRandom(), title: text('title').notNull() })
const logs = pgTable('logs', { msg: text('msg').notNull(), level: integer('level').notNull() })
const visits = pgTable('visits', { id: integer('id').primaryKey(), at: timestamp('at', { precision: 3 }) })
let stamped = 0
/** Upper-cases on the way in, in SQL: its encoder returns SQL, not a value. */
const shout = customType<{ data: string, driverData: string }>({ dataType: () => 'text', toDriver: (value) => sql`upper(${value})` })
const remarks = pgTable('remarks', {
  id: integer('id').primaryKey(),
  body: shout('body'),
  stamp: text('stamp').$onUpdate(() => `update ${++stamped}`)
})

const DDL = `
  create table items (id serial primary key, name text not null, qty integer not null default 0, created_at timestamp(3) not null);
  create table tags (slug text primary key, label text);
  create table memberships (user_id integer not null, group_id integer not null, role text not null, primary key (user_id, group_id));
  create table docs (id uuid primary key default gen_random_uuid(), title text not null);
  create table logs (msg text not null, level integer not null);
  create table remarks (id integer primary key, body text, stamp text);
  create table visits (id integer primary key, at timestamp(3))
`

/** A distinct, millisecond-precise timestamp per item. */
const at = (n: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, n, 123))
const item = (id: number, name: string, qty = 0) => ({ id, name, qty, createdAt: at(id) })

const created = (table: PgTable, row: Row, pk: unknown): ChangeEvent =>
  ({ table, tableName: getTableName(table), action: 'create', row, previous: null, pk })
const updated = (table: PgTable, row: Row, previous: Row | null, pk: unknown): ChangeEvent =>
  ({ table, tableName: getTableName(table), action: 'update', row, previous, pk })
const deleted = (table: PgTable, row: Row, pk: unknown): ChangeEvent =>
  ({ table, tableName: getTableName(table), action: 'delete', row, previous: row, pk })

async function setup (t: TestContext, backend: Backend) {
  const { db: plainDb, exec } = await backend.create(t, DDL)
  const plain = plainDb as unknown as Db
  const batches: ChangeEvent[][] = []
  const db = captureChanges(plain, (events) => { batches.push(events) })
  /** Inserts items 1…n without capturing them. */
  const seed = async (...rows: ReturnType<typeof item>[]) => {
    await plain.insert(items).values(rows)
    await exec("select setval('items_id_seq', 100)")
  }
  return { db, plain, exec, batches, seed }
}

async function currentSchema (exec: (sql: string) => Promise<unknown[]>) {
  const [{ name }] = await exec('select current_schema() as name') as { name: string }[]
  return name
}

/** What a write without RETURNING resolves to, comparable across drivers (postgres.js hides count and command). */
function shape (result: unknown): { rows: unknown[], [key: string]: unknown } {
  return Array.isArray(result)
    ? { rows: [...result], count: (result as unknown as { count: number }).count, command: (result as unknown as { command: string }).command, columns: (result as unknown as { columns: unknown }).columns }
    : result as { rows: unknown[] }
}

for (const backend of backends) {
  const name = (title: string) => `[${backend.name}] ${title}`

  test(name('a single insert publishes its full row; the user gets what Drizzle returns'), async (t) => {
    const { db, plain, batches } = await setup(t, backend)
    const bare = await db.insert(items).values({ name: 'a', createdAt: at(1) })
    assert.deepEqual(shape(bare), shape(await plain.insert(items).values({ id: 50, name: 'plain', createdAt: at(50) })))
    assert.deepEqual(await db.insert(items).values({ name: 'b', qty: 3, createdAt: at(2) }).returning(), [item(2, 'b', 3)])
    assert.deepEqual(await db.insert(items).values({ name: 'c', createdAt: at(3) }).returning({ id: items.id }), [{ id: 3 }])
    assert.deepEqual(
      await db.insert(items).values({ name: 'd', createdAt: at(4) }).returning({ upper: sql<string>`upper(${items.name})`, qty: items.qty }),
      [{ upper: 'D', qty: 0 }]
    )
    assert.deepEqual(batches, [
      [created(items, item(1, 'a'), 1)],
      [created(items, item(2, 'b', 3), 2)],
      [created(items, item(3, 'c'), 3)],
      [created(items, item(4, 'd'), 4)]
    ])
    assert.ok(batches[0][0].row.createdAt instanceof Date)
  })

  test(name('a single update publishes the row before and after'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'), item(3, 'c'))
    const bare = await db.update(items).set({ name: 'A' }).where(eq(items.id, 1))
    assert.deepEqual(shape(bare), shape(await plain.update(items).set({ qty: 0 }).where(eq(items.id, 3))))
    assert.deepEqual(await db.update(items).set({ qty: sql`${items.qty} + 5` }).where(eq(items.id, 2)).returning(), [item(2, 'b', 5)])
    assert.deepEqual(await db.update(items).set({ createdAt: at(9) }).where(eq(items.id, 2)).returning({ id: items.id, when: items.createdAt }), [{ id: 2, when: at(9) }])
    assert.deepEqual(batches, [
      [updated(items, item(1, 'A'), item(1, 'a'), 1)],
      [updated(items, item(2, 'b', 5), item(2, 'b'), 2)],
      [updated(items, { ...item(2, 'b', 5), createdAt: at(9) }, item(2, 'b', 5), 2)]
    ])
  })

  test(name('a single delete publishes the row as it was'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'), item(3, 'c'), item(4, 'd'))
    const bare = await db.delete(items).where(eq(items.id, 1))
    assert.deepEqual(shape(bare), shape(await plain.delete(items).where(eq(items.id, 4))))
    assert.deepEqual(await db.delete(items).where(eq(items.id, 2)).returning(), [item(2, 'b')])
    assert.deepEqual(await db.delete(items).where(eq(items.id, 3)).returning({ name: items.name }), [{ name: 'c' }])
    assert.deepEqual(batches, [
      [deleted(items, item(1, 'a'), 1)],
      [deleted(items, item(2, 'b'), 2)],
      [deleted(items, item(3, 'c'), 3)]
    ])
  })

  test(name('bulk writes publish one event per row, in one batch per statement'), async (t) => {
    const { db, batches } = await setup(t, backend)
    const bulkInsert = await db.insert(items).values([{ name: 'a', createdAt: at(1) }, { name: 'b', createdAt: at(2) }, { name: 'c', createdAt: at(3) }])
    assert.equal(shape(bulkInsert).rows.length, 0)
    assert.deepEqual(await db.update(items).set({ qty: sql`${items.id} * 10` }).where(gt(items.id, 1)).returning({ id: items.id, qty: items.qty }), [{ id: 2, qty: 20 }, { id: 3, qty: 30 }])
    const bulkDelete = await db.delete(items)
    assert.deepEqual(shape(bulkDelete), backend.name === 'postgres'
      ? { rows: [], count: 3, command: 'DELETE', columns: [] }
      : { rows: [], fields: [], command: 'DELETE', affectedRows: 3, rowCount: 3 })
    assert.deepEqual(batches, [
      [created(items, item(1, 'a'), 1), created(items, item(2, 'b'), 2), created(items, item(3, 'c'), 3)],
      [updated(items, item(2, 'b', 20), item(2, 'b'), 2), updated(items, item(3, 'c', 30), item(3, 'c'), 3)],
      [deleted(items, item(1, 'a'), 1), deleted(items, item(2, 'b', 20), 2), deleted(items, item(3, 'c', 30), 3)]
    ])
  })

  test(name('writes that match no row publish nothing'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'))
    assert.deepEqual(shape(await db.update(items).set({ name: 'x' }).where(eq(items.id, 99))), shape(await plain.update(items).set({ name: 'x' }).where(eq(items.id, 99))))
    assert.deepEqual(await db.update(items).set({ name: 'x' }).where(eq(items.id, 99)).returning(), [])
    assert.deepEqual(shape(await db.delete(items).where(eq(items.id, 99))), shape(await plain.delete(items).where(eq(items.id, 99))))
    assert.deepEqual(await db.delete(items).where(eq(items.id, 99)).returning({ id: items.id }), [])
    assert.deepEqual(await db.insert(items).values(item(1, 'dup')).onConflictDoNothing().returning(), [])
    await db.transaction(async (tx) => {
      await tx.update(items).set({ name: 'x' }).where(eq(items.id, 99))
    })
    assert.deepEqual(batches, [])
  })

  test(name('a transaction publishes once, after it commits; a rollback publishes nothing'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'))
    const result = await db.transaction(async (tx) => {
      await tx.insert(items).values({ name: 'c', createdAt: at(101) })
      await tx.update(items).set({ qty: 1 }).where(eq(items.id, 1))
      await tx.delete(items).where(eq(items.id, 2))
      assert.deepEqual(batches, [], 'nothing is published before the commit')
      return 'done'
    })
    assert.equal(result, 'done')
    assert.deepEqual(batches, [[
      created(items, { id: 101, name: 'c', qty: 0, createdAt: at(101) }, 101),
      updated(items, item(1, 'a', 1), item(1, 'a'), 1),
      deleted(items, item(2, 'b'), 2)
    ]])

    await assert.rejects(db.transaction(async (tx) => {
      await tx.insert(items).values({ name: 'd', createdAt: at(102) })
      await tx.update(items).set({ qty: 7 }).where(eq(items.id, 1))
      throw new Error('boom')
    }), /boom/)
    await assert.rejects(db.transaction(async (tx) => {
      await tx.delete(items)
      tx.rollback()
    }), /Rollback/)
    assert.equal(batches.length, 1)
    assert.deepEqual(await plain.select().from(items).orderBy(items.id), [
      item(1, 'a', 1),
      { id: 101, name: 'c', qty: 0, createdAt: at(101) }
    ])
  })

  test(name('several changes of a row in a transaction publish their net effect'), async (t) => {
    const { db, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'), item(3, 'c'), item(4, 'd'))
    await db.transaction(async (tx) => {
      await tx.update(items).set({ qty: 1 }).where(eq(items.id, 3)) //    update 3 …
      await tx.insert(items).values(item(10, 'new')) //                 create 10 …
      await tx.update(items).set({ name: 'newer' }).where(eq(items.id, 10)) // … + update → create
      await tx.insert(items).values(item(11, 'gone')) //                create 11 …
      await tx.delete(items).where(eq(items.id, 11)) //                 … + delete → nothing
      await tx.update(items).set({ qty: 2 }).where(eq(items.id, 3)) //  … + update → update
      await tx.update(items).set({ qty: 1 }).where(eq(items.id, 1)) //  update 1 …
      await tx.delete(items).where(eq(items.id, 1)) //                  … + delete → delete of the original
      await tx.delete(items).where(eq(items.id, 2)) //                  delete 2 …
      await tx.insert(items).values(item(2, 'again')) //                … + create → update
      await tx.update(items).set({ qty: 9 }).where(inArray(items.id, [4, 10])) // 4: update; 10: still a create
    })
    assert.deepEqual(batches, [[
      updated(items, item(3, 'c', 2), item(3, 'c'), 3),
      created(items, item(10, 'newer', 9), 10),
      deleted(items, item(1, 'a'), 1),
      updated(items, item(2, 'again'), item(2, 'b'), 2),
      updated(items, item(4, 'd', 9), item(4, 'd'), 4)
    ]])
  })

  test(name('an update that changes the primary key is one update, found again under its new key'), async (t) => {
    const { db, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'))
    await db.transaction(async (tx) => {
      await tx.update(items).set({ id: 5 }).where(eq(items.id, 1))
      await tx.update(items).set({ name: 'moved' }).where(eq(items.id, 5))
    })
    await db.update(items).set({ id: 6 }).where(eq(items.id, 5))
    assert.deepEqual(batches, [
      [updated(items, { ...item(1, 'moved'), id: 5 }, item(1, 'a'), 5)],
      [updated(items, { ...item(1, 'moved'), id: 6 }, { ...item(1, 'moved'), id: 5 }, 6)]
    ])
  })

  test(name('nested transactions: a released savepoint keeps its events, a rolled back one drops only its own'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'), item(3, 'c'))
    await db.transaction(async (tx) => {
      await tx.update(items).set({ qty: 1 }).where(eq(items.id, 1))
      await tx.transaction(async (inner) => {
        await inner.update(items).set({ qty: 2 }).where(eq(items.id, 2))
        await inner.transaction(async (deepest) => {
          await deepest.update(items).set({ qty: 22 }).where(eq(items.id, 2))
        })
      })
      await assert.rejects(tx.transaction(async (inner) => {
        await inner.update(items).set({ qty: 100 }).where(eq(items.id, 1))
        await inner.delete(items).where(eq(items.id, 3))
        await inner.transaction(async (deepest) => {
          await deepest.insert(items).values(item(50, 'lost'))
        })
        throw new Error('undo')
      }), /undo/)
      await tx.transaction(async (inner) => {
        await assert.rejects(inner.transaction(async (deepest) => {
          await deepest.update(items).set({ qty: 300 }).where(eq(items.id, 3))
          deepest.rollback()
        }))
        await inner.update(items).set({ qty: 3 }).where(eq(items.id, 3))
      })
      assert.deepEqual(batches, [])
    })
    assert.deepEqual(batches, [[
      updated(items, item(1, 'a', 1), item(1, 'a'), 1),
      updated(items, item(2, 'b', 22), item(2, 'b'), 2),
      updated(items, item(3, 'c', 3), item(3, 'c'), 3)
    ]])
    assert.deepEqual(await plain.select().from(items).orderBy(items.id), [item(1, 'a', 1), item(2, 'b', 22), item(3, 'c', 3)])

    await assert.rejects(db.transaction(async (tx) => {
      await tx.transaction(async (inner) => { await inner.delete(items) })
      throw new Error('outer fails')
    }), /outer fails/)
    assert.equal(batches.length, 1, 'a committed savepoint of a rolled back transaction publishes nothing')
  })

  test(name('upserts: an inserted row is a create, a conflicting one an update with its previous row'), async (t) => {
    const { db, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a', 1), item(2, 'b', 2))
    const upsert = await db.insert(items)
      .values([item(1, 'x'), item(3, 'c')])
      .onConflictDoUpdate({ target: items.id, set: { qty: sql`${items.qty} + 10` } })
      .returning({ id: items.id, qty: items.qty })
    assert.deepEqual(upsert, [{ id: 1, qty: 11 }, { id: 3, qty: 0 }])
    await db.insert(items).values(item(2, 'ignored')).onConflictDoNothing()
    await db.insert(items).values([item(2, 'ignored'), item(4, 'd')]).onConflictDoNothing({ target: items.id })
    await db.insert(tags).values({ slug: 's', label: 'one' }).onConflictDoUpdate({ target: tags.slug, set: { label: 'two' } })
    await db.insert(tags).values({ slug: 's', label: 'one' }).onConflictDoUpdate({ target: tags.slug, set: { label: 'two' } })
    assert.deepEqual(batches, [
      [updated(items, item(1, 'a', 11), item(1, 'a', 1), 1), created(items, item(3, 'c'), 3)],
      [created(items, item(4, 'd'), 4)],
      [created(tags, { slug: 's', label: 'one' }, 's')],
      [updated(tags, { slug: 's', label: 'two' }, { slug: 's', label: 'one' }, 's')]
    ])
  })

  test(name('selects, counts, relational reads and raw SQL pass through untouched; raw SQL is not captured'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'))
    assert.ok(is(db, PgDatabase))
    assert.deepEqual(await db.select().from(items).orderBy(items.id), await plain.select().from(items).orderBy(items.id))
    assert.deepEqual(await db.select({ n: count() }).from(items), [{ n: 2 }])
    assert.equal(await db.$count(items), 2)
    assert.deepEqual(await db.selectDistinct({ qty: items.qty }).from(items), [{ qty: 0 }])
    const raw = await db.execute(sql`update items set qty = 5 where id = 1`)
    assert.deepEqual(shape(raw), shape(await plain.execute(sql`update items set qty = 6 where id = 2`)))
    await db.transaction(async (tx) => {
      assert.deepEqual(await tx.select({ id: items.id, qty: items.qty }).from(items).orderBy(items.id), [{ id: 1, qty: 5 }, { id: 2, qty: 6 }])
      await tx.execute(sql`delete from items where id = 2`)
    })
    assert.deepEqual(batches, [])
  })

  test(name('tables keyed by text, uuid and composite primary keys'), async (t) => {
    const { db, batches } = await setup(t, backend)
    const [doc] = await db.insert(docs).values({ title: 'draft' }).returning()
    assert.match(doc.id, /^[0-9a-f-]{36}$/)
    await db.transaction(async (tx) => {
      await tx.update(docs).set({ title: 'final' }).where(eq(docs.id, doc.id))
      await tx.insert(tags).values([{ slug: 'js', label: null }, { slug: 'ts', label: 'TypeScript' }])
      await tx.update(tags).set({ label: 'JavaScript' }).where(eq(tags.slug, 'js'))
      await tx.insert(memberships).values([{ userId: 1, groupId: 1, role: 'member' }, { userId: 1, groupId: 2, role: 'member' }])
      await tx.update(memberships).set({ role: 'admin' }).where(eq(memberships.groupId, 2))
    })
    await db.delete(memberships).where(eq(memberships.groupId, 1))
    await db.update(memberships).set({ role: 'owner' })
    assert.deepEqual(batches, [
      [created(docs, { id: doc.id, title: 'draft' }, doc.id)],
      [
        updated(docs, { id: doc.id, title: 'final' }, { id: doc.id, title: 'draft' }, doc.id),
        created(tags, { slug: 'js', label: 'JavaScript' }, 'js'),
        created(tags, { slug: 'ts', label: 'TypeScript' }, 'ts'),
        created(memberships, { userId: 1, groupId: 1, role: 'member' }, { userId: 1, groupId: 1 }),
        created(memberships, { userId: 1, groupId: 2, role: 'admin' }, { userId: 1, groupId: 2 })
      ],
      [deleted(memberships, { userId: 1, groupId: 1, role: 'member' }, { userId: 1, groupId: 1 })],
      [updated(memberships, { userId: 1, groupId: 2, role: 'owner' }, { userId: 1, groupId: 2, role: 'admin' }, { userId: 1, groupId: 2 })]
    ])
  })

  test(name('a table without a primary key: events without previous rows, never merged'), async (t) => {
    const { db, batches } = await setup(t, backend)
    await db.transaction(async (tx) => {
      await tx.insert(logs).values([{ msg: 'a', level: 1 }, { msg: 'b', level: 1 }])
      await tx.update(logs).set({ level: 2 }).where(eq(logs.msg, 'a'))
      await tx.delete(logs).where(eq(logs.msg, 'b'))
    })
    assert.deepEqual(batches, [[
      created(logs, { msg: 'a', level: 1 }, null),
      created(logs, { msg: 'b', level: 1 }, null),
      updated(logs, { msg: 'a', level: 2 }, null, null),
      deleted(logs, { msg: 'b', level: 1 }, null)
    ]])
  })

  test(name('updates joining other tables, CTEs, insert … select and prepared statements with placeholders are captured'), async (t) => {
    const { db, batches, seed } = await setup(t, backend)
    await seed(item(1, 'js'), item(2, 'ts'), item(3, 'go'))
    await db.insert(tags).values([{ slug: 'js', label: 'JavaScript' }, { slug: 'ts', label: 'TypeScript' }])
    batches.length = 0
    const joined = await db.update(items).set({ name: sql`${tags.label}` }).from(tags).where(eq(items.name, tags.slug)).returning({ id: items.id, label: tags.label })
    assert.deepEqual(joined.sort((a, b) => a.id - b.id), [{ id: 1, label: 'JavaScript' }, { id: 2, label: 'TypeScript' }])

    const goItems = db.$with('go_items').as(db.select({ id: items.id }).from(items).where(eq(items.name, 'go')))
    await db.with(goItems).update(items).set({ qty: 7 }).where(inArray(items.id, sql`(select id from ${goItems})`))
    await db.with(goItems).delete(items).where(inArray(items.id, sql`(select id from ${goItems})`))

    const rename = db.update(items).set({ name: sql`${sql.placeholder('name')}` }).where(eq(items.id, sql.placeholder('id'))).prepare('capture_rename')
    assert.deepEqual(shape(await rename.execute({ id: 1, name: 'one' })).rows, [])
    await rename.execute({ id: 2, name: 'two' })
    const add = db.insert(items).values({ name: sql.placeholder('name'), createdAt: at(5) }).returning({ id: items.id }).prepare('capture_add')
    assert.deepEqual(await add.execute({ name: 'five' }), [{ id: 101 }])
    await db.insert(tags).select(db.select({ slug: items.name, label: sql<string>`'copied'`.as('label') }).from(items).where(eq(items.id, 101)))

    const byPk = (a: ChangeEvent, b: ChangeEvent) => (a.pk as number) - (b.pk as number)
    assert.deepEqual(batches.map((batch) => batch.sort(byPk)), [
      [updated(items, item(1, 'JavaScript'), item(1, 'js'), 1), updated(items, item(2, 'TypeScript'), item(2, 'ts'), 2)],
      [updated(items, item(3, 'go', 7), item(3, 'go'), 3)],
      [deleted(items, item(3, 'go', 7), 3)],
      [updated(items, item(1, 'one'), item(1, 'JavaScript'), 1)],
      [updated(items, item(2, 'two'), item(2, 'TypeScript'), 2)],
      [created(items, { id: 101, name: 'five', qty: 0, createdAt: at(5) }, 101)],
      [created(tags, { slug: 'five', label: 'copied' }, 'five')]
    ])
  })

  test(name('writes of one shape share one statement, each binding its own values'), async (t) => {
    const { db, plain, batches, seed } = await setup(t, backend)
    await seed(item(1, 'a'), item(2, 'b'), item(3, 'c'))
    for (const [id, name] of [[1, 'x'], [2, 'y'], [1, 'z']] as const) await db.update(items).set({ name }).where(eq(items.id, id))
    // values inside SQL expressions, dates through their column's encoder, lists of other lengths
    for (const n of [2, 5]) await db.update(items).set({ qty: sql`${items.qty} + ${n}` }).where(eq(items.id, 3))
    for (const id of [1, 2]) await db.update(items).set({ createdAt: at(10 + id) }).where(eq(items.id, id))
    await db.update(items).set({ qty: 1 }).where(inArray(items.id, [1, 2]))
    await db.update(items).set({ qty: 9 }).where(inArray(items.id, [3]))
    // null in place of a value, columns left to their defaults, several rows
    await db.insert(tags).values({ slug: 'a', label: 'A' })
    await db.insert(tags).values({ slug: 'b', label: null })
    await db.insert(tags).values({ slug: 'c', label: 'C' })
    await db.update(tags).set({ label: null }).where(eq(tags.slug, 'a'))
    await db.update(tags).set({ label: 'B' }).where(eq(tags.slug, 'b'))
    // (a timestamp's encoder does not take null)
    await db.insert(visits).values([{ id: 1, at: at(1) }, { id: 2, at: null }])
    await db.update(visits).set({ at: null }).where(eq(visits.id, 1))
    await db.update(visits).set({ at: at(2) }).where(eq(visits.id, 2))
    assert.deepEqual(await plain.select().from(visits).orderBy(visits.id), [{ id: 1, at: null }, { id: 2, at: at(2) }])
    await db.insert(items).values([{ name: 'm', createdAt: at(20) }, { name: 'n', qty: 4, createdAt: at(21) }])
    await db.insert(items).values([{ name: 'o', createdAt: at(22) }, { name: 'p', qty: 6, createdAt: at(23) }])
    await db.delete(items).where(eq(items.id, 101))
    // the same shapes inside a transaction, on its own connection
    await assert.rejects(db.transaction(async (tx) => {
      await tx.update(items).set({ name: 'rolled back' }).where(eq(items.id, 2))
      throw new Error('rollback')
    }))
    assert.deepEqual(await plain.select().from(items).orderBy(items.id), [
      { ...item(1, 'z', 1), createdAt: at(11) },
      { ...item(2, 'y', 1), createdAt: at(12) },
      item(3, 'c', 9),
      { id: 102, name: 'n', qty: 4, createdAt: at(21) },
      { id: 103, name: 'o', qty: 0, createdAt: at(22) },
      { id: 104, name: 'p', qty: 6, createdAt: at(23) }
    ])
    assert.deepEqual(await plain.select().from(tags).orderBy(tags.slug), [{ slug: 'a', label: null }, { slug: 'b', label: 'B' }, { slug: 'c', label: 'C' }])
    assert.deepEqual(batches.at(-1), [deleted(items, { id: 101, name: 'm', qty: 0, createdAt: at(20) }, 101)])
    assert.deepEqual(batches[3], [updated(items, item(3, 'c', 2), item(3, 'c'), 3)])
    assert.deepEqual(batches[4], [updated(items, item(3, 'c', 7), item(3, 'c', 2), 3)])

    // Encoders that return SQL, values computed per write ($onUpdate): each write on its own.
    await db.insert(remarks).values({ id: 1, body: 'first' })
    await db.update(remarks).set({ body: 'second' }).where(eq(remarks.id, 1))
    await db.update(remarks).set({ body: 'third' }).where(eq(remarks.id, 1))
    assert.deepEqual(await plain.select().from(remarks), [{ id: 1, body: 'THIRD', stamp: `update ${stamped}` }])
    assert.deepEqual(batches.slice(-2).map(([event]) => event.row.stamp), [`update ${stamped - 1}`, `update ${stamped}`])
  })

  test(name('tables in a named schema'), async (t) => {
    const { db, exec, batches } = await setup(t, backend)
    // PGlite: a schema of its own; PostgreSQL: the test's schema (dropped with it)
    if (backend.name === 'pglite') await exec('create schema app')
    const schemaName = backend.name === 'pglite' ? 'app' : await currentSchema(exec)
    const notes = pgSchema(schemaName).table('notes', { id: integer('id').primaryKey(), body: text('body').notNull() })
    await exec(`create table "${schemaName}".notes (id integer primary key, body text not null)`)
    await db.insert(notes).values({ id: 1, body: 'a' })
    await db.update(notes).set({ body: 'b' }).where(eq(notes.id, 1))
    await db.insert(notes).values({ id: 1, body: 'c' }).onConflictDoUpdate({ target: notes.id, set: { body: 'c' } })
    await db.delete(notes)
    assert.deepEqual(batches, [
      [created(notes, { id: 1, body: 'a' }, 1)],
      [updated(notes, { id: 1, body: 'b' }, { id: 1, body: 'a' }, 1)],
      [updated(notes, { id: 1, body: 'c' }, { id: 1, body: 'b' }, 1)],
      [deleted(notes, { id: 1, body: 'c' }, 1)]
    ])
  })

  test(name('an onCommit that throws or rejects does not fail the committed write'), async (t) => {
    const { plain } = await setup(t, backend)
    let calls = 0
    const throwing = captureChanges(plain, () => { calls++; throw new Error('observer bug') })
    const rejecting = captureChanges(plain, (async () => { calls++; throw new Error('async observer bug') }) as () => void)
    assert.deepEqual(await throwing.insert(items).values(item(1, 'a')).returning({ id: items.id }), [{ id: 1 }])
    assert.equal(await throwing.transaction(async (tx) => {
      await tx.update(items).set({ qty: 1 }).where(eq(items.id, 1))
      return 'ok'
    }), 'ok')
    await rejecting.delete(items).where(eq(items.id, 1))
    assert.equal(calls, 3)
    assert.deepEqual(await plain.select().from(items), [])
  })

  test(name('the capture option leaves other tables alone'), async (t) => {
    const { plain } = await setup(t, backend)
    const batches: ChangeEvent[][] = []
    const db = captureChanges(plain, (events) => { batches.push(events) }, { capture: (table) => table === tags })
    await db.insert(items).values(item(1, 'a'))
    await db.insert(tags).values({ slug: 'a', label: null })
    assert.deepEqual(batches, [[created(tags, { slug: 'a', label: null }, 'a')]])
  })

  test(name('concurrent updates of one row each publish the row they replaced'), async (t) => {
    const { exec, plain } = await setup(t, backend)
    let pool: Db = plain
    if (backend.name === 'postgres') {
      // a pool of several connections: the updates really run side by side
      const client = postgres(process.env.DATABASE_URL as string, { max: 4, onnotice: () => {}, connection: { search_path: await currentSchema(exec) } })
      t.after(() => client.end({ timeout: 5 }))
      pool = drizzle(client) as unknown as Db
    }
    await plain.insert(items).values(item(1, 'counter'))
    const events: ChangeEvent[] = []
    const db = captureChanges(pool, (batch) => { events.push(...batch) })
    await Promise.all(Array.from({ length: 12 }, (_, i) => i % 2
      ? db.update(items).set({ qty: sql`${items.qty} + 1` }).where(eq(items.id, 1))
      : db.transaction((tx) => tx.update(items).set({ qty: sql`${items.qty} + 1` }).where(eq(items.id, 1)))))
    const steps = events.map((event) => [(event.previous as Row).qty, event.row.qty]).sort((a, b) => (a[0] as number) - (b[0] as number))
    assert.deepEqual(steps, Array.from({ length: 12 }, (_, i) => [i, i + 1]))
  })
}
