/**
 * The public types of consumer definitions: DCRF's consumer class as a plain object, its settings,
 * and the builders it hands to `actions` and `observers`. No runtime code lives here;
 * `plugin/consumer.ts` defines the values.
 *
 * One definition fixes four types — its `state`, `table`, `serializer` and `observers` — and they
 * reach every place that receives a context, as `ConsumerContext<TState, TTable, TSerialized,
 * TObservers>`.
 */
import type { TSchema } from '@sinclair/typebox'
import type { SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { ActionDefinition, ActionInput, ActionMap, ActionReturn, ClosedActions, ClosedReturn } from './action.js'
import type { ActionArgs, AnyContext, ConsumerContext, ConsumerState, GroupMessage, SerializerLike } from './context.js'
import type { Mixins } from './mixins.js'
import type { ObserverBuilders, ObserverMap } from './observer.js'
import type { Permission } from './permission.js'
import type { Serializer, Wire } from './serializer.js'
import type { ColumnKey, RowOf } from './table.js'

/** A serializer a consumer of `TTable` may use: one of that table (or none). */
export type SerializerOf<TTable> = (SerializerLike<RowOf<TTable>> & { readonly table?: TTable }) | undefined

/** What a serializer outputs; `never` for none. */
type OutputOf<TSerializer> =
  TSerializer extends Serializer<any, infer TOutput, any> ? TOutput
    : TSerializer extends SerializerLike<any, infer TOutput> ? Awaited<TOutput>
      : never

/**
 * The rows of a consumer as they go on the wire: its serializer's output, or every column of its
 * table (as JSON) when it has none; with a `getSerializer` (whose serializers are
 * `TActionSerializer`), any of their outputs, and the default's when it may answer `undefined`.
 *
 * @example
 * type User = SerializedOf<typeof userSerializer, typeof users> // { id: number, username: string }
 */
export type SerializedOf<TSerializer, TTable, TActionSerializer = undefined> =
  | (undefined extends TActionSerializer
    ? [TSerializer] extends [undefined] ? TTable extends PgTable ? Wire<RowOf<TTable>> : unknown : OutputOf<TSerializer>
    : never)
  | OutputOf<Exclude<TActionSerializer, undefined>>

/** The context a definition of this state, table, serializers and observers hands out. */
export type ContextOf<TState extends object, TTable, TSerializer, TObservers, TActionSerializer = undefined> =
  ConsumerContext<TState, TTable, SerializedOf<TSerializer, TTable, TActionSerializer>, TObservers>

/** Handles a group message on each member connection, in its queue. */
export type GroupHandler<TCtx = AnyContext> = (ctx: TCtx, message: GroupMessage) => void | Promise<void>

/** How an action name and its arguments are read from a frame (DCRF's `get_action_name`). */
export type GetActionName = (frame: Record<string, unknown>) => { action: unknown, args: ActionArgs }

/**
 * Everything of a consumer definition but its actions and observers, typed by its context:
 * `TActionSerializer` is what `getSerializer` answers (its own `ctx`, `TChooserCtx`, serializes
 * with `serializer` alone: it is what the rest of the context's types wait for), `TLookupKwarg`
 * the frame field of lookups.
 */
export interface ConsumerSettings<
  TState extends object,
  TTable,
  TSerializer,
  TCtx,
  TActionSerializer = SerializerLike | undefined,
  TLookupKwarg extends string = string,
  TChooserCtx = TCtx
> {
  /** The table of a generic consumer: its queryset (DCRF's `queryset`). */
  table?: TTable
  /** Serializes its rows and validates input; must be of `table`. Default: every column of `table`. */
  serializer?: TSerializer
  /**
   * A serializer per action (DCRF's `get_serializer_class`); falls back to `serializer`. What it
   * answers types `ctx.serialize()`: put it right after `serializer` (TypeScript infers in order).
   */
  getSerializer?: (ctx: TChooserCtx, action: string) => TActionSerializer
  /** Additions to the serializer context (DCRF's `get_serializer_context`). */
  serializerContext?: (ctx: TCtx) => Record<string, unknown>
  /** Narrows the rows per connection and request (DCRF's `get_queryset`), e.g. to the user's own. */
  queryset?: (ctx: TCtx, args: ActionArgs) => SQL | undefined
  /** Filters lists further from the action's arguments (DCRF's `filter_queryset`). */
  filterQueryset?: (ctx: TCtx, args: ActionArgs) => SQL | undefined
  /** The column looked up by `getObject` (DCRF's `lookup_field`). Default: the primary key. */
  lookupField?: ColumnKey<TTable>
  /** The argument holding the lookup value (DCRF's `lookup_url_kwarg`). Default: `"pk"`. */
  lookupKwarg?: TLookupKwarg
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
  TObservers = ObserverMap,
  TActionSerializer = any,
  TLookupKwarg extends string = string
> extends ConsumerSettings<TState, TTable, TSerializer, ContextOf<TState, TTable, TSerializer, TObservers, TActionSerializer>, TActionSerializer, TLookupKwarg> {
  /** The actions, by wire name. */
  actions: TActions
  /** Observers of this consumer, by name: `ctx.observer(name).subscribe(...)`. */
  observers?: TObservers
}

/** A consumer of any state and actions. */
export type AnyConsumer = ConsumerDefinition<any, ActionMap<any>, any, any, ObserverMap, any, string>

/** What `actions: (b) => ({ … })` receives: `action` and the mixins, typed by the consumer. */
export interface ActionBuilders<TCtx, TTable, TObservers> extends Mixins<TCtx, TTable> {
  /**
   * `action({ schema, handler })` with the consumer's context: the handler's arguments come from
   * `schema`, its `ctx` is this consumer's, its reply is the `data` it returns.
   */
  action: <
    TArgsSchema extends TSchema | undefined = undefined,
    TReturn extends ActionReturn = void,
    const TAliases extends readonly string[] = readonly [],
    const TSubscribes extends keyof TObservers & string = never
  >(definition: ActionInput<TCtx, TArgsSchema, TReturn, TAliases, TSubscribes>) => ActionDefinition<TCtx, TArgsSchema, ClosedReturn<TReturn>, TAliases, TSubscribes>
  /** The mixins by their DCRF names, typed by the consumer (`mixins.create({ performCreate })`). */
  mixins: Mixins<TCtx, TTable>
}

/**
 * What `defineConsumer()` accepts: a definition, whose `actions` and `observers` may be built from
 * typed builders. The hooks' contexts (`onConnect`, permissions, querysets…) do not check observer
 * names, so that the observers' type is free to be inferred after them; actions' contexts do.
 */
export interface ConsumerInput<TState extends object, TActions, TTable, TSerializer, TObservers, TActionSerializer, TLookupKwarg extends string>
  extends ConsumerSettings<
    TState, TTable, TSerializer, NoInfer<ContextOf<TState, TTable, TSerializer, ObserverMap, TActionSerializer>>, TActionSerializer, TLookupKwarg,
    NoInfer<ContextOf<TState, TTable, TSerializer, ObserverMap>>
  > {
  /**
   * The observers by name, or a function building them from `modelObserver` and `observer` typed
   * by this consumer (their `groupsForConsumer` and `handle` get its context, with observer names
   * unchecked there: the observers are being defined). Before `actions`.
   */
  observers?: TObservers | ((builders: ObserverBuilders<ContextOf<TState, TTable, TSerializer, ObserverMap, TActionSerializer>>) => TObservers)
  /**
   * The actions by wire name, or a function building them from `action` and the mixins typed by
   * this consumer: `actions: ({ action, crud }) => ({ ...crud(), custom: action({ … }) })`.
   */
  actions: TActions | ((builders: ActionBuilders<ContextOf<TState, TTable, TSerializer, TObservers, TActionSerializer>, TTable, TObservers>) => TActions)
}

/**
 * `defineConsumer(definition)`: a definition typed from its own parts — `state`, `table`,
 * `serializer`, what `getSerializer` answers, `observers` and `lookupKwarg` — every context it
 * hands out typed by them (see the README's TypeScript section). Nothing is inferred from where
 * the result goes (`NoInfer`): inside `defineStreams({ … })` it is typed the same.
 */
export interface DefineConsumer {
  <
    TState extends object = Record<never, never>,
    TTable = undefined,
    TSerializer extends SerializerOf<TTable> = undefined,
    TActionSerializer extends SerializerOf<TTable> = undefined,
    TObservers extends ObserverMap = Record<never, never>,
    const TLookupKwarg extends string = 'pk',
    const TActions extends ActionMap<ContextOf<TState, TTable, TSerializer, TObservers, TActionSerializer>> = ActionMap<ContextOf<TState, TTable, TSerializer, TObservers, TActionSerializer>>
  > (
    definition: ConsumerInput<TState, TActions, TTable, TSerializer, TObservers, TActionSerializer, TLookupKwarg> & {
      actions: ClosedActions<TActions> | ((builders: ActionBuilders<ContextOf<TState, TTable, TSerializer, TObservers, TActionSerializer>, TTable, TObservers>) => ClosedActions<TActions>)
    }
  ): NoInfer<ConsumerDefinition<TState, TActions, TTable, TSerializer, TObservers, TActionSerializer, TLookupKwarg>>
}
