/**
 * The public types of observers: DCRF's `@model_observer` and `@observer`, and what their
 * subscribers receive. No runtime code lives here; `plugin/observer/define.ts` builds the values.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ActionArgs, AnyContext } from './context.js'
import type { RowOf } from './table.js'

/** The kind of change a model observer reports. */
export type ObservedAction = 'create' | 'update' | 'delete'

/**
 * The payloads of application events, by signal name, for `observer(signal)` and
 * `app.dcrf.signal(signal, payload)`. Declare yours by declaration merging; an undeclared signal's
 * payload is `unknown`.
 *
 * @example
 * declare module 'fastify-dcrf' {
 *   interface DcrfSignals { user_logged_in: { id: number, username: string } }
 * }
 */
export interface DcrfSignals {}

/** The payload of a signal: as declared in `DcrfSignals`, else `unknown`. */
export type SignalPayload<TSignal extends string> = TSignal extends keyof DcrfSignals ? DcrfSignals[TSignal] : unknown

/**
 * What an observer's handler receives beside the message. A custom `handle` declares what it sends
 * each subscribing request id by typing this parameter: `delivery: ObserverDelivery<MyEvent>`.
 */
export interface ObserverDelivery<TEvent = unknown> {
  /** `create`, `update` or `delete` for model observers (after group moves); the signal name for signal observers. */
  action: string
  /** The request ids that subscribed to the group the message came through, verbatim. */
  requestIds: unknown[]
  /** The group (as `groupsForSignal` named it) the message came through. */
  group: string
  /** Types only, never set: what the handle sends each subscribing request id (`inferEvents` reads it). */
  readonly '~event'?: TEvent
}

/**
 * Handles an observed message on each subscribed connection, in its queue. `TEvent` is what it
 * sends each subscribing request id, as its `delivery` parameter declares it; `THandled` what it
 * returns (nothing), for types only: whether a custom handle was given.
 */
export type ObserverHandler<TMessage = unknown, TCtx = AnyContext, TEvent = any, THandled = void> = (
  ctx: TCtx,
  message: TMessage,
  delivery: ObserverDelivery<TEvent>
) => THandled | Promise<THandled>

/**
 * What the subscribers of an observer receive: with the default `handle` (none given: `THandled`
 * never), one `{ action, data: message }` per change; with a custom one, what its `delivery`
 * parameter declares it sends (`ObserverDelivery<MyEvent>`), else `unknown`: its frames are its own.
 */
export type HandledEvent<THandled, TEvent, TAction extends string, TMessage> = [THandled] extends [never]
  ? ObserverEvent<TAction, TMessage>
  : 0 extends (1 & TEvent) ? unknown : TEvent

interface ObserverOptionsBase<TMessage, TCtx, TEvent, THandled> {
  /** Groups a subscriber joins, from its subscribe arguments and connection. Default: the observer's one group. */
  groupsForConsumer?: (ctx: TCtx, args: ActionArgs) => Iterable<string>
  /**
   * Sends the message to a subscriber. Default: one reply per subscribing request id, with
   * `action` = the delivery's action, `data` = the message, status 200.
   */
  handle?: ObserverHandler<TMessage, TCtx, TEvent, THandled>
}

/** Options of `modelObserver(table, options)` (DCRF's `@model_observer`). */
export interface ModelObserverOptions<TTable = any, TMessage = unknown, TCtx = AnyContext, TEvent = any, THandled = void>
  extends ObserverOptionsBase<TMessage, TCtx, TEvent, THandled> {
  /**
   * Turns the changed row into the message, once per change, in the process that made it (DCRF's
   * `@observer.serializer`): no access to any subscriber. Default: `{ pk }`. Must return JSON.
   */
  serialize?: (row: RowOf<TTable>, action: ObservedAction) => TMessage | Promise<TMessage>
  /** Groups a changed row is sent to, from the row alone (no queries). Default: the observer's one group. */
  groupsForSignal?: (row: RowOf<TTable>) => Iterable<string>
}

/** Options of `observer(signal, options)` (DCRF's `@observer` on any signal). */
export interface SignalObserverOptions<TPayload = unknown, TMessage = unknown, TCtx = AnyContext, TEvent = any, THandled = void>
  extends ObserverOptionsBase<TMessage, TCtx, TEvent, THandled> {
  /** Turns the payload into the message, once per emit. Default: the payload. Must return JSON. */
  serialize?: (payload: TPayload) => TMessage | Promise<TMessage>
  /** Groups the payload is sent to. Default: the observer's one group. */
  groupsForSignal?: (payload: TPayload) => Iterable<string>
}

/**
 * What a subscriber of an observer receives with the default `handle`: one reply frame per
 * subscribing request id, `action` the change (or the signal name), `data` the message.
 */
export interface ObserverEvent<TAction extends string = string, TMessage = unknown> {
  action: TAction
  data: TMessage
}

/**
 * An observer, built by `modelObserver()` or `observer()`. `TEvent` is what its subscribers
 * receive (`inferEvents` reads it back).
 */
export type ObserverDefinition<TEvent = unknown> =
  ({ kind: 'model', table: PgTable, options: ModelObserverOptions<any, any, any> } |
    { kind: 'signal', signal: string, options: SignalObserverOptions<any, any, any> }) &
  { /** Types only, never set. */ readonly '~event'?: TEvent }

/** A consumer's observers, by name. */
export type ObserverMap = Record<string, ObserverDefinition<unknown>>

/** The event type of an observer. */
export type inferObserverEvent<TObserver> = TObserver extends { readonly '~event'?: infer TEvent } ? TEvent : never

/** The observer builders a consumer hands to `observers: ({ modelObserver, observer }) => ({ … })`, typed by that consumer. */
export interface ObserverBuilders<TCtx> {
  /** `modelObserver(table, options)`, its `groupsForConsumer` and `handle` typed by the consumer. */
  modelObserver: ModelObserverBuilder<TCtx>
  /** `observer(signal, options)`, its `groupsForConsumer` and `handle` typed by the consumer. */
  observer: SignalObserverBuilder<TCtx>
}

/**
 * `modelObserver(table, options)`: rows of the table; subscribers receive `{ action, data }` of
 * `serialize`'s message, or what a custom `handle` declares it sends (`HandledEvent`: `TEvent` from
 * its `delivery` parameter, `THandled` from its return, which tells that it was given).
 */
export interface ModelObserverBuilder<TCtx = AnyContext> {
  <TTable extends PgTable, TMessage = { pk: unknown }, TEvent = unknown, THandled = never>(
    table: TTable,
    options?: ModelObserverOptions<TTable, TMessage, TCtx, TEvent, THandled>
  ): ObserverDefinition<HandledEvent<THandled, TEvent, ObservedAction, TMessage>>
}

/**
 * `observer(signal, options)`: the payload is what `DcrfSignals` declares for the signal, or the
 * first type argument (`observer<User>('user_logged_in', …)`), or `unknown`.
 */
export interface SignalObserverBuilder<TCtx = AnyContext> {
  <TSignal extends keyof DcrfSignals & string, TMessage = DcrfSignals[TSignal], TEvent = unknown, THandled = never>(
    signal: TSignal,
    options?: SignalObserverOptions<DcrfSignals[TSignal], TMessage, TCtx, TEvent, THandled>
  ): ObserverDefinition<HandledEvent<THandled, TEvent, TSignal, TMessage>>
  <TPayload = unknown, TMessage = unknown, const TSignal extends string = string, TEvent = unknown, THandled = never>(
    signal: TSignal,
    options?: SignalObserverOptions<TPayload, TMessage, TCtx, TEvent, THandled>
  ): ObserverDefinition<HandledEvent<THandled, TEvent, TSignal, TMessage>>
}
