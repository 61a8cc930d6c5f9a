/**
 * The types every other part builds on: the database, a table's rows and columns, and
 * the user of a connection. No runtime code lives here.
 */
import type { FastifyRequest } from 'fastify'
import type { PgDatabase, PgTable } from 'drizzle-orm/pg-core'

/**
 * The user of a connection: `request.user` as the application's authentication sets it. Declare
 * `user` on `FastifyRequest` (as `@fastify/jwt` does) and this type follows.
 */
export type RequestUser = FastifyRequest extends { user: infer TUser } ? TUser : unknown

/** A Drizzle PostgreSQL database (postgres.js or PGlite), or a transaction of one. */
export type Database = PgDatabase<any, any, any>

/**
 * The row type of a table, `Record<string, unknown>` for consumers without one.
 *
 * @example
 * type User = RowOf<typeof users> // { id: number, username: string, ... }
 */
export type RowOf<TTable> = TTable extends PgTable ? TTable['$inferSelect'] : Record<string, unknown>

/**
 * The column keys of a table (its JS keys, not the SQL names).
 *
 * @example
 * const key: ColumnKey<typeof users> = 'username'
 */
export type ColumnKey<TTable> = TTable extends PgTable ? keyof TTable['_']['columns'] & string : string
