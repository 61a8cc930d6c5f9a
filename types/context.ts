/**
 * The public types of the consumer context: what every handler, hook, permission and observer
 * callback of a consumer receives, and the few shapes it speaks (arguments, reply frames, group
 * messages, what it needs of a serializer). No runtime code lives here; `plugin/connection.ts`
 * implements the context.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { SQL } from 'drizzle-orm'
import type { WebSocket } from 'ws'
import type { Database, RequestUser, RowOf } from './table.js'

/** The arguments of an action: every field of the frame but `action` and `request_id`. */
export type ActionArgs = Record<string, unknown>

/** Per-connection scratch space of a context whose consumer is not known (DCRF's attributes on `self`). */
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
 * A channel-layer message for a group. `type` names the handler that each member connection runs
 * (`groupHandlers[type]`, as Channels dispatches `"chat.message"` to `chat_message`).
 */
export interface GroupMessage {
  type: string
  [key: string]: unknown
}

/** What serializers receive beside the row: DRF's serializer context. */
export interface SerializerContext {
  user?: unknown
  request?: FastifyRequest
  consumer?: AnyContext
  /** The database (inside an atomic action, its transaction), for nested fields' sources. */
  db?: Database
  [key: string]: unknown
}

/**
 * What generic consumers need of a serializer (`serializer()` builds one from a table): turning
 * rows into JSON, and input into column values. A serializer of a consumer must be of its table:
 * `table`, when the serializer names one, is checked against the consumer's.
 */
export interface SerializerLike<TRow = any, TOutput = unknown> {
  readonly table?: unknown
  toRepresentation (row: TRow, context?: SerializerContext): TOutput | Promise<TOutput>
  validate (data: unknown, options?: { partial?: boolean, context?: SerializerContext }): Promise<Record<string, unknown>>
}

/** Subscribing a connection to an observer (DCRF's `observer.subscribe(request_id=…, **kwargs)`). */
export interface ObserverSubscription {
  /** Joins the groups `groupsForConsumer(ctx, args)` names; `requestId` is tracked for the handler. Returns the groups. */
  subscribe (args?: ActionArgs & { requestId?: unknown }): Promise<string[]>
  /** Leaves them: only `requestId`'s subscription when given, all of this connection's otherwise. */
  unsubscribe (args?: ActionArgs & { requestId?: unknown }): Promise<string[]>
}

/**
 * The context of one consumer on one connection: DCRF's consumer instance. Every action, group
 * message handler, hook, permission, queryset and observer callback of a definition receives it,
 * typed by that definition: `TState` its state, `TTable` its table, `TSerialized` its rows as its
 * serializers output them (`SerializedOf`), `TObservers` its observers. The defaults fit every
 * consumer: a helper taking `ConsumerContext<State, typeof rooms>` accepts any rooms consumer's.
 */
export interface ConsumerContext<TState extends object = ConsumerState, TTable = unknown, TSerialized = unknown, TObservers = Record<string, unknown>> {
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
  /**
   * Serializes a row with the action's serializer (the consumer's `getSerializer`, else its
   * `serializer`) and this connection's serializer context: any of their outputs.
   */
  serialize (row: RowOf<TTable>, action?: string): Promise<TSerialized>
  /** The serializer context: `user`, `request`, `consumer`, and the consumer's own additions. */
  serializerContext (): SerializerContext

  // ---- observers ----

  /** An observer of this consumer, by its name in `observers`, to subscribe to or unsubscribe from. */
  observer (name: keyof TObservers & string): ObserverSubscription
}

/** The context of any consumer, for code that serves them all. */
export type AnyContext = ConsumerContext<any, any, any, any>
