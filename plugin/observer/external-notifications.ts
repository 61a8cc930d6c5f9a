/**
 * External changes' notifications turned into the changes capture would have made: current rows
 * read back by key (one query per table and batch), previous rows decoded from the notification.
 */
import type { FastifyBaseLogger } from 'fastify'
import { sql, type SQL } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { Database } from '../../types/index.js'
import type { Change } from './change.js'
import { resultRows } from './external-sql.js'
import { keyOf, type Row, type TableInfo } from './table-info.js'

/** One changed row of a notification: its key, the row before (`p`: its small values only), an action of its own. */
interface Item {
  k: Record<string, unknown>
  o?: Record<string, unknown>
  p?: true
  a?: 'D' | 'I'
}

/** A notification as the trigger function of `./external-sql.ts` sends it. */
interface Notification {
  /** The table's identity (schema-qualified when it was declared so). */
  t: string
  /** The schema of the table that changed. */
  s?: string
  op: 'I' | 'U' | 'D'
  /** The transaction id. */
  x?: string
  r?: Item[]
  /** How many changed rows could not be sent (-1: the report itself failed). */
  lost?: number
}

/** A table whose external changes are listened for. */
export interface Observed {
  table: PgTable
  info: TableInfo
  /** The schema the table resolves to here; undefined until known (or when it does not exist). */
  schema?: string
}

/** The rows a batch needs from one table: previous rows to decode, keys to read back. */
interface TableReads {
  observed: Observed
  old: Array<Record<string, unknown>>
  keys: Array<Record<string, unknown>>
  keyIndex: Map<string, number>
  /** Filled by the read: decoded previous rows (by index in `old`), current rows (by index in `keys`). */
  oldRows: Row[]
  rows: Array<Row | undefined>
}

interface PendingItem {
  reads: TableReads
  action: 'I' | 'U' | 'D'
  old: number
  key: number
}

/** What reading a batch needs of the listener. */
export interface BatchListener {
  /** The database as given (not the captured one): reads only. */
  db: Database
  /** The observed tables, by identity. */
  tables: Map<string, Observed>
  /** Whether anyone here observes the table. */
  observes (table: PgTable): boolean
  log: FastifyBaseLogger
  /** The database could not report some changed rows of a table. */
  lost (table: string): void
}

/** The changes of a batch of notifications, one list per transaction, in commit order. */
export async function readBatch (listener: BatchListener, batch: string[]): Promise<Change[][]> {
  const reads = new Map<Observed, TableReads>()
  const transactions: PendingItem[][] = []
  let lastTx: string | undefined
  for (const payload of batch) {
    let notification: Notification
    try {
      notification = JSON.parse(payload) as Notification
    } catch {
      listener.log.warn({ payload: payload.slice(0, 200) }, 'external changes: unreadable notification ignored')
      continue
    }
    const observed = listener.tables.get(notification.t)
    // the same table name in another schema (another application, another test) is not ours
    if (observed?.schema !== undefined && notification.s !== undefined && notification.s !== observed.schema) continue
    if (notification.lost !== undefined) {
      listener.lost(notification.t)
      continue
    }
    if (observed === undefined || !listener.observes(observed.table) || notification.r === undefined) continue
    let tableReads = reads.get(observed)
    if (tableReads === undefined) {
      tableReads = { observed, old: [], keys: [], keyIndex: new Map(), oldRows: [], rows: [] }
      reads.set(observed, tableReads)
    }
    if (notification.x === undefined || notification.x !== lastTx) transactions.push([])
    lastTx = notification.x
    const items = transactions[transactions.length - 1]
    for (const item of notification.r) {
      const action = item.a ?? notification.op
      let old = -1
      // a delete without its previous row (too large to send) still has its key
      const previous = item.o ?? (action === 'D' ? item.k : undefined)
      if (previous !== undefined) {
        old = tableReads.old.length
        tableReads.old.push(previous)
      }
      let key = -1
      if (action !== 'D') {
        const text = JSON.stringify(item.k)
        key = tableReads.keyIndex.get(text) ?? -1
        if (key === -1) {
          key = tableReads.keys.length
          tableReads.keys.push(item.k)
          tableReads.keyIndex.set(text, key)
        }
      }
      items.push({ reads: tableReads, action, old, key })
    }
  }
  for (const tableReads of reads.values()) await readRows(listener.db, tableReads)
  return transactions.map((items) => {
    const changes: Change[] = []
    for (const item of items) {
      const change = changeOf(item)
      if (change !== null) changes.push(change)
    }
    return changes
  })
}

/** Decodes the previous rows and reads the current ones back, in one query. */
async function readRows (db: Database, reads: TableReads): Promise<void> {
  const { table, info } = reads.observed
  const columns = (alias: string): SQL => sql.join(info.columns.map((column) => sql`${sql.identifier(alias)}.${sql.identifier(column.name)}`), sql`, `)
  const match = sql.join(info.pk.map((i) => sql`t.${sql.identifier(info.columns[i].name)} = k.${sql.identifier(info.columns[i].name)}`), sql` and `)
  const parts: SQL[] = []
  // the database turns the JSON of a row back into column values, as the driver would give them
  if (reads.old.length > 0) {
    parts.push(sql`select 0 as "__dcrf_n", o.ordinality::int as "__dcrf_i", ${columns('o')} from jsonb_populate_recordset(null::${table}, ${JSON.stringify(reads.old)}::text::jsonb) with ordinality o`)
  }
  if (reads.keys.length > 0) {
    parts.push(sql`select 1 as "__dcrf_n", k.ordinality::int as "__dcrf_i", ${columns('t')} from jsonb_populate_recordset(null::${table}, ${JSON.stringify(reads.keys)}::text::jsonb) with ordinality k join ${table} t on ${match}`)
  }
  reads.oldRows = new Array(reads.old.length)
  reads.rows = new Array(reads.keys.length)
  if (parts.length === 0) return
  const rows = resultRows<Record<string, unknown>>(await db.execute(sql.join(parts, sql` union all `)))
  for (const raw of rows) {
    const row = decode(info, raw)
    const index = Number(raw.__dcrf_i) - 1
    if (raw.__dcrf_n === 0 || raw.__dcrf_n === '0') reads.oldRows[index] = row
    else reads.rows[index] = row
  }
}

function changeOf ({ reads, action, old, key }: PendingItem): Change | null {
  const { table, info } = reads.observed
  const previous = old === -1 ? null : reads.oldRows[old] ?? null
  if (action === 'D') {
    if (previous === null) return null
    const rowKey = keyOf(info, previous)
    return { info, table, action: 'delete', row: previous, previous, key: rowKey, previousKey: rowKey }
  }
  const row = reads.rows[key]
  // gone since: the notification of its delete follows
  if (row === undefined) return null
  const rowKey = keyOf(info, row)
  if (action === 'I') return { info, table, action: 'create', row, previous: null, key: rowKey, previousKey: undefined }
  return { info, table, action: 'update', row, previous, key: rowKey, previousKey: previous === null ? undefined : keyOf(info, previous) }
}

function decode (info: TableInfo, raw: Record<string, unknown>): Row {
  const { keys, columns } = info
  const row: Row = {}
  for (let i = 0; i < keys.length; i++) {
    const value = raw[columns[i].name]
    row[keys[i]] = value === null || value === undefined ? null : columns[i].mapFromDriverValue(value)
  }
  return row
}
