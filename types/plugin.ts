/**
 * The public types of the plugin itself: the options of `fastify.register(dcrf, options)`, the
 * channel layer, and the decorators it adds to Fastify (`app.dcrf`, `request.dcrf`). No runtime
 * code lives here; `plugin/index.ts` registers the plugin.
 */
import type { RouteShorthandOptions } from 'fastify'
import type { WebsocketPluginOptions } from '@fastify/websocket'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { MQEmitter } from 'mqemitter'
import type { AnyConsumer } from './consumer.js'
import type { ConsumerContext, GroupMessage } from './context.js'
import type { AsyncApiPluginOptions } from './diagnostics.js'
import type { SignalPayload } from './observer.js'
import type { Permission } from './permission.js'
import type { Database } from './table.js'

/** Where the channel layer carries group messages. */
export interface ChannelLayerOptions {
  /** A Redis URL: use `mqemitter-redis`, so every process sharing that Redis shares groups. */
  redis?: string
  /** An mqemitter-compatible emitter of the application's own (not closed by the plugin). */
  emitter?: MQEmitter
  /** How long closing the layer may take before connections are dropped, in ms. Default 2000. */
  closeTimeout?: number
  /** How long `addGroup` waits for the layer to confirm a subscription, in ms. Default 5000. */
  subscribeTimeout?: number
  /**
   * How long `groupSend` waits for the layer to take a message, in ms; past it the message is
   * dropped and `groupSend` rejects with `DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE`. Default 1000.
   */
  sendTimeout?: number
}

/** Options of `fastify.register(dcrf, options)`. */
export interface DcrfOptions {
  /**
   * The Drizzle database of generic consumers (`drizzle-orm/postgres-js` or `drizzle-orm/pglite`).
   * The plugin wraps it to capture changes for observers: write through `app.dcrf.db`.
   */
  db?: Database
  /** Whether actions run in a transaction unless they say otherwise (Django's `ATOMIC_REQUESTS`). Default false. */
  atomicRequests?: boolean
  /** Default: an in-process mqemitter. */
  channelLayer?: ChannelLayerOptions
  /** Permissions of consumers that set none (DRF's `DEFAULT_PERMISSION_CLASSES`). Default: allow any. */
  permissions?: readonly Permission[]
  /** The largest inbound frame, in bytes; a larger one closes the socket with 1009. Default 1 MiB. */
  maxFrameSize?: number
  /**
   * The deepest nesting of arrays and objects an inbound frame may have (the frame itself is level
   * 1). A deeper frame is answered 400 `["Message is nested too deeply (at most N levels)."]` with
   * `request_id: null`, before anything reads it. Default 32.
   */
  maxDepth?: number
  /**
   * Frames a socket may have waiting in its queues (detached actions still running count); beyond
   * it the server stops reading the socket (TCP pushes back on the client) until the queue drained
   * to half. Default 1000.
   */
  maxQueuedFrames?: number
  /** Bytes of inbound frames a socket may have waiting in its queues; beyond it reading stops likewise. Default 1 MiB. */
  maxQueuedBytes?: number
  /** Detached actions (streamed lists included) one socket may have running; more are answered 429. Default 10. */
  maxDetachedActions?: number
  /**
   * Bytes a socket may have waiting to be sent; a client that reads slower than the server sends
   * (or not at all) is closed with 1013 beyond it, so it cannot make the server buffer without
   * bound. Default 256 KiB.
   */
  maxBufferedBytes?: number
  /** Observer and instance subscriptions (request ids) one connection may hold; more are answered 429. Default 1000. */
  maxSubscriptions?: number
  /** At most `max` frames per `timeWindow` ms per socket; more are answered 429 `["Request was throttled."]`. Default: off. */
  rateLimit?: { max: number, timeWindow: number } | null
  /** Ms an upgrade request may take (route hooks and connect checks included) before its socket is dropped. Default 10000. */
  handshakeTimeout?: number
  /** Ms between pings; a socket from which nothing arrived since the previous ping, not even its answer, is terminated. 0 disables. Default 30000. */
  heartbeatInterval?: number
  /** Options for `@fastify/websocket` when the plugin registers it (it does unless the app has). */
  websocket?: WebsocketPluginOptions
  /** The AsyncAPI document of the consumers (`app.dcrf.asyncapi()`): its info, servers, and the route serving it. */
  asyncapi?: AsyncApiPluginOptions
  /**
   * Changes made outside the application (psql, other services, raw SQL, cascades) reach observers
   * too: the database reports them through triggers that `installExternalChanges` creates, and
   * every process LISTENs. Default: off.
   */
  externalChanges?: ExternalChangesOptions | null
}

/** Options of external changes: the same object is given to `installExternalChanges` and to the plugin. */
export interface ExternalChangesOptions {
  /** The tables whose changes the database reports (each needs a primary key). */
  tables: readonly PgTable[]
  /** The NOTIFY channel: a lowercase identifier. Default `dcrf_changes`. */
  channel?: string
  /**
   * What to LISTEN on. Default: the `db` option's own client (postgres.js opens one dedicated
   * connection for it). Give a postgres.js client of a direct URL when the pool goes through
   * PgBouncer in transaction mode (LISTEN needs a session), or a function for any other driver.
   */
  listener?: unknown | ExternalListen
  /** Called when changes may have been missed (also logged, signalled and published on diagnostics). */
  onGap?: (gap: ExternalChangesGap) => void
}

/**
 * LISTENs on `channel`: `onNotify` for each payload, `onListen` each time the LISTEN is in place
 * (again after a reconnect: the gap between is lost). Resolves to a function that stops listening.
 */
export type ExternalListen = (channel: string, onNotify: (payload: string) => void, onListen: () => void) => Promise<() => Promise<void>>

/** Changes the plugin may not have heard of. */
export interface ExternalChangesGap {
  /** `reconnected`: the LISTEN connection was lost and is back; `unreported`: the trigger could not send some rows. */
  reason: 'reconnected' | 'unreported'
  /** When the gap may have begun: the last notification heard before it (or the LISTEN start), for `reconnected`. */
  since: Date | null
  /** The table, for `unreported`. */
  table: string | null
}

/** Route options accepted beside a consumer: hooks and config of the WebSocket route. */
export type ConsumerRouteOptions = Omit<RouteShorthandOptions, 'websocket' | 'handler' | 'wsHandler'>

/** The channel layer: groups over an mqemitter. */
export interface ChannelLayer {
  /** Sends a message to every member of `group`, in every process sharing the layer. */
  groupSend (group: string, message: GroupMessage): Promise<void>
  /** The number of groups this process is subscribed to. */
  readonly size: number
}

/** `app.dcrf`: mounts consumers on routes of the instance it is read from. */
export interface DcrfDecorator {
  /** Mounts a consumer on a WebSocket route of this encapsulation context (its hooks apply). */
  consumer (path: string, consumer: AnyConsumer, routeOptions?: ConsumerRouteOptions): void
  /** Mounts several consumers on one route, one per stream name (`{"stream", "payload"}` frames). */
  multiplex (path: string, streams: Record<string, AnyConsumer>, routeOptions?: ConsumerRouteOptions): void
  /** Sends a message to a group from anywhere: a route, a job, another consumer. */
  groupSend (group: string, message: GroupMessage): Promise<void>
  readonly channelLayer: ChannelLayer
  /** The plugin's database, wrapped so that writes through it reach observers. */
  readonly db: Database
  /**
   * Emits an application event to the observers of `signal` (DCRF observes any Django signal); the
   * payload has the type `DcrfSignals` declares for it.
   */
  signal<TSignal extends string> (signal: TSignal, payload: SignalPayload<TSignal>): Promise<void>
  /** The AsyncAPI 3.0 document of every consumer this registration mounted (built once per change of routes). */
  asyncapi (): Record<string, unknown>
}

declare module 'fastify' {
  interface FastifyInstance {
    dcrf: DcrfDecorator
  }
  interface FastifyRequest {
    /**
     * The consumer context of this request's connection (single-consumer routes); `null` otherwise.
     * Its consumer is not known here: `state` is `Record<string, unknown>`, rows are untyped.
     */
    dcrf: ConsumerContext<Record<string, unknown>> | null
  }
}
