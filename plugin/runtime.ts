import type { PgTable } from 'drizzle-orm/pg-core'
import type { AnyConsumer, Database, Permission } from '../types/index.js'
import type { ChannelLayer } from './channel-layer.js'
import type { CompiledConsumer } from './consumer.js'
import { errors } from './errors.js'
import type { ObserverHub } from './observer/hub.js'
import type { DeliveryCache } from './observer/delivery.js'
import type { Limits } from './options.js'
import type { SocketGuard } from './socket-guard.js'

/** What one registration of the plugin shares, and nothing with another application in the process. */
export interface Runtime {
  channelLayer: ChannelLayer
  permissions: readonly Permission[]
  /** Wrapped for change capture. */
  db: Database | null
  atomicRequests: boolean
  observers: ObserverHub
  limits: Limits
  sockets: Set<SocketGuard>
  /** Whether @fastify/websocket has its default error handler, which `SocketGuard.handleErrors` then stands in for. */
  defaultErrorHandler: boolean
  /** Of generic consumers and model observers, by SQL name. */
  tables: Map<string, PgTable>
  compiled: WeakMap<AnyConsumer, CompiledConsumer>
  /** Header texts most connections repeat, one copy for all (`upgrade.ts`). */
  sharedTexts: Map<string, string>
  /** What the subscribers of one message share while it fans out. */
  delivery: DeliveryCache
}

/** The registration's database, or `DCRF_ERR_NO_DATABASE`. */
export function databaseOf (runtime: Runtime): Database {
  if (runtime.db === null) throw new errors.DCRF_ERR_NO_DATABASE()
  return runtime.db
}
