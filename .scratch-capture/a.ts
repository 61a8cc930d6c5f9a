import { PGlite } from '@electric-sql/pglite'
import { drizzle as dp } from 'drizzle-orm/pglite'
import { drizzle as dj } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { eq, sql } from 'drizzle-orm'
const t = pgTable('t', { id: serial('id').primaryKey(), name: text('name') })
const ddl = 'create table t (id serial primary key, name text)'
async function run (db: any, label: string) {
  console.log(label, await db.execute(sql`select version()`))
  const r1 = await db.insert(t).values({ name: 'a' })
  console.log('insert', r1, Object.getOwnPropertyDescriptors(r1))
  const r2 = await db.update(t).set({ name: 'b' }).where(eq(t.id, 1))
  console.log('update', r2, r2.columns, r2.command, r2.count)
  const r3 = await db.delete(t).where(eq(t.id, 1))
  console.log('delete', r3)
  const r4 = await db.insert(t).values({ id: 5, name: 'x' }).onConflictDoUpdate({ target: t.id, set: { name: 'y' } })
  console.log('upsert', r4)
  const r5 = await db.execute(sql`insert into t (id, name) values (5, 'z'), (6, 'w') on conflict (id) do update set name = excluded.name returning *, (xmax = 0) as inserted, (select p.name from t p where p.id = t.id) as prev`)
  console.log('trick', r5.rows ?? [...r5])
  const r6 = await db.execute(sql`with o as (select t.id as o0, t.name as o1 from t where t.id > 0 for update of t) update t set name = name || '!' from o where t.id = o.o0 returning t.*, o.*`)
  console.log('cte', r6.rows ?? [...r6])
}
const pg = new PGlite(); await pg.exec(ddl)
await run(dp(pg), 'pglite')
const client = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => {} })
await client.unsafe('drop table if exists t; ' + ddl)
await run(dj(client), 'postgres')
await client.unsafe('drop table t')
await client.end()
