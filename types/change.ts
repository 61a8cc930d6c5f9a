/**
 * The public types of change capture: what `captureChanges(db, onCommit)` reports once a write's
 * transaction committed. No runtime code lives here; `plugin/observer/capture.ts` wraps the database.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ObservedAction } from './observer.js'

/** The kind of change, as DCRF's model observers name it. */
export type ChangeAction = ObservedAction

/**
 * One changed row, published after the transaction that changed it committed.
 *
 * @example
 * { table: users, tableName: 'users', action: 'update', pk: 7, row: { id: 7, name: 'new' }, previous: { id: 7, name: 'old' } }
 */
export interface ChangeEvent {
  /** The Drizzle table given to `insert`/`update`/`delete` (an alias if the write used one). */
  table: PgTable
  /** The table's SQL name (unqualified, never an alias). */
  tableName: string
  action: ChangeAction
  /** The full row after the change; for `delete`, the row as it was. */
  row: Record<string, unknown>
  /** The row before the change for `update` and `delete` (the same object as `row` there); `null` for `create`. */
  previous: Record<string, unknown> | null
  /**
   * The primary key: its value for a single-column key, an object of the key columns for a composite
   * one, `null` for a table without a primary key.
   */
  pk: unknown
}

/** Options of `captureChanges(db, onCommit, options)`. */
export interface CaptureOptions {
  /**
   * Whether writes to a table are captured, asked at each write. Default: every table. Writes to
   * tables nobody observes then cost nothing extra.
   */
  capture?: (table: PgTable) => boolean
}
