import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { drizzle as dpg } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { pgTable, serial, text, integer, varchar, unique } from 'drizzle-orm/pg-core'
const users = pgTable('users', { id: serial('id').primaryKey(), username: text('username').notNull().unique(), code: varchar('code', { length: 3 }), n: integer('n') })
const comments = pgTable('comments', { id: serial('id').primaryKey(), userId: integer('user_id').notNull().references(() => users.id), a: integer('a'), b: integer('b') }, (t) => [unique('ab').on(t.a, t.b)])
const ddl = `create table users (id serial primary key, username text not null unique, code varchar(3), n integer);
create table comments (id serial primary key, user_id integer not null references users(id), a integer, b integer, constraint ab unique (a, b))`
async function tryit (label: string, f: () => Promise<unknown>) {
  try { await f(); console.log(label, 'ok') } catch (e: any) {
    console.log(label, e.constructor.name, e.message.slice(0, 80))
    const c = e.cause
    console.log('  cause', c?.constructor?.name, JSON.stringify(Object.fromEntries(Object.entries(c ?? {}).filter(([k]) => k !== 'query' && k !== 'parameters'))))
  }
}
async function run (db: any) {
  await db.insert(users).values({ username: 'a' })
  await tryit('unique', () => db.insert(users).values({ username: 'a' }))
  await tryit('fk', () => db.insert(comments).values({ userId: 99 }))
  await tryit('notnull', () => db.insert(comments).values({ userId: null }))
  await tryit('varchar', () => db.insert(users).values({ username: 'b', code: 'abcd' }))
  await tryit('range', () => db.insert(users).values({ username: 'c', n: 99999999999 }))
  await tryit('syntax', () => db.insert(users).values({ username: 'd', n: 'abc' }))
  await db.insert(comments).values({ userId: 1, a: 1, b: 2 })
  await tryit('multi', () => db.insert(comments).values({ userId: 1, a: 1, b: 2 }))
  await tryit('still', () => db.delete(users))
}
const pg = new PGlite(); await pg.exec(ddl); await run(drizzle(pg))
const sql = postgres('postgres://postgres@127.0.0.1:5432/test', { onnotice: () => {} })
await sql.unsafe('create schema if not exists exp1; set search_path to exp1')
const s2 = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => {}, connection: { search_path: 'exp1' } })
await s2.unsafe('drop table if exists comments; drop table if exists users;' + ddl)
await run(dpg(s2))
await sql.unsafe('drop schema exp1 cascade'); await sql.end(); await s2.end()
