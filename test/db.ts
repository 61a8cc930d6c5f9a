/**
 * Test databases: every suite that touches the database runs against embedded PGlite always, and
 * against the PostgreSQL server of `DATABASE_URL` (through postgres.js) when it is set, as CI does.
 * Each call gives a fresh, isolated database: a new PGlite instance, or a new schema on the server
 * (dropped afterwards).
 */
import type { TestContext } from 'node:test'
import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

export type TestDatabase = ReturnType<typeof drizzlePglite> | ReturnType<typeof drizzlePostgres>

export interface Backend {
  name: 'pglite' | 'postgres'
  /**
   * A fresh database with `ddl` applied (statements separated by `;`), closed after the test.
   * `queries` collects the SQL of every query Drizzle runs on it.
   */
  create (t: TestContext, ddl?: string): Promise<{ db: TestDatabase, exec: (sql: string) => Promise<unknown[]>, queries: string[] }>
}

const pglite: Backend = {
  name: 'pglite',
  async create (t, ddl = '') {
    const client = new PGlite()
    t.after(() => client.close())
    if (ddl) await client.exec(ddl)
    const queries: string[] = []
    return {
      db: drizzlePglite(client, { logger: { logQuery: (query) => { queries.push(query) } } }),
      exec: async (sql) => (await client.query(sql)).rows,
      queries
    }
  }
}

function postgresBackend (url: string): Backend {
  return {
    name: 'postgres',
    async create (t, ddl = '') {
      const schema = `test_${randomBytes(6).toString('hex')}`
      const admin = postgres(url, { max: 1, onnotice: () => {} })
      await admin.unsafe(`create schema ${schema}`)
      const client = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
      t.after(async () => {
        await client.end({ timeout: 5 })
        await admin.unsafe(`drop schema ${schema} cascade`)
        await admin.end({ timeout: 5 })
      })
      if (ddl) await client.unsafe(ddl)
      const queries: string[] = []
      return {
        db: drizzlePostgres(client, { logger: { logQuery: (query) => { queries.push(query) } } }),
        exec: async (sql) => [...await client.unsafe(sql)],
        queries
      }
    }
  }
}

/** The backends to run a database suite against. */
export const backends: Backend[] = process.env.DATABASE_URL
  ? [pglite, postgresBackend(process.env.DATABASE_URL)]
  : [pglite]
