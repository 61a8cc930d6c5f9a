/**
 * What one registration of the plugin shares: its channel layer, observers, database, limits and
 * open sockets. Every consumer instance and route of that registration reads it; nothing in it is
 * shared with another Fastify application in the same process.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { AnyConsumer, Database, Permission } from '../types/index.js'
import type { ChannelLayer } from './channel-layer.js'
import type { CompiledConsumer } from './consumer.js'
import { errors } from './errors.js'
import type { ObserverHub } from './observer/hub.js'
import type { DeliveryCache } from './observer/delivery.js'
import type { Limits } from './options.js'
import type { SocketGuard } from './socket-guard.js'

/** What every consumer instance of one plugin registration shares. */
export interface Runtime {
  channelLayer: ChannelLayer
  /** Permissions of consumers that set none. */
  permissions: readonly Permission[]
  /** The plugin's database, wrapped for change capture; `null` when none was given. */
  db: Database | null
  /** The default of `atomic` (Django's `ATOMIC_REQUESTS`). */
  atomicRequests: boolean
  observers: ObserverHub
  limits: Limits
  /** The open sockets: pinged by the heartbeat, closed with 1001 when the application closes. */
  sockets: Set<SocketGuard>
  /**
   * Whether the plugin registered @fastify/websocket with its default error handler: the sockets'
   * guards can then handle their errors the same way (see `SocketGuard.handleErrors`).
   */
  defaultErrorHandler: boolean
  /** The tables of generic consumers and model observers, by SQL name. */
  tables: Map<string, PgTable>
  /** The consumer definitions mounted (or described) by this registration, compiled once each. */
  compiled: WeakMap<AnyConsumer, CompiledConsumer>
  /** Header texts most connections repeat, one copy for all of them (see `route.ts`). */
  sharedTexts: Map<string, string>
  /** The re-reads and frames the subscribers of one message share while it fans out. */
  delivery: DeliveryCache
}

/** The registration's database; throws `DCRF_ERR_NO_DATABASE` when the plugin was given none. */
export function databaseOf (runtime: Runtime): Database {
  if (runtime.db === null) throw new errors.DCRF_ERR_NO_DATABASE()
  return runtime.db
}
