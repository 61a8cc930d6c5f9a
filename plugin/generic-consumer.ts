/** What a consumer with a `table` (DCRF's `GenericAsyncAPIConsumer`) adds to its context. */
import { and, asc, eq, getTableColumns, getTableName, type SQL } from 'drizzle-orm'
import { getTableConfig, PgTable, type PgColumn } from 'drizzle-orm/pg-core'
import type { ActionArgs, AnyConsumer, ConsumerContext, Database, SerializerContext, SerializerLike } from '../types/index.js'
import { BIGINT_TYPES, NUMBER_INTEGER_RANGES } from './column-types.js'
import { databaseValidationError } from './db-errors.js'
import { errors, notFound, validationError } from './errors.js'
import { encodedPlaceholder } from './observer/drizzle-internals.js'
import { idOf } from './observer/table-info.js'
import { isPlainObject } from './protocol.js'
import { serializer as buildSerializer } from './serializer.js'

/** A generic consumer's table, compiled. */
export interface GenericConfig {
  table: PgTable
  tableName: string
  pkKey: string
  pkColumn: PgColumn
  lookupColumn: PgColumn
  lookupKwarg: string
  serializer: SerializerLike
  order: Array<SQL | PgColumn>
  /** Per database: the plugin's, or a transaction. */
  prepared: WeakMap<object, PreparedLookups>
  /** Keys the re-reads subscribers share, per table object: another definition of the table has other keys. */
  readKey: string
  /** Writes skip `getObject` (`lookupWhere`): the lookup column is unique, `coerceLookup` knows its bad values. */
  writesByLookup: boolean
}

interface PreparedLookup {
  execute (values: { value: unknown }): Promise<Array<Record<string, unknown>>>
}

interface PreparedLookups {
  lookup?: PreparedLookup
  pk?: PreparedLookup
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const NO_MATCH = Symbol('no match')
const CHECKED_TYPES = new Set([...NUMBER_INTEGER_RANGES.keys(), ...BIGINT_TYPES, 'PgUUID', 'PgText', 'PgVarchar', 'PgChar'])

// A pk of the wrong type is a 404 (DCRF), never a database error.
function coerceLookup (column: PgColumn, value: unknown): unknown {
  const type = column.columnType
  const range = NUMBER_INTEGER_RANGES.get(type)
  if (range !== undefined || BIGINT_TYPES.has(type)) {
    const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) return NO_MATCH
    if (range !== undefined) return n < range[0] || n > range[1] ? NO_MATCH : n
    return BigInt(n)
  }
  if (type === 'PgUUID') return typeof value === 'string' && UUID.test(value) ? value : NO_MATCH
  if (type === 'PgText' || type === 'PgVarchar' || type === 'PgChar') {
    // PostgreSQL text never holds NUL.
    return (typeof value === 'string' && !value.includes('\u0000')) || typeof value === 'number' ? String(value) : NO_MATCH
  }
  return typeof value === 'object' && value !== null ? NO_MATCH : value
}

/** Checks a generic consumer's settings at mount time. */
export function compileGeneric (definition: AnyConsumer, where: string): GenericConfig | null {
  const { table } = definition
  if (table === undefined) return null
  if (!(table instanceof PgTable)) throw new errors.DCRF_ERR_INVALID_CONSUMER(where, 'table must be a Drizzle pgTable')
  const columns = getTableColumns(table) as Record<string, PgColumn>
  const config = getTableConfig(table)
  const pkEntries = Object.entries(columns).filter(([, column]) => column.primary)
  if (pkEntries.length !== 1 && config.primaryKeys.length === 0) {
    if (definition.lookupField === undefined) {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `table "${getTableName(table)}" has no single-column primary key: set lookupField`)
    }
  }
  const lookupField = definition.lookupField ?? pkEntries[0]?.[0]
  const lookupColumn = lookupField === undefined ? undefined : columns[lookupField]
  if (lookupColumn === undefined) {
    throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `lookupField "${String(lookupField)}" is not a column of "${getTableName(table)}"`)
  }
  const [pkKey, pkColumn] = pkEntries[0] ?? [lookupField, lookupColumn]
  const order = definition.orderBy === undefined ? [asc(pkColumn)] : definition.orderBy(table)
  const unique = (lookupColumn === pkColumn && pkEntries.length === 1) || lookupColumn.isUnique
  return {
    table,
    tableName: getTableName(table),
    pkKey,
    pkColumn,
    lookupColumn,
    lookupKwarg: definition.lookupKwarg ?? 'pk',
    serializer: definition.serializer ?? buildSerializer(table),
    order: Array.isArray(order) ? order : [order],
    prepared: new WeakMap(),
    readKey: `t${idOf(table)}:`,
    writesByLookup: unique && CHECKED_TYPES.has(lookupColumn.columnType)
  }
}

/**
 * The row of `column = value`, through a statement prepared once per database and table. Measured
 * (bench/README.md): building a Drizzle query costs more than the rest of a `retrieve`, and an
 * unprepared query on postgres.js takes two round trips, unpipelined.
 */
export function selectOne (db: Database, generic: GenericConfig, by: 'lookup' | 'pk', value: unknown): Promise<Array<Record<string, unknown>>> {
  let lookups = generic.prepared.get(db)
  if (lookups === undefined) {
    lookups = {}
    generic.prepared.set(db, lookups)
  }
  let query = lookups[by]
  if (query === undefined) {
    const column = by === 'lookup' ? generic.lookupColumn : generic.pkColumn
    // Bound through the column's encoder, as Drizzle binds values (e.g. bigint mode).
    const where = eq(column, encodedPlaceholder('value', column))
    query = db.select().from(generic.table).where(where).limit(1).prepare(`dcrf_${generic.tableName}_${column.name}`) as unknown as PreparedLookup
    lookups[by] = query
  }
  return query.execute({ value })
}

/** A consumer instance as the generic helpers read it. */
export interface GenericTarget extends ConsumerContext<any, any> {
  readonly consumer: { readonly definition: AnyConsumer, readonly generic: GenericConfig | null }
}

/** The generic settings of the consumer a context belongs to; throws for a consumer without a table. */
export function genericOf (ctx: ConsumerContext<any, any>): GenericConfig {
  // Mixin steps get the public context type; every context the plugin makes is a GenericTarget.
  const config = (ctx as Partial<GenericTarget>).consumer?.generic
  if (config == null) throw new errors.DCRF_ERR_NOT_GENERIC()
  return config
}

/** The list filter of the consumer (DCRF's `filter_queryset`). */
export function filterQueryset (target: GenericTarget, args: ActionArgs = {}): SQL | undefined {
  return target.consumer.definition.filterQueryset?.(target, args)
}

/** The per-connection queryset condition (DCRF's `get_queryset`). */
export function getQueryset (target: GenericTarget, args: ActionArgs = {}): SQL | undefined {
  return target.consumer.definition.queryset?.(target, args)
}

function lookupValue (generic: GenericConfig, lookup: unknown): { value: unknown, args: ActionArgs } {
  const args = isPlainObject(lookup) ? lookup : {}
  const value = isPlainObject(lookup) ? lookup[generic.lookupKwarg] : lookup
  if (value === undefined || value === null) throw validationError({ [generic.lookupKwarg]: ['This field is required.'] })
  const coerced = coerceLookup(generic.lookupColumn, value)
  if (coerced === NO_MATCH) throw notFound()
  return { value: coerced, args }
}

/** The row of a lookup value, within the connection's queryset; 404 otherwise. */
export async function getObject (target: GenericTarget, lookup: unknown): Promise<Record<string, unknown>> {
  const generic = genericOf(target)
  const { value, args } = lookupValue(generic, lookup)
  const queryset = getQueryset(target, args)
  let rows: Array<Record<string, unknown>>
  try {
    rows = queryset === undefined
      ? await selectOne(target.db, generic, 'lookup', value)
      : await target.db.select().from(generic.table).where(and(eq(generic.lookupColumn, value), queryset)).limit(1)
  } catch (err) {
    // A value the column cannot hold (out of range, malformed): no row has it.
    if (databaseValidationError(err, { table: generic.table }) !== null) throw notFound()
    throw err
  }
  if (rows.length === 0) throw notFound()
  return rows[0]
}

/** The `WHERE` of a write that skips `getObject` (when `writesByLookup`); throws as `getObject` does. */
export function lookupWhere (ctx: ConsumerContext<any, any>, generic: GenericConfig, lookup: unknown): SQL {
  const { value, args } = lookupValue(generic, lookup)
  const queryset = ctx.getQueryset(args)
  const match = eq(generic.lookupColumn, value)
  return queryset === undefined ? match : and(match, queryset)!
}

/** The serializer of an action: the consumer's `getSerializer`, else its `serializer`. */
export function getSerializer (target: GenericTarget, action = ''): SerializerLike {
  return target.consumer.definition.getSerializer?.(target, action) ?? genericOf(target).serializer
}

/** Rows serialized for an action's reply by the action's serializer (DRF's `many=True`). */
export function serializeRows (ctx: ConsumerContext<any, any>, rows: readonly unknown[], action: string): Promise<unknown[]> {
  const serializer = ctx.getSerializer(action)
  const context = ctx.serializerContext()
  return Promise.all(rows.map((row) => serializer.toRepresentation(row, context)))
}

/** DRF's serializer context: the connection's user, request and database, the consumer, its additions. */
export function serializerContext (target: GenericTarget): SerializerContext {
  const base: SerializerContext = { user: target.user, request: target.request, consumer: target, db: target.db }
  const extra = target.consumer.definition.serializerContext
  return extra === undefined ? base : { ...base, ...extra(target) }
}

/** Runs a write; a constraint violation is a 400 field error (DRF), not a 500. */
export async function writing<T> (generic: GenericConfig, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    throw databaseValidationError(err, { table: generic.table }) ?? err
  }
}
