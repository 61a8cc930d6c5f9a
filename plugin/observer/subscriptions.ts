/**
 * A connection's subscriptions: to observers (by group, with the request ids that subscribed) and
 * to single rows (DCRF's `ObserverModelInstanceMixin`), and the delivery of their messages in the
 * connection's queue.
 */
import { and, eq } from 'drizzle-orm'
import type { ActionArgs, ConsumerContext, ObserverSubscription, Permission } from '../../types/index.js'
import type { CompiledConsumer } from '../consumer.js'
import { errors } from '../errors.js'
import { genericOf } from '../generic.js'
import { checkAll } from '../permissions.js'
import { encodeRawReply } from '../protocol.js'
import { toJson } from '../serializer-fields.js'
import { ALL, instanceGroup, observerGroup, type InstanceMessage, type ObserverHub, type ObserverMessage } from './hub.js'

/** Request ids keyed by their JSON, so that ids of any JSON type compare by value. */
type RequestIds = Map<string, unknown>

interface InstanceSubscription {
  /** The lookup value the client subscribed with: the `pk` of delete events, in its JSON type. */
  lookup: unknown
  /** The row's primary key. */
  pk: unknown
  requestIds: RequestIds
}

/** Per message and process: the re-read of the row per distinct queryset, shared by subscribers. */
const rereads = new WeakMap<InstanceMessage, Map<string, Promise<Record<string, unknown> | undefined>>>()

/** The connection the subscriptions belong to. */
export interface SubscriptionsHost extends ConsumerContext<any, any> {
  readonly consumer: CompiledConsumer
  /** Sends an already serialized frame. */
  sendText (text: string): void
}

export class Subscriptions {
  #ctx: SubscriptionsHost
  #hub: ObserverHub
  #defaultPermissions: readonly Permission[]
  /** Observer channel groups → the request ids subscribed through them. */
  #observed = new Map<string, RequestIds>()
  /** Instance channel groups → the subscription. */
  #instances = new Map<string, InstanceSubscription>()

  #max: number

  constructor (ctx: SubscriptionsHost, hub: ObserverHub, defaultPermissions: readonly Permission[], maxSubscriptions: number) {
    this.#ctx = ctx
    this.#hub = hub
    this.#defaultPermissions = defaultPermissions
    this.#max = maxSubscriptions
  }

  /** Refuses a subscription past the connection's limit (a request id already counted is free). */
  #admit (ids: RequestIds | undefined, key: string): void {
    if (ids?.has(key) === true) return
    if (this.size >= this.#max) throw new errors.DCRF_ERR_TOO_MANY_SUBSCRIPTIONS(this.#max)
  }

  /** How many subscriptions (request ids per group) the connection holds. */
  get size (): number {
    let size = 0
    for (const ids of this.#observed.values()) size += ids.size
    for (const instance of this.#instances.values()) size += instance.requestIds.size
    return size
  }

  observer (name: string): ObserverSubscription {
    const definition = this.#ctx.consumer.definition.observers?.[name]
    const id = definition === undefined ? undefined : this.#hub.idOf(definition)
    if (definition === undefined || id === undefined) throw new errors.DCRF_ERR_UNKNOWN_OBSERVER(name)
    const groupsOf = (args: ActionArgs): string[] => [...(definition.options.groupsForConsumer?.(this.#ctx, args) ?? [ALL])]
    return {
      subscribe: async ({ requestId, ...args } = {}) => {
        const groups = groupsOf(args)
        const key = JSON.stringify(requestId ?? null)
        for (const group of groups) {
          const channelGroup = observerGroup(id, group)
          let ids = this.#observed.get(channelGroup)
          this.#admit(ids, key)
          if (ids === undefined) {
            ids = new Map()
            this.#observed.set(channelGroup, ids)
          }
          ids.set(key, requestId ?? null)
          await this.#ctx.addGroup(channelGroup)
        }
        return groups
      },
      unsubscribe: async ({ requestId, ...args } = {}) => {
        const groups = groupsOf(args)
        for (const group of groups) {
          const channelGroup = observerGroup(id, group)
          const ids = this.#observed.get(channelGroup)
          if (ids === undefined) continue
          if (requestId === undefined) ids.clear()
          else ids.delete(JSON.stringify(requestId))
          if (ids.size === 0) {
            this.#observed.delete(channelGroup)
            await this.#ctx.removeGroup(channelGroup)
          }
        }
        return groups
      }
    }
  }

  /** Subscribes `requestId` to the changes of `row`, found by the client's `lookup` value. */
  async subscribeInstance (row: Record<string, unknown>, lookup: unknown, requestId: unknown): Promise<void> {
    const generic = genericOf(this.#ctx)
    const pk = toJson(row[generic.pkKey])
    const channelGroup = instanceGroup(generic.tableName, pk)
    let subscription = this.#instances.get(channelGroup)
    this.#admit(subscription?.requestIds, JSON.stringify(requestId))
    if (subscription === undefined) {
      subscription = { lookup, pk: row[generic.pkKey], requestIds: new Map() }
      this.#instances.set(channelGroup, subscription)
    }
    subscription.requestIds.set(JSON.stringify(requestId), requestId)
    await this.#ctx.addGroup(channelGroup)
  }

  /**
   * Stops the subscriptions of the row the client named by `lookup`: only `requestId`'s when
   * given, else all of them. The last one leaving leaves the group.
   */
  async unsubscribeInstance (lookup: unknown, requestId: unknown): Promise<void> {
    const key = JSON.stringify(lookup)
    for (const [channelGroup, subscription] of this.#instances) {
      if (JSON.stringify(subscription.lookup) !== key && JSON.stringify(toJson(subscription.pk)) !== key) continue
      if (requestId === null || requestId === undefined) subscription.requestIds.clear()
      else subscription.requestIds.delete(JSON.stringify(requestId))
      if (subscription.requestIds.size === 0) {
        this.#instances.delete(channelGroup)
        await this.#ctx.removeGroup(channelGroup)
      }
    }
  }

  /** Forgets everything; the connection leaves its groups itself. */
  clear (): void {
    this.#observed.clear()
    this.#instances.clear()
  }

  /** Handles an observer message in the connection's queue. */
  async deliverObserver (message: ObserverMessage): Promise<void> {
    const ids = this.#observed.get(observerGroup(message.observer, message.group))
    if (ids === undefined || ids.size === 0) return
    const definition = Object.values(this.#ctx.consumer.definition.observers ?? {}).find((d) => this.#hub.idOf(d) === message.observer)
    if (definition === undefined) return
    const delivery = { action: message.action, requestIds: [...ids.values()], group: message.group }
    if (definition.options.handle !== undefined) {
      await definition.options.handle(this.#ctx, message.data, delivery)
      return
    }
    // One frame per subscribing request id; the data is serialized once for all of them.
    const data = JSON.stringify(message.data ?? null)
    for (const requestId of delivery.requestIds) this.#ctx.sendText(encodeRawReply(message.action, data, 200, requestId))
  }

  /**
   * Handles an instance message: the row is re-read through this consumer's queryset (once per
   * process per distinct queryset) and serialized; a row the subscriber can no longer see is a
   * delete for it, and an event its permissions deny is not sent at all.
   */
  async deliverInstance (message: InstanceMessage, channelGroup: string): Promise<void> {
    const subscription = this.#instances.get(channelGroup)
    if (subscription === undefined || subscription.requestIds.size === 0) return
    const ctx = this.#ctx
    const args = { pk: subscription.lookup }
    const permissions = ctx.consumer.permissions ?? this.#defaultPermissions
    if (!await checkAll(permissions, 'hasPermission', ctx, 'retrieve', args)) return
    let row: Record<string, unknown> | undefined
    if (message.action === 'update') row = await this.#reread(message, subscription)
    const requestIds = [...subscription.requestIds.values()]
    if (row === undefined) {
      const data = JSON.stringify({ pk: subscription.lookup })
      for (const requestId of requestIds) ctx.sendText(encodeRawReply('delete', data, 204, requestId))
      return
    }
    const data = JSON.stringify(await ctx.serialize(row, 'retrieve') ?? null)
    for (const requestId of requestIds) ctx.sendText(encodeRawReply('update', data, 200, requestId))
  }

  #reread (message: InstanceMessage, subscription: InstanceSubscription): Promise<Record<string, unknown> | undefined> {
    const ctx = this.#ctx
    const generic = genericOf(ctx)
    const queryset = ctx.getQueryset({ pk: subscription.lookup })
    const where = and(eq(generic.pkColumn, subscription.pk), queryset)
    const db = ctx.db as unknown as { dialect: { sqlToQuery: (sql: unknown) => { sql: string, params: unknown[] } } }
    const rendered = where === undefined ? '' : db.dialect.sqlToQuery(where)
    const key = JSON.stringify([generic.tableName, rendered], (_k, v) => typeof v === 'bigint' ? v.toString() : v)
    let cache = rereads.get(message)
    if (cache === undefined) {
      cache = new Map()
      rereads.set(message, cache)
    }
    let read = cache.get(key)
    if (read === undefined) {
      read = ctx.db.select().from(generic.table).where(where).limit(1).then((rows: Array<Record<string, unknown>>) => rows[0])
      cache.set(key, read)
    }
    return read
  }
}
