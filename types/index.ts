/**
 * The public type surface of fastify-dcrf. No runtime code lives here: `plugin/` imports its types
 * from this folder so the published types cannot drift from the implementation.
 */
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteShorthandOptions
} from 'fastify'
import type { WebsocketPluginOptions } from '@fastify/websocket'
import type { Static, TSchema } from '@sinclair/typebox'
import type { SQL } from 'drizzle-orm'
import type { PgColumn, PgDatabase, PgTable } from 'drizzle-orm/pg-core'
import type { MQEmitter } from 'mqemitter'
import type { WebSocket } from 'ws'

/** Any JSON value, as it arrives in a frame. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/**
 * The user of a connection: `request.user` as the application's authentication sets it. Declare
 * `user` on `FastifyRequest` (as `@fastify/jwt` does) and this type follows.
 */
export type RequestUser = FastifyRequest extends { user: infer TUser } ? TUser : unknown

/** The arguments of an action: every field of the frame but `action` and `request_id`. */
export type ActionArgs = Record<string, unknown>

/** Per-connection scratch space, DCRF's attributes on `self` (e.g. the room a chat user joined). */
export type ConsumerState = Record<string, any>

/** A reply frame to send. Keys follow TypeScript conventions; the wire keys are DCRF's. */
export interface ReplyFrame {
  action: unknown
  data?: unknown
  errors?: unknown[]
  /** HTTP-like status, `response_status` on the wire. Default 200. */
  status?: number
  /** Echoed as `request_id`. Default `null`. */
  requestId?: unknown
}

/**
 * The context of one consumer on one connection: DCRF's consumer instance. Every action, group
 * message handler and connect/disconnect hook receives it.
 */
/** A Drizzle PostgreSQL database (postgres.js or PGlite), or a transaction of one. */
export type Database = PgDatabase<any, any, any>

/** The row type of a table, `Record<string, unknown>` for consumers without one. */
export type RowOf<TTable> = TTable extends PgTable ? TTable['$inferSelect'] : Record<string, unknown>

/** What serializers receive beside the row: DRF's serializer context. */
export interface SerializerContext {
  user?: unknown
  request?: FastifyRequest
  consumer?: ConsumerContext<any, any>
  /** The database (inside an atomic action, its transaction), for nested fields' sources. */
  db?: Database
  [key: string]: unknown
}

/**
 * What generic consumers need of a serializer (`serializer()` builds one from a table): turning
 * rows into JSON, and input into column values.
 */
export interface SerializerLike<TRow = any> {
  toRepresentation (row: TRow, context?: SerializerContext): unknown
  validate (data: unknown, options?: { partial?: boolean, context?: SerializerContext }): Promise<Record<string, unknown>>
}

export interface ConsumerContext<TState extends object = ConsumerState, TTable = unknown> {
  /** The HTTP upgrade request of the connection (headers, query, `request.user`). */
  readonly request: FastifyRequest
  /** `request.user`, as the route's authentication hooks set it. */
  readonly user: RequestUser
  /** The Fastify instance (encapsulation context) the consumer was mounted in. */
  readonly app: FastifyInstance
  /** A child logger bound to this connection. */
  readonly log: FastifyBaseLogger
  /** The WebSocket; `null` until the handshake completes. */
  readonly socket: WebSocket | null
  /** The stream name when the consumer runs inside a multiplexed route. */
  readonly stream: string | null
  /** Aborted when the connection closes. */
  readonly signal: AbortSignal
  /** The groups this connection has joined. */
  readonly groups: ReadonlySet<string>
  /** Whether the socket has closed. */
  readonly closed: boolean
  /** Per-connection state, created by the consumer's `state()` factory. */
  state: TState
  /** Sends a reply frame in DCRF's envelope (`errors`, `data`, `action`, `response_status`, `request_id`). */
  reply (frame: ReplyFrame): void
  /** Sends any JSON value as a frame (wrapped in the stream envelope when multiplexed). */
  send (frame: unknown): void
  /** Joins a group; resolves once the channel layer delivers the group's messages here. */
  addGroup (name: string): Promise<void>
  /** Leaves a group. */
  removeGroup (name: string): Promise<void>
  /** Sends a message to every member of a group, in every process sharing the channel layer. */
  groupSend (group: string, message: GroupMessage): Promise<void>
  /** Closes the socket. */
  close (code?: number, reason?: string): void
  /**
   * Cancels detached actions still running on this connection — all, or those defined under the
   * given names — aborting their signals and dropping their replies. Returns how many it cancelled.
   */
  cancelDetached (names?: readonly string[]): number

  // ---- generic consumers (with a `table`) ----

  /**
   * The database the plugin was given, wrapped so that writes reach observers; inside an `atomic`
   * action, that action's transaction.
   */
  readonly db: Database
  /** The rows this connection may see (DCRF's `get_queryset`): a WHERE condition, or none. */
  getQueryset (args?: ActionArgs): SQL | undefined
  /** The consumer's list filter for these arguments (DCRF's `filter_queryset`), or none. */
  filterQueryset (args?: ActionArgs): SQL | undefined
  /** The row of the lookup value (`getObject(7)`) or of an action's arguments (`getObject(args)`); 404 otherwise. */
  getObject (lookup: unknown): Promise<RowOf<TTable>>
  /** The serializer for an action (DCRF's `get_serializer_class`). */
  getSerializer (action?: string): SerializerLike
  /** Serializes a row with the action's serializer and this connection's serializer context. */
  serialize (row: RowOf<TTable>, action?: string): Promise<unknown>
  /** The serializer context: `user`, `request`, `consumer`, and the consumer's own additions. */
  serializerContext (): SerializerContext

  // ---- observers ----

  /** An observer of this consumer, to subscribe to or unsubscribe from. */
  observer (name: string): ObserverSubscription
}

/** What an action receives beside its context and arguments. */
export interface ActionCall {
  /** The action name as the client sent it (an alias stays the alias). */
  action: string
  /** The frame's `request_id`, verbatim; `null` when absent. */
  requestId: unknown
  /** Aborted when the socket closes (and, for detached actions, when they are cancelled). */
  signal: AbortSignal
}

/** What an action returns to be answered: `data` and a status (default 200). */
export interface ActionResult {
  data?: unknown
  status?: number
}

/** An action returning nothing sends no reply. */
export type ActionReturn = ActionResult | undefined | void

export type ActionHandler<TState extends object = ConsumerState, TArgs = ActionArgs, TTable = any> = (
  ctx: ConsumerContext<TState, TTable>,
  args: TArgs,
  call: ActionCall
) => ActionReturn | Promise<ActionReturn>

/** Infers the arguments of an action from its schema. */
export type inferArgs<TArgsSchema extends TSchema | undefined> = TArgsSchema extends TSchema ? Static<TArgsSchema> : ActionArgs

/**
 * An action with options. Build it with `action()` so that the handler's arguments are inferred
 * from `schema`.
 */
export interface ActionDefinition<TState extends object = ConsumerState, TArgsSchema extends TSchema | undefined = TSchema | undefined, TTable = any> {
  /** TypeBox schema of the arguments; invalid arguments are answered 400 with DRF-shaped field errors. */
  schema?: TArgsSchema
  handler: ActionHandler<TState, inferArgs<TArgsSchema>, TTable>
  /** Other names the action answers to on the wire. */
  aliases?: readonly string[]
  /**
   * Runs beside the connection's ordered queue: later frames are served while it runs, its reply
   * comes when it is done, and it is cancelled (its `signal` aborts) when the socket closes.
   */
  detached?: boolean
  /**
   * Runs in a database transaction (`ctx.db` is the transaction), rolled back when the action
   * throws. Default: the plugin's `atomicRequests`. Not for detached actions.
   */
  atomic?: boolean
  /** Checked after the consumer's permissions, for this action only. */
  permissions?: readonly Permission[]
}

/** An entry of a consumer's `actions`: a bare handler or a definition. */
export type ActionEntry<TState extends object = ConsumerState, TTable = any> =
  | ActionHandler<TState, any, TTable>
  | ActionDefinition<TState, any, TTable>

export type ActionMap<TState extends object = ConsumerState, TTable = any> = Record<string, ActionEntry<TState, TTable>>

/**
 * A channel-layer message for a group. `type` names the handler that each member connection runs
 * (`groupHandlers[type]`, as Channels dispatches `"chat.message"` to `chat_message`).
 */
export interface GroupMessage {
  type: string
  [key: string]: unknown
}

export type GroupHandler<TState extends object = ConsumerState, TTable = any> = (
  ctx: ConsumerContext<TState, TTable>,
  message: GroupMessage
) => void | Promise<void>

/** How an action name and its arguments are read from a frame (DCRF's `get_action_name`). */
export type GetActionName = (frame: Record<string, unknown>) => { action: unknown, args: ActionArgs }

/**
 * A permission, DCRF's `BasePermission`. Each check returns `true` to allow, `false` to deny
 * (403), or throws a coded error (e.g. `NotAuthenticated`, 401).
 */
export interface Permission {
  /** Checked before each action, before the action is even looked up. */
  hasPermission?: (ctx: ConsumerContext<any>, action: string, args: ActionArgs) => boolean | Promise<boolean>
  /** Checked during the handshake; a denial refuses the upgrade with an HTTP status. */
  canConnect?: (ctx: ConsumerContext<any>) => boolean | Promise<boolean>
}

/** A Fastify hook in `(request, reply)` or `(request, reply, done)` form, e.g. a JWT verify. */
export type FastifyAuthHook =
  | ((request: FastifyRequest, reply: FastifyReply) => unknown)
  | ((request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void)

/** The column keys of a table. */
export type ColumnKey<TTable> = TTable extends PgTable ? keyof TTable['_']['columns'] & string : string

/** The kind of change a model observer reports. */
export type ObservedAction = 'create' | 'update' | 'delete'

/** What an observer's handler receives beside the message. */
export interface ObserverDelivery {
  /** `create`, `update` or `delete` for model observers (after group moves); the signal name for signal observers. */
  action: string
  /** The request ids that subscribed to the group the message came through, verbatim. */
  requestIds: unknown[]
  /** The group (as `groupsForSignal` named it) the message came through. */
  group: string
}

/** Handles an observed message on each subscribed connection, in its queue. */
export type ObserverHandler<TMessage = unknown> = (
  ctx: ConsumerContext<any, any>,
  message: TMessage,
  delivery: ObserverDelivery
) => void | Promise<void>

interface ObserverOptionsBase<TMessage> {
  /** Groups a subscriber joins, from its subscribe arguments and connection. Default: the observer's one group. */
  groupsForConsumer?: (ctx: ConsumerContext<any, any>, args: ActionArgs) => Iterable<string>
  /**
   * Sends the message to a subscriber. Default: one reply per subscribing request id, with
   * `action` = the delivery's action, `data` = the message, status 200.
   */
  handle?: ObserverHandler<TMessage>
}

/** Options of `modelObserver(table, options)` (DCRF's `@model_observer`). */
export interface ModelObserverOptions<TTable = any, TMessage = unknown> extends ObserverOptionsBase<TMessage> {
  /**
   * Turns the changed row into the message, once per change, in the process that made it (DCRF's
   * `@observer.serializer`): no access to any subscriber. Default: `{ pk }`. Must return JSON.
   */
  serialize?: (row: RowOf<TTable>, action: ObservedAction) => TMessage | Promise<TMessage>
  /** Groups a changed row is sent to, from the row alone (no queries). Default: the observer's one group. */
  groupsForSignal?: (row: RowOf<TTable>) => Iterable<string>
}

/** Options of `observer(signal, options)` (DCRF's `@observer` on any signal). */
export interface SignalObserverOptions<TPayload = any, TMessage = unknown> extends ObserverOptionsBase<TMessage> {
  /** Turns the payload into the message, once per emit. Default: the payload. Must return JSON. */
  serialize?: (payload: TPayload) => TMessage | Promise<TMessage>
  /** Groups the payload is sent to. Default: the observer's one group. */
  groupsForSignal?: (payload: TPayload) => Iterable<string>
}

/** An observer, built by `modelObserver()` or `observer()`. */
export type ObserverDefinition =
  | { kind: 'model', table: PgTable, options: ModelObserverOptions<any, any> }
  | { kind: 'signal', signal: string, options: SignalObserverOptions<any, any> }

/** Subscribing a connection to an observer (DCRF's `observer.subscribe(request_id=…, **kwargs)`). */
export interface ObserverSubscription {
  /** Joins the groups `groupsForConsumer(ctx, args)` names; `requestId` is tracked for the handler. Returns the groups. */
  subscribe (args?: ActionArgs & { requestId?: unknown }): Promise<string[]>
  /** Leaves them: only `requestId`'s subscription when given, all of this connection's otherwise. */
  unsubscribe (args?: ActionArgs & { requestId?: unknown }): Promise<string[]>
}

/** A consumer: DCRF's consumer class, as a plain object. */
export interface ConsumerDefinition<TState extends object = ConsumerState, TActions extends ActionMap<TState, TTable> = ActionMap<TState, any>, TTable = any> {
  /** The actions, by wire name. */
  actions: TActions
  /** The table of a generic consumer: its queryset (DCRF's `queryset`). */
  table?: TTable
  /** Serializes its rows and validates input. Default: every column of `table`. */
  serializer?: SerializerLike
  /** A serializer per action (DCRF's `get_serializer_class`); falls back to `serializer`. */
  getSerializer?: (ctx: ConsumerContext<TState, TTable>, action: string) => SerializerLike | undefined
  /** Additions to the serializer context (DCRF's `get_serializer_context`). */
  serializerContext?: (ctx: ConsumerContext<TState, TTable>) => Record<string, unknown>
  /** Narrows the rows per connection and request (DCRF's `get_queryset`), e.g. to the user's own. */
  queryset?: (ctx: ConsumerContext<TState, TTable>, args: ActionArgs) => SQL | undefined
  /** Filters lists further from the action's arguments (DCRF's `filter_queryset`). */
  filterQueryset?: (ctx: ConsumerContext<TState, TTable>, args: ActionArgs) => SQL | undefined
  /** The column looked up by `getObject` (DCRF's `lookup_field`). Default: the primary key. */
  lookupField?: ColumnKey<TTable>
  /** The argument holding the lookup value (DCRF's `lookup_url_kwarg`). Default: `"pk"`. */
  lookupKwarg?: string
  /** Observers of this consumer, by name: `ctx.observer(name).subscribe(...)`. */
  observers?: Record<string, ObserverDefinition>
  /** The order of lists. Default: the primary key, ascending. */
  orderBy?: (table: TTable) => SQL | PgColumn | Array<SQL | PgColumn>
  /** Creates the per-connection `ctx.state`. */
  state?: () => TState
  /** Permissions checked for every action, before the lookup. Default: the plugin's `permissions`. */
  permissions?: readonly Permission[]
  /** Handlers of group messages, by message `type`. */
  groupHandlers?: Record<string, GroupHandler<TState>>
  /** Reads the action name and arguments from a frame. Default: `frame.action`, the rest as arguments. */
  getActionName?: GetActionName
  /** Runs first in the connection's queue once the socket is open. */
  onConnect?: (ctx: ConsumerContext<TState>) => void | Promise<void>
  /** Runs last in the connection's queue after the socket closed, with the close code. */
  onDisconnect?: (ctx: ConsumerContext<TState>, code: number) => void | Promise<void>
}

/** A consumer of any state and actions. */
export type AnyConsumer = ConsumerDefinition<any, ActionMap<any, any>, any>

/** The wire action names of a consumer. */
export type inferActions<TConsumer> = TConsumer extends ConsumerDefinition<any, infer TActions, any> ? keyof TActions & string : never

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
   * Frames a socket may have waiting in its queues; beyond it the server stops reading the socket
   * (TCP pushes back on the client) until the queue drained to half. Default 1000.
   */
  maxQueuedFrames?: number
  /**
   * Bytes a socket may have waiting to be sent; a client that reads slower than the server sends
   * (or not at all) is closed with 1013 beyond it, so it cannot make the server buffer without
   * bound. Default 8 MiB.
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
  /** Emits an application event to the observers of `signal` (DCRF observes any Django signal). */
  signal (signal: string, payload: unknown): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    dcrf: DcrfDecorator
  }
  interface FastifyRequest {
    /** The consumer context of this request's connection (single-consumer routes); `null` otherwise. */
    dcrf: ConsumerContext | null
  }
}

export type * from './serializer.js'
