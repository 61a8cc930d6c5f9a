/** What change capture needs to know of a table, computed once per table object. */
import { getTableColumns } from 'drizzle-orm'
import { getTableConfig, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import { computesValue, tableNames } from './drizzle-internals.js'

/** A row as Drizzle reads it: keyed by the table's JS property names. */
export type Row = Record<string, unknown>

/** A table's columns in a fixed order, its primary key and its names. */
export interface TableInfo {
  /** The SQL name, never an alias. */
  name: string
  /** The name the table goes by in a statement: its alias if it is one. */
  alias: string
  /** The schema-qualified SQL name: one row identity space. */
  identity: string
  /** JS property names, in the order of `columns`. */
  keys: string[]
  columns: PgColumn[]
  /** Indexes (into `keys`/`columns`) of the primary key columns; empty without a primary key. */
  pk: number[]
  /** Whether a column's value is computed when a write is rendered (`$defaultFn`, `$onUpdate`). */
  computesValues: boolean
}

const cache = new WeakMap<PgTable, TableInfo>()

/** The description of `table`, cached per table object. */
export function tableInfo (table: PgTable): TableInfo {
  let info = cache.get(table)
  if (info === undefined) {
    info = describe(table)
    cache.set(table, info)
  }
  return info
}

function describe (table: PgTable): TableInfo {
  const byKey = getTableColumns(table) as Record<string, PgColumn>
  const keys = Object.keys(byKey)
  const columns = keys.map((key) => byKey[key])
  let pkNames = columns.filter((column) => column.primary).map((column) => column.name)
  if (pkNames.length === 0) {
    // a composite key, declared with `primaryKey({ columns })` in the table's extra config
    const [primaryKey] = getTableConfig(table).primaryKeys
    pkNames = primaryKey ? primaryKey.columns.map((column) => column.name) : []
  }
  const { name, alias, schema } = tableNames(table)
  return {
    name,
    alias,
    identity: schema === undefined ? name : `${schema}.${name}`,
    keys,
    columns,
    pk: pkNames.map((pkName) => columns.findIndex((column) => column.name === pkName)),
    computesValues: columns.some(computesValue)
  }
}

/** The primary key of a row: its value, an object of the key columns when composite, or null. */
export function pkOf (info: TableInfo, row: Row): unknown {
  const { pk, keys } = info
  if (pk.length === 1) return row[keys[pk[0]]]
  if (pk.length === 0) return null
  const value: Row = {}
  for (const index of pk) value[keys[index]] = row[keys[index]]
  return value
}

/** A string naming a row among all tables (for the net effect), or undefined without a primary key. */
export function keyOf (info: TableInfo, row: Row): string | undefined {
  const { pk, keys } = info
  if (pk.length === 0) return undefined
  let key = info.identity
  for (const index of pk) key += '\u0000' + encode(row[keys[index]])
  return key
}

function encode (value: unknown): string {
  if (value instanceof Date) return 'd' + value.getTime()
  if (typeof value === 'object' && value !== null) return 'o' + JSON.stringify(value)
  return typeof value + ':' + String(value)
}

const ids = new WeakMap<object, number>()
let lastId = 0
/** A number naming an object (a table, a column) for as long as it lives: keys of this process. */
export function idOf (object: object): number {
  let id = ids.get(object)
  if (id === undefined) {
    id = ++lastId
    ids.set(object, id)
  }
  return id
}
