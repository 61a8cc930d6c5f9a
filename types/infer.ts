/**
 * The read-back helpers: what a typed client (or a test) reads from a consumer's type — its wire
 * action names, the arguments and the reply of one action, the events of a subscription. Types
 * only, never values.
 */
import type { ActionArgs } from './context.js'
import type { StaticArgs } from './action.js'
import type { ConsumerDefinition, SerializedOf } from './consumer.js'
import type { MixinArgs, MixinKind, MixinReply } from './mixins.js'
import type { inferObserverEvent, ObserverMap } from './observer.js'
import type { Serializer, Wire } from './serializer.js'

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

type ConsumerTypes<TConsumer> = TConsumer extends ConsumerDefinition<any, any, infer TTable, infer TSerializer, infer TObservers, infer TActionSerializer, infer TLookupKwarg>
  ? { table: TTable, serializer: TSerializer, observers: TObservers, actionSerializer: TActionSerializer, lookupKwarg: TLookupKwarg }
  : { table: unknown, serializer: unknown, observers: ObserverMap, actionSerializer: undefined, lookupKwarg: 'pk' }

type RowsOf<TConsumer, TTypes extends ConsumerTypes<TConsumer> = ConsumerTypes<TConsumer>> =
  SerializedOf<TTypes['serializer'], TTypes['table'], TTypes['actionSerializer']>

/** What a serializer accepts; any object for a serializer of unknown input (or none). */
type SerializerInputOf<TSerializer> = TSerializer extends Serializer<any, any, infer TInput> ? TInput : Record<string, unknown>

/** The input of the consumer's serializers: its `serializer`'s, or any of those `getSerializer` answers. */
type InputOf<TConsumer, TTypes extends ConsumerTypes<TConsumer> = ConsumerTypes<TConsumer>> =
  | (undefined extends TTypes['actionSerializer'] ? SerializerInputOf<TTypes['serializer']> : never)
  | (Exclude<TTypes['actionSerializer'], undefined> extends infer TActionSerializer
    ? TActionSerializer extends unknown ? SerializerInputOf<TActionSerializer> : never
    : never)

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
        : MixinArgs<MixinKindOf<TEntry>, InputOf<TConsumer>, ConsumerTypes<TConsumer>['lookupKwarg']>
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
