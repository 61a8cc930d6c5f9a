/**
 * The application side of external changes: a LISTEN on the channel the triggers of
 * `./external-sql.ts` notify, turning each notification into the same {@link ChangeEvent}s that
 * captured writes produce, handed to the same observer hub — so subscribers get the same frames.
 *
 * Rows are read back by key (inserts, updates: one query per table and batch of notifications) and
 * previous rows come from the notification (deletes, the groups a row left); the notifications of
 * one transaction that arrive together fold into their net effect per row, as captured ones do.
 *
 * Every process LISTENs and delivers to its own sockets only (`deliverLocal`): PostgreSQL already
 * tells every listener, so publishing into a shared channel layer would hand each subscriber one
 * copy per process. It also keeps a process whose LISTEN is down from costing the others anything,
 * and needs no election of a publisher.
 *
 * Guarantees: at most once, in commit order per process. While the LISTEN connection is away the
 * changes made meanwhile are lost (NOTIFY keeps nothing for absent listeners); when it is back the
 * gap is logged, published on the diagnostics channel `fastify-dcrf:external-changes:gap`, passed to
 * `onGap` and emitted as the signal `dcrf.external_changes.gap`, which a signal observer can relay
 * to clients so that they read again.
 */
import dc from 'node:diagnostics_channel'
import type { FastifyBaseLogger } from 'fastify'
import { sql, type SQL } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { Database, ExternalChangesGap, ExternalChangesOptions, ExternalListen } from '../../types/index.js'
import { errors } from '../errors.js'
import { netEffect, type Change } from './change.js'
import { DEFAULT_CHANNEL, identityOf, schemaOf } from './external-sql.js'
import type { ObserverHub } from './hub.js'
import { keyOf, type Row, type TableInfo } from './table-info.js'

/** The signal emitted when external changes may have been missed: its payload is an {@link ExternalChangesGap}. */
export const EXTERNAL_CHANGES_GAP = 'dcrf.external_changes.gap'
/** Diagnostics channel of the same gaps. */
export const externalChangesGap = dc.channel('fastify-dcrf:external-changes:gap')

/** One changed row of a notification: its key, the row before (`p`: its small values only), an action of its own. */
interface Item {
  k: Record<string, unknown>
  o?: Record<string, unknown>
  p?: true
  a?: 'D' | 'I'
}

interface Notification {
  t: string
  /** The schema of the table that changed. */
  s?: string
  op: 'I' | 'U' | 'D'
  x?: string
  r?: Item[]
  lost?: number
}

interface Observed {
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
  op: 'I' | 'U' | 'D'
  action: 'I' | 'U' | 'D'
  old: number
  key: number
}

interface DrizzleClient {
  $client: unknown
}

/** Options the plugin gives {@link ExternalChanges}. */
export interface ExternalChangesSetup {
  /** The database as given (not the captured one): reads only. */
  db: Database
  hub: ObserverHub
  log: FastifyBaseLogger
  options: ExternalChangesOptions
}

export class ExternalChanges {
  #db: Database
  #hub: ObserverHub
  #log: FastifyBaseLogger
  #options: ExternalChangesOptions
  #channel: string
  #tables = new Map<string, Observed>()
  #pending: string[] = []
  #scheduled = false
  /** Batches are handled one after the other: commit order. */
  #tail: Promise<void> = Promise.resolve()
  #unlisten: (() => Promise<void>) | null = null
  #listened = false
  #lastHeard: Date | null = null

  constructor ({ db, hub, log, options }: ExternalChangesSetup) {
    this.#db = db
    this.#hub = hub
    this.#log = log
    this.#options = options
    this.#channel = options.channel ?? DEFAULT_CHANNEL
    for (const table of options.tables) {
      const info = identityOf(table)
      this.#tables.set(info.identity, { table, info })
    }
  }

  /** Starts listening; resolves once the LISTEN is in place. */
  async start (): Promise<void> {
    for (const observed of this.#tables.values()) observed.schema = await schemaOf(this.#db, observed.table)
    const listen = listenerOf(this.#options.listener ?? (this.#db as unknown as DrizzleClient).$client)
    this.#unlisten = await listen(this.#channel, (payload) => this.#heard(payload), () => this.#listening())
  }

  /** Stops listening, after the notifications already heard are handled. */
  async stop (): Promise<void> {
    const unlisten = this.#unlisten
    this.#unlisten = null
    try {
      await unlisten?.()
    } catch {
      // the client may be closed already: nothing is listening any more either way
    }
    this.#flush()
    await this.#tail
  }

  #listening (): void {
    if (this.#listened) {
      this.#gap({ reason: 'reconnected', since: this.#lastHeard, table: null })
    }
    this.#listened = true
    this.#lastHeard = new Date()
  }

  #gap (gap: ExternalChangesGap): void {
    this.#log.warn({ channel: this.#channel, ...gap }, gap.reason === 'reconnected'
      ? 'external changes: LISTEN connection restored; changes made while it was away were not reported'
      : 'external changes: the database could not report some changed rows')
    if (externalChangesGap.hasSubscribers) externalChangesGap.publish(gap)
    try {
      this.#options.onGap?.(gap)
    } catch (err) {
      this.#log.error({ err }, 'external changes: onGap threw')
    }
    this.#hub.signal(EXTERNAL_CHANGES_GAP, gap).catch(() => {})
  }

  #heard (payload: string): void {
    this.#lastHeard = new Date()
    this.#pending.push(payload)
    if (this.#scheduled) return
    this.#scheduled = true
    // what arrives together (one transaction's notifications come in one burst) is read as one batch
    setImmediate(() => this.#flush())
  }

  #flush (): void {
    this.#scheduled = false
    if (this.#pending.length === 0) return
    const batch = this.#pending
    this.#pending = []
    this.#tail = this.#tail.then(() => this.#handle(batch)).catch((err) => {
      this.#log.error({ err }, 'external changes: handling notifications failed')
    })
  }

  async #handle (batch: string[]): Promise<void> {
    const reads = new Map<Observed, TableReads>()
    /** Items by transaction, in order. */
    const transactions: PendingItem[][] = []
    let lastTx: string | undefined
    for (const payload of batch) {
      let notification: Notification
      try {
        notification = JSON.parse(payload) as Notification
      } catch {
        this.#log.warn({ payload: payload.slice(0, 200) }, 'external changes: unreadable notification ignored')
        continue
      }
      const observed = this.#tables.get(notification.t)
      // the same table name in another schema (another application, another test) is not ours
      if (observed?.schema !== undefined && notification.s !== undefined && notification.s !== observed.schema) continue
      if (notification.lost !== undefined) {
        this.#gap({ reason: 'unreported', since: null, table: notification.t })
        continue
      }
      // a table of another registration, or one nobody here observes
      if (observed === undefined || !this.#hub.observes(observed.table) || notification.r === undefined) continue
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
        items.push({ reads: tableReads, op: notification.op, action, old, key })
      }
    }
    for (const tableReads of reads.values()) await this.#read(tableReads)
    for (const items of transactions) {
      const changes: Change[] = []
      for (const item of items) {
        const change = changeOf(item)
        if (change !== null) changes.push(change)
      }
      const events = netEffect(changes)
      if (events.length > 0) this.#hub.publishChanges(events, true)
    }
  }

  /** Decodes the previous rows and reads the current ones back, in one query. */
  async #read (reads: TableReads): Promise<void> {
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
    const result = await this.#db.execute(sql.join(parts, sql` union all `)) as unknown
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<Record<string, unknown>>
    for (const raw of rows) {
      const row = decode(info, raw)
      const index = Number(raw.__dcrf_i) - 1
      if (raw.__dcrf_n === 0 || raw.__dcrf_n === '0') reads.oldRows[index] = row
      else reads.rows[index] = row
    }
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

interface PostgresJsClient {
  listen (channel: string, onNotify: (payload: string) => void, onListen: () => void): Promise<{ unlisten: () => Promise<void> }>
  unsafe: unknown
}

interface PgliteClient {
  listen (channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  execProtocol: unknown
}

/** How to LISTEN with a postgres.js client, a PGlite database, or the application's own function. */
function listenerOf (listener: unknown): ExternalListen {
  if (typeof listener === 'function' && typeof (listener as Partial<PostgresJsClient>).unsafe !== 'function') return listener as ExternalListen
  const client = listener as Partial<PostgresJsClient & PgliteClient>
  if (typeof client?.listen !== 'function') {
    throw new errors.DCRF_ERR_INVALID_OPTION('externalChanges.listener', 'must be a postgres.js client, a PGlite database or a listen function')
  }
  if (typeof client.unsafe === 'function') {
    const postgresJs = client as PostgresJsClient
    return async (channel, onNotify, onListen) => {
      const { unlisten } = await postgresJs.listen(channel, onNotify, onListen)
      return unlisten
    }
  }
  const pglite = client as PgliteClient
  return async (channel, onNotify, onListen) => {
    const unlisten = await pglite.listen(channel, onNotify)
    onListen()
    return () => unlisten()
  }
}
