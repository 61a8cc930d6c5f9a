/**
 * The example's database: PostgreSQL through postgres.js when a `DATABASE_URL` is given, embedded
 * PostgreSQL (PGlite) otherwise — in memory, or in a data folder that outlives the process. Either
 * way the tables of `schema.ts` are created if they do not exist yet (no migration tool needed).
 */
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Database } from 'fastify-dcrf'

/** The tables of `schema.ts`, in SQL. */
export const DDL = `
  CREATE TABLE IF NOT EXISTS users (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text NOT NULL,
    password text NOT NULL
  );
  CREATE TABLE IF NOT EXISTS things (
    id serial PRIMARY KEY,
    name text NOT NULL,
    counter integer NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS comments (
    id serial PRIMARY KEY,
    text text NOT NULL,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    date timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS rooms (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    host_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
  );
  CREATE TABLE IF NOT EXISTS room_users (
    room_id integer NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, user_id)
  );
  CREATE TABLE IF NOT EXISTS messages (
    id serial PRIMARY KEY,
    room_id integer NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
`

/** Seconds postgres.js waits for a connection to be ready before failing its queries. */
export const CONNECT_TIMEOUT = 5

export interface DatabaseOptions {
  /** `postgres://…`: use that server. Default: PGlite. */
  databaseUrl?: string
  /** PGlite's data folder. Default: in memory. */
  dataDir?: string
}

/** A Drizzle database and the way to close its client. */
export interface OpenDatabase {
  db: Database
  close (): Promise<void>
}

/** Connects, and creates the tables that are missing. */
export async function openDatabase (options: DatabaseOptions = {}): Promise<OpenDatabase> {
  if (options.databaseUrl) {
    // A single connection, as PGlite has one session: every query of the example is short (one
    // pipelined connection carries the load; see the README). A server that does not answer fails
    // the queries waiting for it after CONNECT_TIMEOUT seconds instead of holding them 30 s.
    const client = postgres(options.databaseUrl, { max: 1, connect_timeout: CONNECT_TIMEOUT, onnotice: () => {} })
    const close = (): Promise<void> => client.end({ timeout: 5 })
    try {
      await client.unsafe(DDL)
    } catch (err) {
      await close()
      throw err
    }
    return { db: drizzlePostgres(client), close }
  }
  const client = new PGlite(options.dataDir)
  const close = (): Promise<void> => client.close()
  try {
    await client.exec(DDL)
  } catch (err) {
    await close()
    throw err
  }
  return { db: drizzlePglite(client), close }
}
