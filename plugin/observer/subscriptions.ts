/**
 * A connection's subscriptions: to observers (by group, with the request ids that subscribed) and
 * to single rows (DCRF's `ObserverModelInstanceMixin`). Their messages are delivered by
 * `./delivery.ts`.
 */
import type { ActionArgs, ObserverSubscription, Permission } from '../../types/index.js'
import { errors } from '../errors.js'
import { genericOf } from '../generic-consumer.js'
import { toJson } from '../serializer-fields.js'
import { publishSubscriptions, subscription as subscriptionChannel } from '../diagnostics.js'
import {
  deliverInstance,
  deliverObserver,
  prefetchInstance,
  type DeliveryCache,
  type InstanceSubscription,
  type RequestIds,
  type SubscriptionsHost
} from './delivery.js'
import { ALL, instanceGroup, observerGroup, type InstanceMessage, type ObserverHub, type ObserverMessage } from './hub.js'

/** One connection's subscriptions, made on its first one. */
export class Subscriptions {
  #ctx: SubscriptionsHost
  #hub: ObserverHub
  #cache: DeliveryCache
  #defaultPermissions: readonly Permission[]
  /** Observer channel groups → the request ids subscribed through them. */
  #observed = new Map<string, RequestIds>()
  /** Instance channel groups → the subscription. */
  #instances = new Map<string, InstanceSubscription>()
  #max: number

  constructor (ctx: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, defaultPermissions: readonly Permission[], maxSubscriptions: number) {
    this.#ctx = ctx
    this.#hub = hub
    this.#cache = cache
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

  /** Subscribing to and unsubscribing from one of the consumer's observers (`ctx.observer(name)`). */
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
          if (subscriptionChannel.hasSubscribers && !ids.has(key)) publishSubscriptions(this.#ctx, 1)
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
          const had = ids.size
          if (requestId === undefined) ids.clear()
          else ids.delete(JSON.stringify(requestId))
          if (subscriptionChannel.hasSubscribers) publishSubscriptions(this.#ctx, ids.size - had)
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
    if (subscriptionChannel.hasSubscribers && !subscription.requestIds.has(JSON.stringify(requestId))) publishSubscriptions(this.#ctx, 1)
    subscription.requestIds.set(JSON.stringify(requestId), requestId)
    await this.#ctx.addGroup(channelGroup)
  }

  /** Stops the subscriptions of the row named by `lookup`: `requestId`'s, or all without one. */
  async unsubscribeInstance (lookup: unknown, requestId: unknown): Promise<void> {
    const key = JSON.stringify(lookup)
    for (const [channelGroup, subscription] of this.#instances) {
      if (JSON.stringify(subscription.lookup) !== key && JSON.stringify(toJson(subscription.pk)) !== key) continue
      const had = subscription.requestIds.size
      if (requestId === null || requestId === undefined) subscription.requestIds.clear()
      else subscription.requestIds.delete(JSON.stringify(requestId))
      if (subscriptionChannel.hasSubscribers) publishSubscriptions(this.#ctx, subscription.requestIds.size - had)
      if (subscription.requestIds.size === 0) {
        this.#instances.delete(channelGroup)
        await this.#ctx.removeGroup(channelGroup)
      }
    }
  }

  /** Forgets everything; the connection leaves its groups itself. */
  clear (): void {
    if (subscriptionChannel.hasSubscribers) publishSubscriptions(this.#ctx, -this.size)
    this.#observed.clear()
    this.#instances.clear()
  }

  /** Handles an observer message in the connection's queue; returns a promise only when `handle` does. */
  deliverObserver (message: ObserverMessage): unknown {
    const ids = this.#observed.get(observerGroup(message.observer, message.group))
    if (ids === undefined || ids.size === 0) return
    return deliverObserver(this.#ctx, this.#hub, this.#cache, message, ids)
  }

  /** Handles an instance message in the connection's queue; returns a promise only when it has to wait. */
  deliverInstance (message: InstanceMessage, channelGroup: string): Promise<void> | undefined {
    const subscription = this.#instances.get(channelGroup)
    if (subscription === undefined || subscription.requestIds.size === 0) return
    return deliverInstance(this.#ctx, this.#hub, this.#cache, this.#defaultPermissions, message, subscription)
  }

  /** Starts the re-read of an update as it reaches the connection, while its queue is busy. */
  prefetchInstance (message: InstanceMessage, channelGroup: string): void {
    const subscription = this.#instances.get(channelGroup)
    if (subscription === undefined || subscription.requestIds.size === 0) return
    prefetchInstance(this.#ctx, this.#hub, this.#cache, message, subscription)
  }
}
