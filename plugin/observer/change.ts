/** What change capture publishes, and the net effect of a transaction's changes on each row. */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ChangeAction, ChangeEvent } from '../../types/index.js'
import { pkOf, type Row, type TableInfo } from './table-info.js'

/** One row changed by one statement, before its transaction's changes are folded. */
export interface Change {
  info: TableInfo
  table: PgTable
  action: ChangeAction
  row: Row
  /** The row before an update (null when unknown) or a delete (the deleted row). */
  previous: Row | null
  /** The row's identity (`keyOf`) after the change; undefined without a primary key. */
  key: string | undefined
  /** The row's identity before an update or delete; else undefined. */
  previousKey: string | undefined
}

/** One row through a transaction: as it was before (when known), now (`null`: deleted), last seen. */
interface Entry {
  first: Change
  existed: boolean
  original: Row | null
  current: Row | null
  last: Row
}

/**
 * Folds the changes of a transaction, in execution order, into one event per row: its net effect.
 * create+update → create (final row); create+delete → nothing; update+update → update (first
 * previous, final row); update+delete → delete of the row as it was before the transaction;
 * delete+create of the same key → update (previous: the deleted row). Events keep the order of
 * each row's first change. Rows of tables without a primary key cannot be told apart: each change
 * is its own event.
 */
export function netEffect (changes: readonly Change[]): ChangeEvent[] {
  const entries: Entry[] = []
  const byKey = new Map<string, Entry>()
  for (const change of changes) {
    const current = change.action === 'delete' ? null : change.row
    const lookup = change.previousKey ?? change.key
    let entry = lookup === undefined ? undefined : byKey.get(lookup)
    if (entry === undefined) {
      entry = { first: change, existed: change.action !== 'create', original: change.previous, current, last: change.row }
      entries.push(entry)
    } else {
      entry.current = current
      entry.last = change.row
      // an update that changed the primary key: later changes find the row under its new key
      if (lookup !== change.key) byKey.delete(lookup as string)
    }
    if (change.key !== undefined) byKey.set(change.key, entry)
  }

  const events: ChangeEvent[] = []
  for (const entry of entries) {
    const event = eventOf(entry)
    if (event !== null) events.push(event)
  }
  return events
}

function eventOf ({ first, existed, original, current, last }: Entry): ChangeEvent | null {
  const { info, table } = first
  if (!existed) {
    return current === null ? null : { table, tableName: info.name, action: 'create', row: current, previous: null, pk: pkOf(info, current) }
  }
  if (current !== null) {
    return { table, tableName: info.name, action: 'update', row: current, previous: original, pk: pkOf(info, current) }
  }
  const row = original ?? last
  return { table, tableName: info.name, action: 'delete', row, previous: row, pk: pkOf(info, row) }
}
