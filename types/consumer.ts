/**
 * The public types of consumers: the definition, the context every handler receives, actions and
 * their replies, and the read-back helpers a typed client uses. No runtime code lives here;
 * `plugin/consumer.ts` defines the values.
 *
 * One definition fixes four types — its `state`, `table`, `serializer` and `observers` — and they
 * reach every place that receives a context, as `ConsumerContext<TState, TTable, TSerializer,
 * TObservers>`.
 */
import type { Static, TSchema } from '@sinclair/typebox'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { WebSocket } from 'ws'
import type { MixinArgs, MixinKind, MixinReply, Mixins } from './mixins.js'
import type { inferObserverEvent, ObserverBuilders, ObserverMap, ObserverSubscription } from './observer.js'
import type { Permission } from './permission.js'
import type { Serializer, SerializerContext, SerializerLike, Wire } from './serializer.js'
import type { ColumnKey, Database, RequestUser, RowOf } from './table.js'

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
 * The rows of a consumer as they go on the wire: its serializer's output, or every column of its
 * table (as JSON) when it has none.
 *
 * @example
 * type User = SerializedOf<typeof userSerializer, typeof users> // { id: number, username: string }
 */
export type SerializedOf<TSerializer, TTable> =
  TSerializer extends Serializer<any, infer TOutput, any> ? TOutput
    : TSerializer extends SerializerLike<any, infer TOutput> ? Awaited<TOutput>
      : TTable extends PgTable ? Wire<RowOf<TTable>> : unknown

/**
 * The context of one consumer on one connection: DCRF's consumer instance. Every action, group
 * message handler, hook, permission, queryset and observer callback of a definition receives it,
 * typed by that definition: `TState` its state, `TTable` its table, `TSerialized` its rows as its
 * serializer outputs them (`SerializedOf`), `TObservers` its observers. The defaults fit every
 * consumer: a helper taking `ConsumerContext<State, typeof rooms>` accepts any rooms consumer's.
 */
export interface ConsumerContext<TState extends object = ConsumerState, TTable = unknown, TSerialized = unknown, TObservers = ObserverMap> {
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
   * Serializes a row with the action's serializer and this connection's serializer context. Typed
   * by the consumer's `serializer`: a `getSerializer` of other shapes is yours to type.
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

/** The context a definition of this state, table, serializer and observers hands out. */
export type ContextOf<TState extends object, TTable, TSerializer, TObservers> =
  ConsumerContext<TState, TTable, SerializedOf<TSerializer, TTable>, TObservers>

/** What an action receives beside its context and arguments. */
export interface ActionCall {
  /** The action name as the client sent it (an alias stays the alias). */
  action: string
  /** The frame's `request_id`, verbatim; `null` when absent. */
  requestId: unknown
  /** Aborted when the socket closes (and, for detached actions, when they are cancelled). */
  signal: AbortSignal
}

/** What an action returns to be answered: `data` (the reply's `data`) and a status (default 200). */
export interface ActionResult<TData = unknown> {
  data?: TData
  status?: number
}

/** An action returning nothing sends no reply. */
export type ActionReturn<TData = unknown> = ActionResult<TData> | undefined | void

/** An action's handler. */
export type ActionHandler<TCtx = AnyContext, TArgs = ActionArgs, TReturn extends ActionReturn = ActionReturn> = (
  ctx: TCtx,
  args: TArgs,
  call: ActionCall
) => TReturn | Promise<TReturn>

/** The arguments a schema describes; any arguments without one. */
export type StaticArgs<TArgsSchema> = 0 extends (1 & TArgsSchema) ? any : TArgsSchema extends TSchema ? Static<TArgsSchema> : ActionArgs

/**
 * An action with options. Build it with `action()` so that the handler's arguments are inferred
 * from `schema` and its reply from what it returns.
 */
export interface ActionDefinition<
  TCtx = AnyContext,
  TArgsSchema extends TSchema | undefined = TSchema | undefined,
  TReturn extends ActionReturn = ActionReturn,
  TAliases extends readonly string[] = readonly string[],
  TSubscribes extends string = string
> {
  /** TypeBox schema of the arguments; invalid arguments are answered 400 with DRF-shaped field errors. */
  schema?: TArgsSchema
  handler: ActionHandler<TCtx, StaticArgs<TArgsSchema>, TReturn>
  /** Other names the action answers to on the wire. */
  aliases?: TAliases
  /**
   * The observer (by name) this action subscribes to, for types only: what its subscribers
   * receive is the action's events (`inferEvents`). Not read at run time.
   */
  subscribes?: TSubscribes
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
  permissions?: ReadonlyArray<Permission<TCtx>>
}

/** An entry of a consumer's `actions`: a bare handler or a definition. */
export type ActionEntry<TCtx = AnyContext> =
  | ActionHandler<TCtx, ActionArgs, ActionReturn>
  | ActionDefinition<TCtx, any, ActionReturn, readonly string[], string>

/** A consumer's actions, by wire name. */
export type ActionMap<TCtx = AnyContext> = Record<string, ActionEntry<TCtx>>

/**
 * A channel-layer message for a group. `type` names the handler that each member connection runs
 * (`groupHandlers[type]`, as Channels dispatches `"chat.message"` to `chat_message`).
 */
export interface GroupMessage {
  type: string
  [key: string]: unknown
}

/** Handles a group message on each member connection, in its queue. */
export type GroupHandler<TCtx = AnyContext> = (ctx: TCtx, message: GroupMessage) => void | Promise<void>

/** How an action name and its arguments are read from a frame (DCRF's `get_action_name`). */
export type GetActionName = (frame: Record<string, unknown>) => { action: unknown, args: ActionArgs }

/** Everything of a consumer definition but its actions and observers, typed by its context. */
export interface ConsumerSettings<TState extends object, TTable, TSerializer, TCtx> {
  /** The table of a generic consumer: its queryset (DCRF's `queryset`). */
  table?: TTable
  /** Serializes its rows and validates input; must be of `table`. Default: every column of `table`. */
  serializer?: TSerializer
  /** A serializer per action (DCRF's `get_serializer_class`); falls back to `serializer`. */
  getSerializer?: (ctx: TCtx, action: string) => SerializerLike | undefined
  /** Additions to the serializer context (DCRF's `get_serializer_context`). */
  serializerContext?: (ctx: TCtx) => Record<string, unknown>
  /** Narrows the rows per connection and request (DCRF's `get_queryset`), e.g. to the user's own. */
  queryset?: (ctx: TCtx, args: ActionArgs) => SQL | undefined
  /** Filters lists further from the action's arguments (DCRF's `filter_queryset`). */
  filterQueryset?: (ctx: TCtx, args: ActionArgs) => SQL | undefined
  /** The column looked up by `getObject` (DCRF's `lookup_field`). Default: the primary key. */
  lookupField?: ColumnKey<TTable>
  /** The argument holding the lookup value (DCRF's `lookup_url_kwarg`). Default: `"pk"`. */
  lookupKwarg?: string
  /** The order of lists. Default: the primary key, ascending. */
  orderBy?: (table: TTable) => SQL | PgColumn | Array<SQL | PgColumn>
  /** Creates the per-connection `ctx.state`. */
  state?: () => TState
  /** Permissions checked for every action, before the lookup. Default: the plugin's `permissions`. */
  permissions?: ReadonlyArray<Permission<TCtx>>
  /** Handlers of group messages, by message `type`. */
  groupHandlers?: Record<string, GroupHandler<TCtx>>
  /** Reads the action name and arguments from a frame. Default: `frame.action`, the rest as arguments. */
  getActionName?: GetActionName
  /** Runs first in the connection's queue once the socket is open. */
  onConnect?: (ctx: TCtx) => void | Promise<void>
  /** Runs last in the connection's queue after the socket closed, with the close code. */
  onDisconnect?: (ctx: TCtx, code: number) => void | Promise<void>
}

/** A consumer: DCRF's consumer class, as a plain object. `defineConsumer()` returns one. */
export interface ConsumerDefinition<
  TState extends object = ConsumerState,
  TActions = ActionMap,
  TTable = any,
  TSerializer = any,
  TObservers = ObserverMap
> extends ConsumerSettings<TState, TTable, TSerializer, ContextOf<TState, TTable, TSerializer, TObservers>> {
  /** The actions, by wire name. */
  actions: TActions
  /** Observers of this consumer, by name: `ctx.observer(name).subscribe(...)`. */
  observers?: TObservers
}

/** A consumer of any state and actions. */
export type AnyConsumer = ConsumerDefinition<any, ActionMap<any>, any, any, ObserverMap>

/** What `actions: (b) => ({ … })` receives: `action` and the mixins, typed by the consumer. */
export interface ActionBuilders<TCtx, TTable, TObservers> extends Mixins<TCtx, TTable> {
  /**
   * `action({ schema, handler })` with the consumer's context: the handler's arguments come from
   * `schema`, its `ctx` is this consumer's, its reply is the `data` it returns.
   */
  action: <
    TArgsSchema extends TSchema | undefined = undefined,
    TReturn extends ActionReturn = ActionReturn,
    const TAliases extends readonly string[] = readonly [],
    const TSubscribes extends keyof TObservers & string = never
  >(definition: ActionDefinition<TCtx, TArgsSchema, TReturn, TAliases, TSubscribes>) => ActionDefinition<TCtx, TArgsSchema, TReturn, TAliases, TSubscribes>
  /** The mixins by their DCRF names, typed by the consumer (`mixins.create({ performCreate })`). */
  mixins: Mixins<TCtx, TTable>
}

/**
 * What `defineConsumer()` accepts: a definition, whose `actions` and `observers` may be built from
 * typed builders. The hooks' contexts (`onConnect`, permissions, querysets…) do not check observer
 * names, so that the observers' type is free to be inferred after them; actions' contexts do.
 */
export interface ConsumerInput<TState extends object, TActions, TTable, TSerializer, TObservers>
  extends ConsumerSettings<TState, TTable, TSerializer, NoInfer<ContextOf<TState, TTable, TSerializer, ObserverMap>>> {
  /**
   * The observers by name, or a function building them from `modelObserver` and `observer` typed
   * by this consumer (their `groupsForConsumer` and `handle` get its context, with observer names
   * unchecked there: the observers are being defined). Before `actions`.
   */
  observers?: TObservers | ((builders: ObserverBuilders<ContextOf<TState, TTable, TSerializer, ObserverMap>>) => TObservers)
  /**
   * The actions by wire name, or a function building them from `action` and the mixins typed by
   * this consumer: `actions: ({ action, crud }) => ({ ...crud(), custom: action({ … }) })`.
   */
  actions: TActions | ((builders: ActionBuilders<ContextOf<TState, TTable, TSerializer, TObservers>, TTable, TObservers>) => TActions)
}

/** The error an action's result with an unknown key meets. */
type ResultKeyError = 'an action returns { data, status } or nothing'

/** A result type whose keys beyond `data` and `status` are errors. */
type ClosedResult<TResult> = TResult extends object
  ? { [K in keyof TResult]: K extends 'data' | 'status' ? TResult[K] : ResultKeyError }
  : TResult extends undefined | null | void ? TResult : ResultKeyError

type ClosedHandler<THandler> = THandler extends (...args: infer TArgs) => infer TReturn
  ? (...args: TArgs) => ClosedResult<Awaited<TReturn>> | Promise<ClosedResult<Awaited<TReturn>>>
  : THandler

/** The actions of a definition with their results closed: `{ data, statsu: 201 }` does not compile. */
export type ClosedActions<TActions> = string extends keyof TActions ? unknown : {
  [K in keyof TActions]: TActions[K] extends { handler: infer THandler } ? { handler: ClosedHandler<THandler> } : ClosedHandler<TActions[K]>
}

// ---- read-back helpers ----

type ActionsOf<TConsumer> = TConsumer extends { actions: infer TActions } ? TActions : never

type AliasesOf<TEntry> = TEntry extends { aliases?: infer TAliases extends readonly string[] }
  ? string extends TAliases[number] ? never : TAliases[number]
  : never

type MixinKindOf<TEntry> = TEntry extends { readonly '~mixin'?: infer TKind extends MixinKind } ? TKind : never

/** The entry answering a wire name: the action of that name, or the one it is an alias of. */
type EntryOf<TActions, TName> = TName extends keyof TActions
  ? TActions[TName]
  : { [K in keyof TActions]: TName extends AliasesOf<TActions[K]> ? TActions[K] : never }[keyof TActions]

type HandlerOf<TEntry> = TEntry extends (...args: any[]) => unknown ? TEntry : TEntry extends { handler: infer THandler } ? THandler : never

/** The `data` of the reply a result sends, as JSON; `never` for a result that sends none. */
type DataOf<TResult> = TResult extends object ? 'data' extends keyof TResult ? Wire<TResult['data']> : null : never

type ConsumerTypes<TConsumer> = TConsumer extends ConsumerDefinition<any, any, infer TTable, infer TSerializer, infer TObservers>
  ? { table: TTable, serializer: TSerializer, observers: TObservers }
  : { table: unknown, serializer: unknown, observers: ObserverMap }

type RowsOf<TConsumer> = SerializedOf<ConsumerTypes<TConsumer>['serializer'], ConsumerTypes<TConsumer>['table']>

type InputOf<TConsumer> = ConsumerTypes<TConsumer>['serializer'] extends Serializer<any, any, infer TInput> ? TInput : Record<string, unknown>

/**
 * The wire action names of a consumer, aliases included.
 *
 * @example
 * type Names = inferActions<typeof rooms> // 'ping' | 'join' | 'enter'
 */
export type inferActions<TConsumer> = {
  [K in keyof ActionsOf<TConsumer> & string]: K | AliasesOf<ActionsOf<TConsumer>[K]>
}[keyof ActionsOf<TConsumer> & string]

/**
 * The arguments of one action (by wire name): its schema's type, the mixins' `pk` / `data` (from
 * the serializer's input), or any arguments for an action without a schema.
 *
 * @example
 * type JoinArgs = inferArgs<typeof rooms, 'join'> // { room: string }
 */
export type inferArgs<TConsumer, TAction extends inferActions<TConsumer>> =
  EntryOf<ActionsOf<TConsumer>, TAction> extends infer TEntry
    ? [MixinKindOf<TEntry>] extends [never]
        ? TEntry extends { schema?: infer TArgsSchema } ? StaticArgs<TArgsSchema> : ActionArgs
        : MixinArgs<MixinKindOf<TEntry>, InputOf<TConsumer>>
    : never

/**
 * The `data` of one action's reply (by wire name), as it arrives: what a custom handler returns
 * (as JSON: dates as strings), the serializer's output for the mixins (`list` an array of it,
 * `delete` null, paginated and streamed lists a page of it per reply). `never` when the action sends
 * no reply.
 *
 * @example
 * type Created = inferReply<typeof users, 'create'> // { id: number, username: string }
 */
export type inferReply<TConsumer, TAction extends inferActions<TConsumer>> =
  EntryOf<ActionsOf<TConsumer>, TAction> extends infer TEntry
    ? [MixinKindOf<TEntry>] extends [never]
        ? HandlerOf<TEntry> extends (...args: any[]) => infer TReturn ? DataOf<Awaited<TReturn>> : never
        : MixinReply<MixinKindOf<TEntry>, RowsOf<TConsumer>>
    : never

/**
 * The events a subscribing action (by wire name) makes its request id receive after its reply:
 * `subscribe_instance`'s `update` / `delete` of the row, or the events of the observer an
 * `action({ subscribes })` names. `never` for an action that subscribes to nothing.
 *
 * @example
 * type Activity = inferEvents<typeof comments, 'subscribe_to_comment_activity'>
 * // { action: 'create' | 'update' | 'delete', data: { id: number, text: string } }
 */
export type inferEvents<TConsumer, TAction extends inferActions<TConsumer>> =
  EntryOf<ActionsOf<TConsumer>, TAction> extends infer TEntry
    ? [MixinKindOf<TEntry>] extends [never]
        ? TEntry extends { subscribes?: infer TName extends string }
          ? string extends TName ? never : inferObserverEvent<ConsumerTypes<TConsumer>['observers'][TName & keyof ConsumerTypes<TConsumer>['observers']]>
          : never
        : MixinKindOf<TEntry> extends 'subscribe_instance' ? InstanceEvent<RowsOf<TConsumer>> : never
    : never

/** What a `subscribe_instance` subscriber receives: the row after each change, or its key once deleted. */
export type InstanceEvent<TRow> =
  | { action: 'update', data: TRow }
  | { action: 'delete', data: { pk: unknown } }
