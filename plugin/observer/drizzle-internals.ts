/**
 * Every use of drizzle-orm beyond its documented API, in one place: the private fields of its write
 * builders, its dialect's helpers, its row mapper, its table symbols and the classes of an SQL tree,
 * as drizzle-orm 0.45 has them. Values are read from the module namespaces, never imported by name,
 * so that a drizzle-orm without one still loads; {@link probeDrizzle} then says what is missing.
 */
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as orm from 'drizzle-orm'
import * as pgCore from 'drizzle-orm/pg-core'
import type { Query } from 'drizzle-orm'
import type {
  PgColumn,
  PgDeleteConfig,
  PgDialect,
  PgInsertConfig,
  PgPreparedQuery,
  PgSession,
  PgTable,
  PgUpdateConfig,
  SelectedFieldsOrdered
} from 'drizzle-orm/pg-core'
import { errors } from '../errors.js'

/** The classes of an SQL tree that the shape walk (`./shape.ts`) tells apart. */
export const { Column, Name, Param, SQL, StringChunk, Table } = orm

/** What a write builder renders: its config, with the RETURNING fields Drizzle orders. */
export type WriteConfig = (PgInsertConfig | PgUpdateConfig | PgDeleteConfig) & { returning?: SelectedFieldsOrdered }

/** The private fields of Drizzle's insert, update and delete builders that capture reads. */
export interface WriteBuilder {
  session: PgSession
  dialect: PgDialect
  config: WriteConfig
  cacheConfig?: unknown
  joinsNotNullableMap?: Record<string, boolean>
}

/** A builder returned by `insert(…).values()`, `update(…).set()` or `delete()`, seen as its fields. */
export function writeBuilder (builder: object): WriteBuilder {
  return builder as WriteBuilder
}

/** What a statement prepared with {@link prepareStatement} resolves to: its mapper's result. */
export type PreparedStatement<TResult> = PgPreparedQuery<{ execute: TResult, all: unknown, values: unknown }>

/** What the driver is told of a write statement (its logger and cache read it). */
export interface StatementMetadata {
  type: 'insert' | 'update' | 'delete'
  tables: string[]
}

/** Prepares `query` on the builder's session, its rows (as arrays) handed to `mapper`. */
export function prepareStatement<TResult> (builder: WriteBuilder, query: Query, name: string | undefined, mapper: (rows: unknown[][]) => TResult, metadata: StatementMetadata): PreparedStatement<TResult> {
  return builder.session.prepareQuery(query, undefined, name, true, mapper, metadata, builder.cacheConfig as never)
}

interface Hidden {
  mapResultRow: (fields: SelectedFieldsOrdered, row: unknown[], joinsNotNullableMap?: Record<string, boolean>) => unknown
}
interface HiddenPgCore {
  extractUsedTable: (table: unknown) => string[]
}
interface DialectInternals {
  casing: { getColumnCasing (column: unknown): string }
  buildSelection (fields: SelectedFieldsOrdered, options: { isSingleTable: boolean }): orm.SQL
  buildFromTable (table: unknown): orm.SQL
  buildJoins (joins: unknown): orm.SQL | undefined
}

/** The metadata of a write to `table`, as Drizzle's own builders give it. */
export function statementMetadata (type: StatementMetadata['type'], table: PgTable): StatementMetadata {
  return { type, tables: (pgCore as unknown as HiddenPgCore).extractUsedTable(table) }
}

/** A result row of the user's RETURNING fields, mapped by Drizzle's own row mapper. */
export function mapResultRow (fields: SelectedFieldsOrdered, row: unknown[], joinsNotNullableMap: Record<string, boolean> | undefined): unknown {
  return (orm as unknown as Hidden).mapResultRow(fields, row, joinsNotNullableMap)
}

/** A column's SQL name under the dialect's casing. */
export function columnName (dialect: PgDialect, column: PgColumn): string {
  return (dialect as unknown as DialectInternals).casing.getColumnCasing(column)
}

/** A RETURNING or SELECT list, its columns unqualified when `isSingleTable`. */
export function selection (dialect: PgDialect, fields: SelectedFieldsOrdered, isSingleTable: boolean): orm.SQL {
  return (dialect as unknown as DialectInternals).buildSelection(fields, { isSingleTable })
}

/** A table (or subquery) as a FROM item. */
export function fromTable (dialect: PgDialect, table: unknown): orm.SQL {
  return (dialect as unknown as DialectInternals).buildFromTable(table)
}

/** The JOIN clauses of an update's joins; undefined without any. */
export function joinClauses (dialect: PgDialect, joins: unknown): orm.SQL | undefined {
  return (dialect as unknown as DialectInternals).buildJoins(joins)
}

/** A WITH entry `alias as (query)`, as the dialect reads the subqueries of a `withList`. */
export function withEntry (alias: string, query: orm.SQL): NonNullable<PgUpdateConfig['withList']>[number] {
  return { _: { alias, sql: query } } as unknown as NonNullable<PgUpdateConfig['withList']>[number]
}

/** A join of an update config. */
export function crossJoin (table: orm.SQL): PgUpdateConfig['joins'][number] {
  return { joinType: 'cross', table, on: undefined, alias: undefined } as never
}

/** The dialect a Drizzle database renders with. */
export function dialectOf (db: unknown): PgDialect {
  return (db as { dialect: PgDialect }).dialect
}

/** Whether a value is one of Drizzle's entities: a placeholder, subquery, view, alias, builder… */
export function isEntity (value: object): boolean {
  return orm.entityKind in (value.constructor ?? {})
}

/** Whether an SQL node renders its params inline (`.inlineParams()`). */
export function inlinesParams (node: orm.SQL): boolean {
  return (node as unknown as { shouldInlineParams: boolean }).shouldInlineParams
}

/** Whether an encoder's output never is SQL: a built-in column's, or none. */
export function isPlainEncoder (encoder: unknown): boolean {
  if (encoder === orm.noopEncoder) return true
  return encoder instanceof Column && encoder.columnType !== 'PgCustomColumn'
}

/** A placeholder bound through an encoder (a column's, as Drizzle binds its values), or as it is. */
export function encodedPlaceholder (name: string, encoder?: orm.DriverValueEncoder<unknown, unknown>): orm.Param | orm.Placeholder {
  const placeholder = orm.sql.placeholder(name)
  return encoder === undefined ? placeholder : new Param(placeholder, encoder)
}

const kOriginalName = Symbol.for('drizzle:OriginalName')
const kName = Symbol.for('drizzle:Name')
const kSchema = Symbol.for('drizzle:Schema')

/** A table's SQL name (never an alias), the name it goes by in a statement, and its schema. */
export function tableNames (table: PgTable): { name: string, alias: string, schema: string | undefined } {
  const symbols = table as unknown as Record<symbol, string | undefined>
  return { name: symbols[kOriginalName] as string, alias: symbols[kName] as string, schema: symbols[kSchema] }
}

/** Whether a column's value is computed while a write renders (`$defaultFn`, `$onUpdate`). */
export function computesValue (column: PgColumn): boolean {
  return column.defaultFn !== undefined || column.onUpdateFn !== undefined
}

/** The drizzle-orm modules {@link probeDrizzle} checks the exports of: the installed ones by default. */
export interface DrizzleModules {
  orm: object
  pgCore: object
}

const EXPORTS: Array<[keyof DrizzleModules, string, string[]]> = [
  ['orm', 'drizzle-orm', ['mapResultRow', 'entityKind', 'noopEncoder', 'Column', 'Name', 'Param', 'SQL', 'StringChunk', 'Table']],
  ['pgCore', 'drizzle-orm/pg-core', ['extractUsedTable', 'PgDialect']]
]
const DIALECT_METHODS = ['buildSelection', 'buildFromTable', 'buildJoins', 'buildWithCTE', 'buildInsertQuery', 'buildUpdateQuery', 'buildDeleteQuery', 'sqlToQuery']

/**
 * Checks that drizzle-orm has every internal of this module and that they behave as capture
 * expects, on builders of `db` (made, never run); else throws one `DCRF_ERR_DRIZZLE_UNSUPPORTED`
 * naming the installed version and everything missing.
 *
 * @example
 * probeDrizzle(db) // when change capture starts
 */
export function probeDrizzle (db: unknown, modules: DrizzleModules = { orm, pgCore }, version?: string): void {
  const missing: string[] = []
  for (const [key, module, names] of EXPORTS) {
    const exported = modules[key] as Record<string, unknown>
    for (const name of names) {
      if (exported[name] === undefined) missing.push(`${name} (${module})`)
    }
  }
  const dialect = (modules.pgCore as { PgDialect?: { prototype: Record<string, unknown> } }).PgDialect
  for (const method of DIALECT_METHODS) {
    if (typeof dialect?.prototype[method] !== 'function') missing.push(`PgDialect.${method}`)
  }
  // the behaviour is only worth checking once everything it relies on is there
  if (missing.length === 0) {
    let checks: Array<[string, () => boolean]> = [['write builders from insert().values(), update().set() and delete()', () => false]]
    try {
      checks = behaviours(db)
    } catch {}
    for (const [name, holds] of checks) {
      let held = false
      try {
        held = holds()
      } catch {}
      if (!held) missing.push(name)
    }
  }
  if (missing.length > 0) throw new errors.DCRF_ERR_DRIZZLE_UNSUPPORTED(version ?? drizzleVersion(), missing.join(', '))
}

/** The version of the installed drizzle-orm, from its package.json (which its exports do not list). */
export function drizzleVersion (): string {
  try {
    const root = dirname(createRequire(import.meta.url).resolve('drizzle-orm'))
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string, version?: string }
    if (manifest.name === 'drizzle-orm' && typeof manifest.version === 'string') return manifest.version
  } catch {}
  return 'of an unknown version'
}

type ProbeDatabase = Pick<pgCore.PgDatabase<pgCore.PgQueryResultHKT>, 'insert' | 'update' | 'delete' | 'with' | '$with' | 'select'>

/** What capture relies on, each named as the error names it when it does not hold. */
function behaviours (db: unknown): Array<[string, () => boolean]> {
  const { sql, eq, is } = orm
  const { alias, customType, integer, pgSchema, pgTable, text, PgDialect } = pgCore
  const probe = pgTable('dcrf_probe', {
    id: integer('id').primaryKey(),
    made: text('made').$defaultFn(() => 'now'),
    touched: text('touched').$onUpdate(() => 'now'),
    custom: customType<{ data: string }>({ dataType: () => 'text' })('custom')
  })
  const database = db as ProbeDatabase
  const insert = writeBuilder(database.insert(probe).values({ id: 1 }))
  const update = writeBuilder(database.update(probe).set({ id: 2 }).where(eq(probe.id, 1)).returning({ id: probe.id }))
  const remove = writeBuilder(database.delete(probe))
  const dialect = update.dialect
  const render = (node: orm.SQL): string => dialect.sqlToQuery(sql`${node}`).sql
  const isProbeParam = (value: unknown, bound: unknown): boolean => value instanceof Param && value.value === bound && value.encoder === probe.id
  const { where, joins, returning } = update.config as PgUpdateConfig & { returning: SelectedFieldsOrdered }
  return [
    ['session, dialect and config fields on its write builders', () => [insert, update, remove].every((builder) =>
      typeof builder.session.prepareQuery === 'function' && is(builder.dialect, PgDialect) && builder.config.table === probe)],
    ['insert values bound as Param', () => isProbeParam(((insert.config as PgInsertConfig).values as Array<Record<string, unknown>>)[0].id, 1)],
    ['update values bound as Param', () => isProbeParam((update.config as PgUpdateConfig).set.id, 2)],
    ['insert configs with select, onConflict and overridingSystemValue_', () =>
      (writeBuilder(database.insert(probe).select(sql`select 1`)).config as PgInsertConfig).select === true &&
      (insert.config as PgInsertConfig).onConflict === undefined &&
      (writeBuilder(database.insert(probe).values({ id: 1 }).onConflictDoNothing()).config as PgInsertConfig).onConflict !== undefined &&
      (writeBuilder(database.insert(probe).overridingSystemValue().values({ id: 1 })).config as PgInsertConfig).overridingSystemValue_ === true],
    ['update configs with where, from, joins and returning', () =>
      where instanceof SQL && Array.isArray(joins) && returning[0].path[0] === 'id' && returning[0].field === probe.id &&
      (writeBuilder(database.update(probe).set({ id: 3 }).from(alias(probe, 'dcrf_from'))).config as PgUpdateConfig).from !== undefined &&
      typeof update.joinsNotNullableMap === 'object'],
    ['withList in write configs', () => writeBuilder(database.with(database.$with('dcrf_w').as(database.select({ id: probe.id }).from(probe))).delete(probe)).config.withList?.length === 1],
    ['SQL trees of StringChunk, Column, Param and Name', () => {
      const chunks = (where as orm.SQL).queryChunks.flatMap((chunk) => chunk instanceof SQL ? chunk.queryChunks : [chunk])
      return chunks.some((chunk) => chunk instanceof StringChunk && Array.isArray(chunk.value)) && chunks.includes(probe.id) &&
        chunks.some((chunk) => isProbeParam(chunk, 1)) && sql.identifier('x') instanceof Name && (sql.identifier('x') as orm.Name).value === 'x'
    }],
    ['SQL.shouldInlineParams', () => inlinesParams(sql`x`.inlineParams()) && !inlinesParams(sql`x`)],
    ['entityKind on its classes', () => isEntity(sql.placeholder('p')) && isEntity(probe.id) && !isEntity(new Date())],
    ['PgCustomColumn as the column type of custom columns', () => !isPlainEncoder(probe.custom) && isPlainEncoder(probe.id) && isPlainEncoder(orm.noopEncoder)],
    ['Column.defaultFn and Column.onUpdateFn', () => computesValue(probe.made) && computesValue(probe.touched) && !computesValue(probe.id)],
    ['table symbols OriginalName, Name and Schema', () => {
      const aliased = tableNames(alias(probe, 'dcrf_alias'))
      return aliased.name === 'dcrf_probe' && aliased.alias === 'dcrf_alias' && tableNames(pgSchema('dcrf_schema').table('t', {})).schema === 'dcrf_schema'
    }],
    ['dialect.casing', () => columnName(dialect, probe.custom) === 'custom'],
    ['PgDialect.buildSelection, buildFromTable and buildJoins as capture calls them', () =>
      render(selection(dialect, returning, true)) === '"id"' && render(fromTable(dialect, alias(probe, 'p'))) === '"dcrf_probe" "p"' &&
      render(joinClauses(dialect, [crossJoin(sql`x`)]) as orm.SQL) === ' cross join x'],
    ['WITH entries read as { _: { alias, sql } }', () =>
      render(dialect.buildDeleteQuery({ ...(remove.config as PgDeleteConfig), withList: [withEntry('dcrf_old', sql`select 1`)] })) === 'with "dcrf_old" as (select 1) delete from "dcrf_probe"'],
    ['mapResultRow for RETURNING rows', () => (mapResultRow(returning, [5], update.joinsNotNullableMap) as { id: unknown }).id === 5],
    ['extractUsedTable', () => statementMetadata('insert', probe).tables[0] === 'dcrf_probe'],
    ['dialect field on its databases', () => is(dialectOf(db), PgDialect)]
  ]
}
