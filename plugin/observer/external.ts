/**
 * The application side of external changes: a LISTEN on the channel of `./external-sql.ts`'s
 * triggers, each batch of notifications read into changes and folded into their net effect per
 * transaction, then handed to the observer hub as captured writes are. Every process listens and
 * delivers to its own sockets only, since PostgreSQL tells every listener. At most once, in commit
 * order: the changes made while the LISTEN connection is away are lost, and the gap is logged,
 * published on a diagnostics channel, passed to `onGap` and emitted as {@link EXTERNAL_CHANGES_GAP}.
 */
import dc from 'node:diagnostics_channel'
import type { FastifyBaseLogger } from 'fastify'
import type { Database, ExternalChangesGap, ExternalChangesOptions, ExternalListen } from '../../types/index.js'
import { channelNames } from '../diagnostics.js'
import { errors } from '../errors.js'
import { netEffect } from './change.js'
import { readBatch, type BatchListener, type Observed } from './external-notifications.js'
import { DEFAULT_CHANNEL, keyedTableInfo, schemaOf } from './external-sql.js'
import type { ObserverHub } from './hub.js'

/** The signal emitted when external changes may have been missed: its payload is an {@link ExternalChangesGap}. */
export const EXTERNAL_CHANGES_GAP = 'dcrf.external_changes.gap'
/** Diagnostics channel of the same gaps. */
const externalChangesGap = dc.channel(channelNames.externalChangesGap)

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

/** One registration's listener of external changes, started and stopped with the application. */
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
  #reader: BatchListener

  constructor ({ db, hub, log, options }: ExternalChangesSetup) {
    this.#db = db
    this.#hub = hub
    this.#log = log
    this.#options = options
    this.#channel = options.channel ?? DEFAULT_CHANNEL
    for (const table of options.tables) {
      const info = keyedTableInfo(table)
      this.#tables.set(info.identity, { table, info })
    }
    this.#reader = {
      db,
      tables: this.#tables,
      observes: (table) => hub.observes(table),
      log,
      lost: (table) => this.#gap({ reason: 'unreported', since: null, table })
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
    for (const changes of await readBatch(this.#reader, batch)) {
      const events = netEffect(changes)
      if (events.length > 0) this.#hub.publishChanges(events, true)
    }
  }
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
