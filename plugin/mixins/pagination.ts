/**
 * Paginated and streamed lists (DCRF's `PaginatedModelListMixin` and
 * `StreamedPaginatedListMixin`), with DRF's limit/offset pagination.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { and, count } from 'drizzle-orm'
import type { ActionArgs, AnyContext, MixinAction, Page, PaginationOptions, StreamOptions } from '../../types/index.js'
import { genericOf, serializeRows } from '../generic-consumer.js'

/** DRF's `_positive_int`: an integer (a float is truncated, a numeric string read) ≥ 0 (> 0 when strict). */
function positiveInt (value: unknown, strict: boolean): number | null {
  let n: number
  if (typeof value === 'number') n = Math.trunc(value)
  else if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) n = Number(value)
  else return null
  if (!Number.isSafeInteger(n) || n < 0 || (strict && n === 0)) return null
  return n
}

/** The limit and offset of a request, falling back to the defaults on bad values as DRF does. */
function pageOf (args: ActionArgs, options: PaginationOptions): { limit: number, offset: number } {
  const defaultLimit = options.limit ?? 10
  const maxLimit = options.maxLimit ?? 1000
  const limit = Math.min(positiveInt(args.limit, true) ?? defaultLimit, maxLimit)
  const offset = positiveInt(args.offset, false) ?? 0
  return { limit, offset }
}

/** One page of the consumer's list: its rows serialized, and the count of the whole list. */
async function fetchPage (ctx: AnyContext, args: ActionArgs, limit: number, offset: number, action: string): Promise<Page> {
  const generic = genericOf(ctx)
  const where = and(ctx.getQueryset(args), ctx.filterQueryset(args))
  const [rows, [{ total }]] = await Promise.all([
    ctx.db.select().from(generic.table).where(where).orderBy(...generic.order).limit(limit).offset(offset),
    ctx.db.select({ total: count() }).from(generic.table).where(where)
  ])
  return { count: Number(total), results: await serializeRows(ctx, rows, action), limit, offset }
}

/**
 * `list` with limit/offset pagination: `data` = `{count, results, limit, offset}`.
 *
 * @example
 * actions: { ...paginatedList({ limit: 2 }) }
 * // → {"action": "list", "limit": 2, "offset": 4, "request_id": 1}
 */
export function paginatedList (options: PaginationOptions = {}): { list: MixinAction<'paginated_list'> } {
  return {
    list: {
      atomic: options.atomic,
      async handler (ctx, args) {
        const { limit, offset } = pageOf(args, options)
        return { data: await fetchPage(ctx, args, limit, offset, 'list') }
      }
    }
  }
}

/**
 * `list` streamed a page per reply, from the requested offset until `offset + limit >= count`; it
 * runs detached, and stops when the socket closes or on `list_cancel`.
 */
export function streamedList (options: StreamOptions = {}): {
  list: MixinAction<'streamed_list'>
  list_cancel: MixinAction<'list_cancel'>
} {
  const delay = options.delay ?? 0
  return {
    list: {
      detached: true,
      async handler (ctx, args, { action, requestId, signal }) {
        const first = pageOf(args, options)
        const limit = first.limit
        let offset = first.offset
        while (!signal.aborted) {
          const page = await fetchPage(ctx, args, limit, offset, 'list')
          if (signal.aborted) return
          ctx.reply({ action, data: page, status: 200, requestId })
          if (page.offset + page.limit >= page.count) return
          offset += limit
          if (delay > 0) await sleep(delay, undefined, { signal }).catch(() => undefined)
        }
      }
    },
    list_cancel: {
      handler (ctx) {
        ctx.cancelDetached(['list'])
        return { data: null, status: 200 }
      }
    }
  }
}
