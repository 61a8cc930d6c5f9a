import { PGlite } from '@electric-sql/pglite'
import { drizzle as dp } from 'drizzle-orm/pglite'
import { drizzle as dj } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import { eq, gt, sql } from 'drizzle-orm'
import { captureChanges } from '../plugin/observer/capture.js'
const t = pgTable('t', { id: serial('id').primaryKey(), name: text('name'), at: timestamp('at') })
const ddl = 'create table t (id serial primary key, name text, at timestamp)'
async function run (raw: any, label: string) {
  const db = captureChanges(raw, (e) => console.log('EVENTS', JSON.stringify(e.map(({ table, ...x }) => x))))
  console.log(label)
  console.log('r', await db.insert(t).values({ name: 'a', at: new Date(0) }))
  console.log('r', await db.insert(t).values([{ name: 'b' }, { name: 'c' }]).returning({ id: t.id }))
  console.log('r', await db.update(t).set({ name: sql`${t.name} || '!'` }).where(gt(t.id, 1)))
  console.log('r', await db.update(t).set({ name: 'z' }).where(eq(t.id, 1)).returning())
  console.log('r', await db.insert(t).values([{ id: 1, name: 'up' }, { id: 9, name: 'new' }]).onConflictDoUpdate({ target: t.id, set: { name: sql`excluded.name` } }).returning({ id: t.id }))
  console.log('r', await db.delete(t).where(eq(t.id, 2)))
  console.log('r', await db.transaction(async (tx) => {
    await tx.insert(t).values({ id: 20, name: 'x' })
    await tx.update(t).set({ name: 'y' }).where(eq(t.id, 20))
    await tx.update(t).set({ name: 'w' }).where(eq(t.id, 1))
    await tx.delete(t).where(eq(t.id, 1))
    try { await tx.transaction(async (tx2) => { await tx2.delete(t).where(eq(t.id, 3)); throw new Error('x') }) } catch {}
    await tx.transaction(async (tx2) => { await tx2.delete(t).where(eq(t.id, 9)) })
    return 'done'
  }))
  console.log('sel', await db.select().from(t))
}
const pg = new PGlite(); await pg.exec(ddl)
await run(dp(pg), 'pglite')
const client = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => {} })
await client.unsafe('drop table if exists t; ' + ddl)
await run(dj(client), 'postgres')
await client.unsafe('drop table t')
await client.end()
