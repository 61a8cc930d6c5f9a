/**
 * The cost of external changes per write: the same single-row UPDATE with no trigger, with the
 * trigger reporting it (a raw write: NOTIFY, a LISTEN connection attached), and with the trigger
 * skipping it (a write captured through the plugin's database, which carries the marker); and one
 * UPDATE of 1,000 rows, with and without the trigger. PostgreSQL (`BENCH_DATABASE_URL`, else
 * `DATABASE_URL`, else the local server; with `synchronous_commit = off`) and PGlite.
 *
 *   npx tsx --conditions=source bench/external.ts [--writes=2000] [--rounds=5] [--pglite-only]
 */
import { PGlite } from '@electric-sql/pglite'
import { eq, sql } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import { captureChanges, externalChangesSql, type Database } from 'fastify-dcrf'
import { quantile, sorted } from './common.js'

const items = pgTable('items', { id: serial('id').primaryKey(), name: text('name').notNull(), counter: integer('counter').notNull() })
const DDL = 'create table items (id serial primary key, name text not null, counter integer not null)'
const SEED = "insert into items (name, counter) select 'item ' || i, 0 from generate_series(1, 1000) i"
const DROP = ['drop trigger if exists dcrf_changes_insert on items', 'drop trigger if exists dcrf_changes_update on items', 'drop trigger if exists dcrf_changes_delete on items']

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]))
const WRITES = Number(args.get('writes') ?? 2000)
const ROUNDS = Number(args.get('rounds') ?? 5)

interface Target {
  name: string
  raw (text: string): Promise<unknown>
  /** Several statements in one script. */
  script (text: string): Promise<unknown>
  /** The plugin's captured database over the same client. */
  captured: Database
  listen (onNotify: () => void): Promise<() => Promise<void>>
  close (): Promise<void>
}

async function postgresTarget (): Promise<Target> {
  const url = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const schema = `bench_external_${process.pid}`
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create schema ${schema}`)
  // without waiting for each commit's flush to disk, which on a shared VM dwarfs and blurs the rest
  const client = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema, synchronous_commit: 'off' } })
  const db = drizzlePostgres(client) as unknown as Database
  return {
    name: 'PostgreSQL (postgres.js)',
    raw: (text) => client.unsafe(text),
    script: (text) => client.unsafe(text),
    captured: captureChanges(db, () => {}),
    listen: async (onNotify) => (await client.listen('dcrf_changes', onNotify)).unlisten,
    close: async () => {
      await client.end({ timeout: 5 })
      await admin.unsafe(`drop schema ${schema} cascade`)
      await admin.end({ timeout: 5 })
    }
  }
}

async function pgliteTarget (): Promise<Target> {
  const client = new PGlite()
  const db = drizzlePglite(client) as unknown as Database
  return {
    name: 'PGlite',
    raw: (text) => client.query(text),
    script: (text) => client.exec(text),
    captured: captureChanges(db, () => {}),
    listen: (onNotify) => client.listen('dcrf_changes', onNotify),
    close: () => client.close()
  }
}

/** µs per write of `write`, run `WRITES` times in a row. */
async function perWrite (write: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < WRITES; i++) await write(i)
  return Number(process.hrtime.bigint() - start) / 1000 / WRITES
}

async function measure (target: Target): Promise<Array<[string, number[]]>> {
  await target.raw(DDL)
  await target.raw(SEED)
  const install = async (): Promise<void> => { await target.script(externalChangesSql({ tables: [items] })) }
  const uninstall = async (): Promise<void> => { for (const statement of DROP) await target.raw(statement) }
  let heard = 0
  const unlisten = await target.listen(() => { heard++ })
  const rawUpdate = (i: number) => target.raw(`update items set counter = counter + 1 where id = ${1 + (i % 1000)}`)
  const capturedUpdate = (i: number) => target.captured.update(items).set({ counter: sql`${items.counter} + 1` }).where(eq(items.id, 1 + (i % 1000)))
  const bulk = async () => {
    const start = process.hrtime.bigint()
    await target.raw('update items set counter = counter + 1')
    return Number(process.hrtime.bigint() - start) / 1000
  }
  const results = new Map<string, number[]>()
  const add = (name: string, value: number): void => { results.set(name, [...(results.get(name) ?? []), value]) }
  // warm-up
  await perWrite(rawUpdate)
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA: off, on, on, off
    const off = async (): Promise<void> => {
      await uninstall()
      add('raw UPDATE, no trigger', await perWrite(rawUpdate))
      add('captured UPDATE, no trigger', await perWrite(capturedUpdate))
      add('UPDATE of 1,000 rows, no trigger (µs per statement)', await bulk())
    }
    const on = async (): Promise<void> => {
      await install()
      add('raw UPDATE, trigger notifies', await perWrite(rawUpdate))
      add('captured UPDATE, trigger skips it', await perWrite(capturedUpdate))
      add('UPDATE of 1,000 rows, trigger notifies (µs per statement)', await bulk())
    }
    if (round % 2 === 0) { await off(); await on() } else { await on(); await off() }
  }
  await unlisten()
  if (heard === 0) throw new Error('the trigger never notified')
  return [...results]
}

const targets = args.has('pglite-only') ? [pgliteTarget] : [postgresTarget, pgliteTarget]
for (const make of targets) {
  const target = await make()
  try {
    const rows = await measure(target)
    console.log(`\n${target.name}: median of ${ROUNDS} rounds of ${WRITES} sequential writes (µs per write)\n`)
    console.log('| write | µs |')
    console.log('|---|---|')
    for (const [name, values] of rows) console.log(`| ${name} | ${quantile(sorted(values), 0.5).toFixed(1)} |`)
  } finally {
    await target.close()
  }
}
