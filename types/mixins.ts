/**
 * The public types of DCRF's model mixins: their options (each write's overridable step, typed by
 * the consumer's table when the mixin comes from the consumer's builders), and what they reply.
 * No runtime code lives here; `plugin/mixins/` builds the actions.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ActionDefinition, ActionReturn } from './action.js'
import type { ActionArgs, AnyContext } from './context.js'
import type { ValidatedOf } from './serializer.js'
import type { RowOf } from './table.js'

/** The column values a write receives: validated by the serializer, ready for `insert` / `set`. */
export type ValuesOf<TTable> = TTable extends PgTable ? ValidatedOf<TTable> : Record<string, unknown>

/** Options every mixin takes. */
export interface MixinOptions {
  /** Run the action in a transaction. Default: the plugin's `atomicRequests`. */
  atomic?: boolean
}

export interface CreateOptions<TCtx = AnyContext, TTable = unknown> extends MixinOptions {
  /** Inserts the validated values and returns the new row (DCRF's `perform_create`). */
  performCreate?: (ctx: TCtx, values: ValuesOf<TTable>, args: ActionArgs) => Promise<RowOf<TTable>>
}
export interface UpdateOptions<TCtx = AnyContext, TTable = unknown> extends MixinOptions {
  /** Writes the validated values to the row and returns it (DCRF's `perform_update`). */
  performUpdate?: (ctx: TCtx, row: RowOf<TTable>, values: ValuesOf<TTable>, args: ActionArgs) => Promise<RowOf<TTable>>
}
export interface PatchOptions<TCtx = AnyContext, TTable = unknown> extends MixinOptions {
  /** Writes the validated values to the row and returns it (DCRF's `perform_patch`). */
  performPatch?: (ctx: TCtx, row: RowOf<TTable>, values: ValuesOf<TTable>, args: ActionArgs) => Promise<RowOf<TTable>>
}
export interface DeleteOptions<TCtx = AnyContext, TTable = unknown> extends MixinOptions {
  /** Deletes the row (DCRF's `perform_delete`). */
  performDelete?: (ctx: TCtx, row: RowOf<TTable>, args: ActionArgs) => Promise<void>
}
export interface CrudOptions<TCtx = AnyContext, TTable = unknown>
  extends CreateOptions<TCtx, TTable>, UpdateOptions<TCtx, TTable>, PatchOptions<TCtx, TTable>, DeleteOptions<TCtx, TTable> {}

export interface PaginationOptions {
  /** The page size when the request gives none, or a bad one (DRF's `PAGE_SIZE`). Default 10. */
  limit?: number
  /** The largest page a request may ask for; larger asks are cut to it. Default 1000. */
  maxLimit?: number
  /** Run the action in a transaction. Default: the plugin's `atomicRequests`. */
  atomic?: boolean
}

export interface StreamOptions extends PaginationOptions {
  /** Milliseconds to wait between two pages. Default 0. */
  delay?: number
}

/** A page of a list, in DCRF's key order. */
export interface Page<TRow = unknown> {
  count: number
  results: TRow[]
  limit: number
  offset: number
}

/** What a mixin action is, for its reply and arguments types. */
export type MixinKind =
  | 'list' | 'retrieve' | 'create' | 'update' | 'patch' | 'delete'
  | 'paginated_list' | 'streamed_list' | 'list_cancel'
  | 'subscribe_instance' | 'unsubscribe_instance'

/** An action a mixin made: its reply and arguments follow the consumer's serializer (`inferReply`, `inferArgs`). */
export type MixinAction<TKind extends MixinKind> = ActionDefinition<AnyContext, undefined, ActionReturn, readonly [], never> & {
  /** Types only, never set. */
  readonly '~mixin'?: TKind
}

/** The lookup value of a row in a frame (under `pk`, or the consumer's `lookupKwarg`): a number, or a string. */
export type Lookup = number | string

/** The arguments of a mixin action, the lookup value under the consumer's `lookupKwarg` (default `pk`). */
export type MixinArgs<TKind extends MixinKind, TInput, TLookupKwarg extends string = 'pk'> =
  TKind extends 'list' ? ActionArgs
    : TKind extends 'paginated_list' | 'streamed_list' ? { limit?: number, offset?: number, [key: string]: unknown }
      : TKind extends 'create' ? { data: TInput }
        : TKind extends 'update' ? { [K in TLookupKwarg | 'data']: K extends 'data' ? TInput : Lookup }
          : TKind extends 'patch' ? { [K in TLookupKwarg | 'data']: K extends 'data' ? Partial<TInput> : Lookup }
            : TKind extends 'retrieve' | 'delete' | 'subscribe_instance' | 'unsubscribe_instance' ? { [K in TLookupKwarg]: Lookup }
              : Record<never, never>

/** The `data` of a mixin action's reply, from the consumer's serialized row. */
export type MixinReply<TKind extends MixinKind, TRow> =
  TKind extends 'list' ? TRow[]
    : TKind extends 'retrieve' | 'create' | 'update' | 'patch' ? TRow
      : TKind extends 'paginated_list' | 'streamed_list' ? Page<TRow>
        : null

/** The six model actions `crud()` gives (a type, not an interface: an action map has an index signature). */
export type CrudActions = {
  list: MixinAction<'list'>
  retrieve: MixinAction<'retrieve'>
  create: MixinAction<'create'>
  update: MixinAction<'update'>
  patch: MixinAction<'patch'>
  delete: MixinAction<'delete'>
}

/**
 * The mixins, as exported (`TCtx`, `TTable` of any consumer) or as a consumer's builders hand them
 * out (typed by that consumer: `performCreate(ctx, values)` gets its context and column values).
 */
export interface Mixins<TCtx = AnyContext, TTable = unknown> {
  /** `list`: every row of the queryset, filtered and ordered (200, `data` = array). */
  list: (options?: MixinOptions) => { list: MixinAction<'list'> }
  /** `retrieve`: the row of `pk` (200), or 404. */
  retrieve: (options?: MixinOptions) => { retrieve: MixinAction<'retrieve'> }
  /** `create`: validates `data`, inserts it (201, `data` = the new row). */
  create: (options?: CreateOptions<TCtx, TTable>) => { create: MixinAction<'create'> }
  /** `update`: validates the whole `data` and writes it to the row of `pk` (200). */
  update: (options?: UpdateOptions<TCtx, TTable>) => { update: MixinAction<'update'> }
  /** `patch`: validates the fields given in `data` and writes them to the row of `pk` (200). */
  patch: (options?: PatchOptions<TCtx, TTable>) => { patch: MixinAction<'patch'> }
  /** `delete`: deletes the row of `pk` (204, `data` = null). */
  delete: (options?: DeleteOptions<TCtx, TTable>) => { delete: MixinAction<'delete'> }
  /** All six model actions: `list`, `retrieve`, `create`, `update`, `patch`, `delete`. */
  crud: (options?: CrudOptions<TCtx, TTable>) => CrudActions
  /** `list` with limit/offset pagination: `data` = `{count, results, limit, offset}`. */
  paginatedList: (options?: PaginationOptions) => { list: MixinAction<'paginated_list'> }
  /** `list` streamed a page per reply, and `list_cancel`. */
  streamedList: (options?: StreamOptions) => { list: MixinAction<'streamed_list'>, list_cancel: MixinAction<'list_cancel'> }
  /** `subscribe_instance` and `unsubscribe_instance`. */
  instanceSubscriptions: () => {
    subscribe_instance: MixinAction<'subscribe_instance'>
    unsubscribe_instance: MixinAction<'unsubscribe_instance'>
  }
}
