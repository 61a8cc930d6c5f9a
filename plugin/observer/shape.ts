/**
 * The shape of a write: what its SQL text depends on, as a string key, apart from the values it
 * binds. Writes of one shape share one captured statement, rendered once per database, its
 * transactions included (`./statement.ts`): rendering it at every write cost more than all the rest
 * of a write (bench/README.md).
 *
 * A shape is read from the builder's config without rendering any SQL: the table, the columns set
 * or inserted, the WHERE tree (its text chunks, columns and where values go), the RETURNING
 * fields. The same walk can give the config back with every value replaced by a placeholder `p<i>`,
 * the template the shared statement is built from; the values are then bound as that statement's
 * placeholders, each through its column's encoder as Drizzle binds it.
 *
 * The walk gives up on whatever it cannot be sure renders alike for alike keys — subqueries, views,
 * aliased expressions, the user's own placeholders, inlined params, custom column types (their encoder may
 * return SQL), `$defaultFn`/`$onUpdate` columns (their values are computed while rendering), CTEs,
 * FROM and joins, conflict clauses: such a write is shapeless, and is rendered on its own as before.
 */
import { Column, entityKind, Name, noopEncoder, Param, SQL, sql, StringChunk, Table } from 'drizzle-orm'
import type { PgDeleteConfig, PgInsertConfig, PgUpdateConfig, SelectedFieldsOrdered } from 'drizzle-orm/pg-core'
import type { ChangeAction } from '../../types/index.js'
import { idOf, type TableInfo } from './table-info.js'

type WriteConfig = (PgInsertConfig | PgUpdateConfig | PgDeleteConfig) & { returning?: SelectedFieldsOrdered }

/** A write's shape: its key, the values it binds (in walk order), and, when asked, its template. */
export interface Shape {
  key: string
  values: unknown[]
  /** The config with placeholders `p0…` for the values; only from `shapeOf(…, true)`. */
  template: WriteConfig | undefined
}

/** Shapeless: the walk met something it cannot vouch for. */
const NONE = Symbol('shapeless')

/** Walk state: the key so far, the values, and whether a template is being built. */
class Walk {
  key = ''
  values: unknown[] = []
  constructor (readonly template: boolean) {}

  /** A bound value: its placeholder in the template. */
  value (value: unknown, encoder: unknown): unknown {
    const name = 'p' + this.values.length
    this.values.push(value)
    this.key += '$'
    if (!this.template) return undefined
    return encoder === undefined ? sql.placeholder(name) : new Param(sql.placeholder(name), encoder as Column)
  }

  /** One chunk of an SQL tree; returns its template chunk, or NONE. */
  chunk (chunk: unknown): unknown {
    if (chunk instanceof StringChunk) {
      this.key += '"' + chunk.value.join('').replaceAll('"', '""') + '"'
      return chunk
    }
    if (chunk instanceof Param) return this.param(chunk)
    if (chunk instanceof Column) {
      this.key += 'c' + idOf(chunk)
      return chunk
    }
    if (chunk instanceof SQL) return this.sql(chunk)
    if (chunk === undefined) {
      this.key += '_'
      return chunk
    }
    if (chunk instanceof Name) {
      this.key += 'n"' + chunk.value.replaceAll('"', '""') + '"'
      return chunk
    }
    if (chunk instanceof Table) {
      this.key += 't' + idOf(chunk)
      return chunk
    }
    if (Array.isArray(chunk)) {
      this.key += '['
      const out: unknown[] = []
      for (const item of chunk) {
        const walked = this.chunk(item)
        if (walked === NONE) return NONE
        out.push(walked)
      }
      this.key += ']'
      return out
    }
    if (chunk === null || typeof chunk !== 'object') return this.value(chunk, undefined)
    // Placeholders, subqueries, views, aliases, enums, query builders, or another copy of drizzle-orm.
    if (entityKind in (chunk.constructor ?? {}) || typeof (chunk as { getSQL?: unknown }).getSQL === 'function') return NONE
    // A plain object value (a Date, a Buffer…) bound as it is, as Drizzle binds it.
    return this.value(chunk, undefined)
  }

  sql (node: SQL): unknown {
    if ((node as unknown as { shouldInlineParams: boolean }).shouldInlineParams) return NONE
    this.key += '('
    const chunks = node.queryChunks
    let out: unknown[] | undefined
    for (let i = 0; i < chunks.length; i++) {
      const walked = this.chunk(chunks[i])
      if (walked === NONE) return NONE
      if (this.template) (out ??= []).push(walked)
    }
    this.key += ')'
    return this.template ? new SQL(out as never[] ?? []) : node
  }

  param (param: Param): unknown {
    const { value, encoder } = param
    // a placeholder, or an SQL value (rendered in place)
    if (typeof value === 'object' && value !== null && entityKind in (value.constructor ?? {})) return NONE
    if (!isPlainEncoder(encoder)) return NONE
    // null binds as null whatever the encoder: keep it in the text's shape, not as a value (some
    // encoders do not take null)
    if (value === null) {
      this.key += 'N'
      return param
    }
    return this.value(value, encoder)
  }

  /** A RETURNING list: columns only (SQL fields may bind values of their own). */
  fields (fields: SelectedFieldsOrdered | undefined): boolean {
    if (fields === undefined) {
      this.key += '|-'
      return true
    }
    this.key += '|'
    for (const { path, field } of fields) {
      if (!(field instanceof Column)) return false
      this.key += path.join('.') + ':' + idOf(field) + ','
    }
    return true
  }
}

/** Encoders whose output never is SQL: built-in columns, and none. */
function isPlainEncoder (encoder: unknown): boolean {
  if (encoder === noopEncoder) return true
  return encoder instanceof Column && encoder.columnType !== 'PgCustomColumn'
}

/**
 * The shape of a write builder's config, or null when it has none (see the module comment). With
 * `template`, also the config to build its shared statement from.
 */
export function shapeOf (config: WriteConfig, info: TableInfo, action: ChangeAction, template: boolean): Shape | null {
  if ((config.withList?.length ?? 0) > 0 || info.computesValues) return null
  const walk = new Walk(template)
  walk.key = action[0] + idOf(config.table)
  if (!walk.fields(config.returning)) return null
  let shaped: WriteConfig | undefined
  if (action === 'create') {
    const insert = config as PgInsertConfig
    if (insert.select === true || insert.onConflict !== undefined || insert.overridingSystemValue_ === true) return null
    const rows: Array<Record<string, unknown>> = []
    for (const row of insert.values as Array<Record<string, unknown>>) {
      walk.key += '{'
      const out: Record<string, unknown> = {}
      for (const key of info.keys) {
        const value = row[key]
        if (value === undefined || (value instanceof Param && value.value === undefined)) continue
        walk.key += key + '='
        const walked = walk.chunk(value)
        if (walked === NONE) return null
        out[key] = walked
      }
      walk.key += '}'
      rows.push(out)
    }
    if (template) shaped = { ...insert, values: rows as never }
  } else {
    const where = walk.chunk((config as PgUpdateConfig | PgDeleteConfig).where)
    if (where === NONE) return null
    if (action === 'update') {
      const update = config as PgUpdateConfig
      if (update.from !== undefined || update.joins.length > 0) return null
      const set: Record<string, unknown> = {}
      for (const key of info.keys) {
        const value = (update.set as Record<string, unknown>)[key]
        if (value === undefined) continue
        walk.key += key + '='
        const walked = walk.chunk(value)
        if (walked === NONE) return null
        set[key] = walked
      }
      if (template) shaped = { ...update, set: set as never, where: where as SQL | undefined }
    } else if (template) {
      shaped = { ...config, where: where as SQL | undefined }
    }
  }
  return { key: walk.key, values: walk.values, template: shaped }
}
