/**
 * The shape of a write: what its SQL text depends on apart from the values it binds, as a key read
 * from the builder's config without rendering. Writes of one shape share one statement rendered
 * from a template of placeholders `p<i>` (`./statement.ts`), since rendering cost more than the
 * rest of a write (bench/README.md). What the walk cannot vouch for (subqueries, user placeholders,
 * inlined params, custom types, computed columns, CTEs, joins, conflict clauses) is shapeless.
 */
import type * as drizzle from 'drizzle-orm'
import type { PgDeleteConfig, PgInsertConfig, PgUpdateConfig, SelectedFieldsOrdered } from 'drizzle-orm/pg-core'
import type { ChangeAction } from '../../types/index.js'
import {
  Column,
  encodedPlaceholder,
  inlinesParams,
  isEntity,
  isPlainEncoder,
  Name,
  Param,
  SQL,
  StringChunk,
  Table,
  type WriteConfig
} from './drizzle-internals.js'
import { idOf, type TableInfo } from './table-info.js'

/** A write's shape: its key, the values it binds (in walk order), and, when asked, its template. */
export interface Shape {
  key: string
  values: unknown[]
  /** The config with placeholders `p0…` for the values; only from `shapeOf(…, true)`. */
  template: WriteConfig | undefined
}

const NONE = Symbol('shapeless')

class Walk {
  key = ''
  values: unknown[] = []
  constructor (readonly template: boolean) {}

  /** A bound value: its placeholder in the template. */
  value (value: unknown, encoder: drizzle.DriverValueEncoder<unknown, unknown> | undefined): unknown {
    const name = 'p' + this.values.length
    this.values.push(value)
    this.key += '$'
    if (!this.template) return undefined
    return encodedPlaceholder(name, encoder)
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
    // placeholders, subqueries, views, aliases, enums, query builders, or another copy of drizzle-orm
    if (isEntity(chunk) || typeof (chunk as { getSQL?: unknown }).getSQL === 'function') return NONE
    return this.value(chunk, undefined)
  }

  sql (node: drizzle.SQL): unknown {
    if (inlinesParams(node)) return NONE
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

  param (param: drizzle.Param): unknown {
    const { value, encoder } = param
    // a placeholder, or an SQL value (rendered in place)
    if (typeof value === 'object' && value !== null && isEntity(value)) return NONE
    if (!isPlainEncoder(encoder)) return NONE
    // null is part of the text's shape, not a value: some encoders do not take null
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
      if (template) shaped = { ...update, set: set as never, where: where as drizzle.SQL | undefined }
    } else if (template) {
      shaped = { ...config, where: where as drizzle.SQL | undefined }
    }
  }
  return { key: walk.key, values: walk.values, template: shaped }
}
