/**
 * One captured write, as one SQL statement: the user's INSERT, UPDATE or DELETE rewritten to also
 * return every changed row in full, after the user's own RETURNING fields (mapped by Drizzle, so
 * the user gets what plain Drizzle gives). Updates lock and read the rows they change first, so the
 * previous row is the one the update replaced, in the same round trip:
 *
 *   with <user ctes>, "__dcrf_old" as (select <cols> from t where <where> for update of t)
 *   update t set <set> from "__dcrf_old" where t.pk = "__dcrf_old".pk returning <user>, t.*, "__dcrf_old".*
 */
import { and, sql, type Query, type SQL } from 'drizzle-orm'
import type { PgDeleteConfig, PgDialect, PgInsertConfig, PgUpdateConfig } from 'drizzle-orm/pg-core'
import type { ChangeAction } from '../../types/index.js'
import type { Change } from './change.js'
import {
  columnName,
  crossJoin,
  fromTable,
  joinClauses,
  mapResultRow,
  prepareStatement,
  selection,
  statementMetadata,
  withEntry,
  type PreparedStatement,
  type StatementMetadata,
  type WriteBuilder
} from './drizzle-internals.js'
import { captureMarker } from './external-sql.js'
import { shapeOf } from './shape.js'
import { keyOf, type Row, type TableInfo } from './table-info.js'

/** What a captured statement resolves to: the user's result, and the rows it changed. */
export interface Outcome {
  result: unknown
  changes: Change[]
}

const OLD = sql.identifier('__dcrf_old')
const PREVIOUS = sql.identifier('__dcrf_prev')
const COMMANDS: Record<ChangeAction, string> = { create: 'INSERT', update: 'UPDATE', delete: 'DELETE' }

/** A captured statement rendered: its SQL, how to map its rows, what the driver is told of it. */
export interface Rendered {
  query: Query
  mapper: (rows: unknown[][]) => Outcome
  metadata: StatementMetadata
}

/** Prepares the captured statement of a write builder; `upsert`: the insert has `onConflictDoUpdate`. */
export function prepareCaptured (builder: WriteBuilder, info: TableInfo, action: ChangeAction, upsert: boolean, name?: string): PreparedStatement<Outcome> {
  return prepareRendered(builder, render(builder, info, action, upsert), name)
}

function prepareRendered (builder: WriteBuilder, rendered: Rendered, name: string | undefined): PreparedStatement<Outcome> {
  return prepareStatement(builder, rendered.query, name, rendered.mapper, rendered.metadata)
}

/** Statements rendered by shape (`./shape.ts`), shared by a captured database and its transactions. */
export type RenderedShapes = Map<string, Rendered>
/** Shapes kept; past it the oldest is forgotten (a shape comes from code, and from which columns a client sets). */
const MAX_SHAPES = 500

/** Runs a write builder's captured statement: the one rendered for its shape, when it has one. */
export function executeCaptured (builder: WriteBuilder, info: TableInfo, action: ChangeAction, upsert: boolean, shapes: RenderedShapes, name: string, placeholders: Record<string, unknown> | undefined): Promise<Outcome> {
  const shape = upsert || builder.cacheConfig !== undefined ? null : shapeOf(builder.config, info, action, false)
  if (shape === null) return prepareCaptured(builder, info, action, upsert, name).execute(placeholders)
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
  const userFields = config.returning
  const columns = info.columns
  const userCount = userFields ? userFields.length : 0
  const returning: SQL[] = []
  if (userFields) returning.push(selection(dialect, userFields, action !== 'update' || !('from' in config && config.from)))
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
      const match = and(...info.pk.map((i) => sql`${PREVIOUS}.${sql.identifier(columnName(dialect, columns[i]))} = ${columns[i]}`))
      for (const column of columns) {
        returning.push(sql`(select ${PREVIOUS}.${sql.identifier(columnName(dialect, column))} from ${fromTable(dialect, insert.table)} ${PREVIOUS} where ${match})`)
      }
    }
    statement = sql`${dialect.buildInsertQuery({ ...insert, returning: undefined })} returning ${sql.join(returning, sql`, `)}`
  } else if (action === 'update') {
    const update = config as PgUpdateConfig
    if (hasPrevious) {
      columns.forEach((_, i) => returning.push(sql`${OLD}.${sql.identifier('o' + i)}`))
      statement = sql`${dialect.buildUpdateQuery(lockingUpdate(update, info, dialect))} returning ${sql.join(returning, sql`, `)}`
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
    metadata: statementMetadata(action === 'create' ? 'insert' : action, config.table)
  }
}

/** The statement led by the marker that tells the table's external-changes trigger we publish it ourselves. */
function marked (query: Query, info: TableInfo): Query {
  query.sql = captureMarker(info.identity) + query.sql
  return query
}

/** The update joined to a locking read of its rows, whose columns are aliased `o0…` so that none is ambiguous. */
function lockingUpdate (update: PgUpdateConfig, info: TableInfo, dialect: PgDialect): PgUpdateConfig {
  const { table, where, from, joins } = update
  const oldColumns = info.columns.map((column, i) => sql`${column} as ${sql.identifier('o' + i)}`)
  const userFrom = from ? sql`, ${fromTable(dialect, from)}${joinClauses(dialect, joins)}` : undefined
  const read = sql`select ${sql.join(oldColumns, sql`, `)} from ${fromTable(dialect, table)}${userFrom}${where ? sql` where ${where}` : undefined} for update of ${sql.identifier(info.alias)}`
  const match = and(...info.pk.map((i) => sql`${info.columns[i]} = ${OLD}.${sql.identifier('o' + i)}`)) as SQL
  return {
    ...update,
    withList: [...(update.withList ?? []), withEntry('__dcrf_old', read)],
    from: from ?? sql`${OLD}`,
    joins: from ? [...joins, crossJoin(sql`${OLD}`)] : [],
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

/** What the driver returns for a write without RETURNING, made from the captured one's result. */
function withoutRows (rows: unknown[][], action: ChangeAction): unknown {
  if ('command' in rows) {
    rows.length = 0
    ;(rows as unknown as { columns: unknown[] }).columns = []
    return rows
  }
  return { rows: [], fields: [], command: COMMANDS[action], affectedRows: rows.length, rowCount: rows.length }
}
