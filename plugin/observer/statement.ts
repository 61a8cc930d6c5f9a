/**
 * One captured write, as one SQL statement: the user's INSERT, UPDATE or DELETE rewritten to also
 * return every changed row in full (and, for updates, the row before), whatever the user asked to
 * get back. The user's own RETURNING fields come first and are decoded by Drizzle's own row mapper,
 * so the user's result is exactly what plain Drizzle returns.
 *
 * Updates read the rows they change in the same statement, before changing them:
 *
 *   with <user ctes>, "__dcrf_old" as (select <cols> from t where <where> for update of t)
 *   update t set <set> from "__dcrf_old" where t.pk = "__dcrf_old".pk returning <user>, t.*, "__dcrf_old".*
 *
 * `FOR UPDATE` locks each row (following concurrent updates to their latest version, as READ
 * COMMITTED does) before the update changes it, so the previous row is the one the update replaced,
 * with no extra round trip and no extra transaction around a lone statement, on any PostgreSQL.
 */
import * as drizzle from 'drizzle-orm'
import { and, sql, type Query, type SQL } from 'drizzle-orm'
import {
  extractUsedTable,
  type PgDeleteConfig,
  type PgDialect,
  type PgInsertConfig,
  type PgPreparedQuery,
  type PgSession,
  type PgUpdateConfig,
  type SelectedFieldsOrdered
} from 'drizzle-orm/pg-core'
import { npmVersion } from 'drizzle-orm/version'
import { errors } from '../errors.js'
import type { ChangeAction } from '../../types/index.js'
import type { Change } from './change.js'
import { shapeOf } from './shape.js'
import { keyOf, type Row, type TableInfo } from './table-info.js'
import { captureMarker } from './external-sql.js'

/** The internals of Drizzle's insert/update/delete builders (drizzle-orm 0.45) that capture reads. */
export interface WriteBuilder {
  session: PgSession
  dialect: PgDialect
  config: (PgInsertConfig | PgUpdateConfig | PgDeleteConfig) & { returning?: SelectedFieldsOrdered }
  cacheConfig?: unknown
  joinsNotNullableMap?: Record<string, boolean>
}

/** What a captured statement resolves to: the user's result, and the rows it changed. */
export interface Outcome {
  result: unknown
  changes: Change[]
}

interface DialectInternals {
  casing: { getColumnCasing (column: unknown): string }
  buildSelection (fields: SelectedFieldsOrdered, options: { isSingleTable: boolean }): SQL
  buildFromTable (table: unknown): SQL
  buildJoins (joins: unknown): SQL | undefined
}

type MapResultRow = (fields: SelectedFieldsOrdered, row: unknown[], joinsNotNullableMap?: Record<string, boolean>) => unknown
// Drizzle's own row mapper, exported at run time but not in its types.
const mapResultRow = (drizzle as unknown as { mapResultRow: MapResultRow }).mapResultRow
if (typeof mapResultRow !== 'function') throw new errors.DCRF_ERR_DRIZZLE_UNSUPPORTED(npmVersion, 'mapResultRow')

const OLD = sql.identifier('__dcrf_old')
const PREVIOUS = sql.identifier('__dcrf_prev')
const COMMANDS: Record<ChangeAction, string> = { create: 'INSERT', update: 'UPDATE', delete: 'DELETE' }

/** A captured statement rendered: its SQL, how to map its rows, what the driver is told of it. */
interface Rendered {
  query: Query
  mapper: (rows: unknown[][]) => Outcome
  metadata: { type: 'insert' | 'update' | 'delete', tables: string[] }
}

type CapturedQuery = PgPreparedQuery<{ execute: Outcome, all: unknown, values: unknown }>

/**
 * Prepares the captured form of a write builder's statement. `upsert` says the insert has
 * `onConflictDoUpdate` (its updated rows then read their previous state). `execute` resolves to an
 * {@link Outcome}.
 */
export function prepareCaptured (builder: WriteBuilder, info: TableInfo, action: ChangeAction, upsert: boolean, name?: string): CapturedQuery {
  return prepareRendered(builder, render(builder, info, action, upsert), name)
}

function prepareRendered (builder: WriteBuilder, rendered: Rendered, name: string | undefined): CapturedQuery {
  return builder.session.prepareQuery(rendered.query, undefined, name, true, rendered.mapper, rendered.metadata, builder.cacheConfig as never)
}

/** Rendered statements by shape (`./shape.ts`), per dialect: a database and its transactions share them. */
const rendered = new WeakMap<PgDialect, Map<string, Rendered>>()
/** Shapes kept per dialect; past it the oldest is forgotten (a shape comes from code, and from which columns a client sets). */
const MAX_SHAPES = 500

/**
 * Runs a write builder's captured statement. A write with a shape runs the statement rendered for
 * its shape, with its values as placeholders: rendered once, not once per write.
 */
export function executeCaptured (builder: WriteBuilder, info: TableInfo, action: ChangeAction, upsert: boolean, name: string, placeholders: Record<string, unknown> | undefined): Promise<Outcome> {
  const shape = upsert || builder.cacheConfig !== undefined ? null : shapeOf(builder.config, info, action, false)
  if (shape === null) return prepareCaptured(builder, info, action, upsert, name).execute(placeholders)
  let shapes = rendered.get(builder.dialect)
  if (shapes === undefined) {
    shapes = new Map()
    rendered.set(builder.dialect, shapes)
  }
  let statement = shapes.get(shape.key)
  if (statement === undefined) {
    const template = shapeOf(builder.config, info, action, true)!.template!
    statement = render({ ...builder, config: template }, info, action, false)
    if (shapes.size >= MAX_SHAPES) shapes.delete(shapes.keys().next().value!)
    shapes.set(shape.key, statement)
  }
  const values: Record<string, unknown> = {}
  const bound = shape.values
  for (let i = 0; i < bound.length; i++) values['p' + i] = bound[i]
  return prepareRendered(builder, statement, name).execute(values)
}

function render (builder: WriteBuilder, info: TableInfo, action: ChangeAction, upsert: boolean): Rendered {
  const { dialect, config } = builder
  const internals = dialect as unknown as DialectInternals
  const userFields = config.returning
  const columns = info.columns
  const userCount = userFields ? userFields.length : 0
  const returning: SQL[] = []
  if (userFields) returning.push(internals.buildSelection(userFields, { isSingleTable: action !== 'update' || !('from' in config && config.from) }))
  for (const column of columns) returning.push(sql`${column}`)

  let statement: SQL
  let hasPrevious = info.pk.length > 0
  let flagged = false
  if (action === 'create') {
    const insert = config as PgInsertConfig
    flagged = insert.onConflict !== undefined
    // (xmax = 0) tells an inserted row from one that ON CONFLICT DO UPDATE updated
    if (flagged) returning.push(sql`(xmax = 0)`)
    hasPrevious &&= upsert
    if (hasPrevious) {
      // subqueries of RETURNING see the statement's snapshot: the row before this statement changed it
      const match = and(...info.pk.map((i) => sql`${PREVIOUS}.${sql.identifier(internals.casing.getColumnCasing(columns[i]))} = ${columns[i]}`))
      for (const column of columns) {
        returning.push(sql`(select ${PREVIOUS}.${sql.identifier(internals.casing.getColumnCasing(column))} from ${internals.buildFromTable(insert.table)} ${PREVIOUS} where ${match})`)
      }
    }
    statement = sql`${dialect.buildInsertQuery({ ...insert, returning: undefined })} returning ${sql.join(returning, sql`, `)}`
  } else if (action === 'update') {
    const update = config as PgUpdateConfig
    if (hasPrevious) {
      columns.forEach((_, i) => returning.push(sql`${OLD}.${sql.identifier('o' + i)}`))
      statement = sql`${dialect.buildUpdateQuery(lockingUpdate(update, info, internals))} returning ${sql.join(returning, sql`, `)}`
    } else {
      statement = sql`${dialect.buildUpdateQuery({ ...update, returning: undefined })} returning ${sql.join(returning, sql`, `)}`
    }
  } else {
    statement = sql`${dialect.buildDeleteQuery({ ...(config as PgDeleteConfig), returning: undefined })} returning ${sql.join(returning, sql`, `)}`
  }

  const fullOffset = userCount
  const extraOffset = userCount + columns.length + (flagged ? 1 : 0)
  const mapper = (rows: unknown[][]): Outcome => {
    const changes: Change[] = new Array(rows.length)
    for (let r = 0; r < rows.length; r++) {
      const raw = rows[r]
      const row = decode(info, raw, fullOffset)
      const key = keyOf(info, row)
      let change: Change
      if (action === 'delete') {
        change = { info, table: config.table, action, row, previous: row, key, previousKey: key }
      } else if (action === 'update' || (flagged && raw[extraOffset - 1] === false)) {
        // an update, or an insert that ON CONFLICT DO UPDATE turned into one
        const previous = hasPrevious && raw[extraOffset + info.pk[0]] !== null ? decode(info, raw, extraOffset) : null
        change = { info, table: config.table, action: 'update', row, previous, key, previousKey: previous === null ? undefined : keyOf(info, previous) }
      } else {
        change = { info, table: config.table, action: 'create', row, previous: null, key, previousKey: undefined }
      }
      changes[r] = change
    }
    const result = userFields
      ? rows.map((raw) => mapResultRow(userFields, raw, builder.joinsNotNullableMap))
      : withoutRows(rows, action)
    return { result, changes }
  }

  return {
    query: marked(dialect.sqlToQuery(statement), info),
    mapper,
    metadata: { type: action === 'create' ? 'insert' : action, tables: extractUsedTable(config.table) }
  }
}

/** The statement led by the marker that tells the table's external-changes trigger we publish it ourselves. */
function marked (query: Query, info: TableInfo): Query {
  query.sql = captureMarker(info.identity) + query.sql
  return query
}

/**
 * The update, joined to a locking read of the rows it changes (see the module comment). Old
 * columns are aliased `o0…` so that neither the SET expressions nor the user's RETURNING become
 * ambiguous; with a user FROM, the WHERE stays on the update too (it may join those tables).
 */
function lockingUpdate (update: PgUpdateConfig, info: TableInfo, internals: DialectInternals): PgUpdateConfig {
  const { table, where, from, joins } = update
  const oldColumns = info.columns.map((column, i) => sql`${column} as ${sql.identifier('o' + i)}`)
  const userFrom = from ? sql`, ${internals.buildFromTable(from)}${internals.buildJoins(joins)}` : undefined
  const read = sql`select ${sql.join(oldColumns, sql`, `)} from ${internals.buildFromTable(table)}${userFrom}${where ? sql` where ${where}` : undefined} for update of ${sql.identifier(info.alias)}`
  const match = and(...info.pk.map((i) => sql`${info.columns[i]} = ${OLD}.${sql.identifier('o' + i)}`)) as SQL
  // buildWithCTE reads `_.alias` and `_.sql` of each entry
  const lock = { _: { alias: '__dcrf_old', sql: read } } as unknown as NonNullable<PgUpdateConfig['withList']>[number]
  return {
    ...update,
    withList: [...(update.withList ?? []), lock],
    from: from ?? sql`${OLD}`,
    joins: from ? [...joins, { joinType: 'cross', table: sql`${OLD}`, on: undefined, alias: undefined } as never] : [],
    where: from ? and(where, match) : match,
    returning: undefined
  }
}

/** A row of `columns` from a raw result row at `offset`, decoded as Drizzle decodes selected columns. */
function decode (info: TableInfo, raw: unknown[], offset: number): Row {
  const { keys, columns } = info
  const row: Row = {}
  for (let i = 0; i < keys.length; i++) {
    const value = raw[offset + i]
    row[keys[i]] = value === null ? null : columns[i].mapFromDriverValue(value)
  }
  return row
}

/**
 * What the driver returns for a write without RETURNING, from the result of the captured one (which
 * returned rows): postgres.js' Result emptied in place (it keeps `count` and `command`); PGlite's
 * result object rebuilt.
 */
function withoutRows (rows: unknown[][], action: ChangeAction): unknown {
  if ('command' in rows) {
    rows.length = 0
    ;(rows as unknown as { columns: unknown[] }).columns = []
    return rows
  }
  return { rows: [], fields: [], command: COMMANDS[action], affectedRows: rows.length, rowCount: rows.length }
}
