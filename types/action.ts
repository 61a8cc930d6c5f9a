/**
 * The public types of actions: handlers, definitions with options, what they return, and the
 * check that closes their results. No runtime code lives here; `plugin/consumer.ts` compiles them
 * and `plugin/dispatch.ts` runs them.
 */
import type { Static, TSchema } from '@sinclair/typebox'
import type { ActionArgs, AnyContext } from './context.js'
import type { Permission } from './permission.js'

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

/** An action's options: everything of its definition but the handler. */
export interface ActionOptions<
  TCtx = AnyContext,
  TArgsSchema extends TSchema | undefined = TSchema | undefined,
  TAliases extends readonly string[] = readonly string[],
  TSubscribes extends string = string
> {
  /** TypeBox schema of the arguments; invalid arguments are answered 400 with DRF-shaped field errors. */
  schema?: TArgsSchema
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
> extends ActionOptions<TCtx, TArgsSchema, TAliases, TSubscribes> {
  handler: ActionHandler<TCtx, StaticArgs<TArgsSchema>, TReturn>
}

/**
 * What a consumer's `action()` accepts: a definition whose handler's result has no key beyond
 * `data` and `status` (`{ data, statsu: 201 }` is an error at `statsu`). `TResult` is inferred
 * back through the mapped type.
 */
export interface ActionInput<
  TCtx,
  TArgsSchema extends TSchema | undefined,
  TResult,
  TAliases extends readonly string[],
  TSubscribes extends string
> extends ActionOptions<TCtx, TArgsSchema, TAliases, TSubscribes> {
  handler: ActionHandler<TCtx, StaticArgs<TArgsSchema>, ClosedReturn<TResult>>
}

/** An entry of a consumer's `actions`: a bare handler or a definition. */
export type ActionEntry<TCtx = AnyContext> =
  | ActionHandler<TCtx, ActionArgs, ActionReturn>
  | ActionDefinition<TCtx, any, ActionReturn, readonly string[], string>

/** A consumer's actions, by wire name. */
export type ActionMap<TCtx = AnyContext> = Record<string, ActionEntry<TCtx>>

/** The error an action's result with an unknown key meets. */
export type ResultKeyError = 'an action returns { data, status } or nothing'

/** An object type whose keys beyond `data` and `status` are errors (homomorphic: it infers `TResult` back). */
export type ClosedKeys<TResult> = { [K in keyof TResult]: K extends 'data' | 'status' ? TResult[K] : ResultKeyError }

/** What a handler checked by `ClosedKeys` may return: a closed result, or nothing. */
export type ClosedReturn<TResult> = ClosedKeys<TResult> | undefined | void

/** A result type whose keys beyond `data` and `status` are errors. */
export type ClosedResult<TResult> = TResult extends object
  ? { [K in keyof TResult]: K extends 'data' | 'status' ? TResult[K] : ResultKeyError }
  : TResult extends undefined | null | void ? TResult : ResultKeyError

type ClosedHandler<THandler> = THandler extends (...args: infer TArgs) => infer TReturn
  ? (...args: TArgs) => ClosedResult<Awaited<TReturn>> | Promise<ClosedResult<Awaited<TReturn>>>
  : THandler

/** The actions of a definition with their results closed: `{ data, statsu: 201 }` does not compile. */
export type ClosedActions<TActions> = string extends keyof TActions ? unknown : {
  [K in keyof TActions]: TActions[K] extends { handler: infer THandler } ? { handler: ClosedHandler<THandler> } : ClosedHandler<TActions[K]>
}
