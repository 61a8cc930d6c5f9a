/**
 * A connection's subscriptions: to observers (by group, with the request ids that subscribed) and
 * to single rows (DCRF's `ObserverModelInstanceMixin`), and the delivery of their messages in the
 * connection's queue.
 */
import { and, eq, type SQL } from 'drizzle-orm'
import type { ActionArgs, ConsumerContext, ObserverSubscription, Permission, SerializerLike } from '../../types/index.js'
import type { CompiledConsumer } from '../consumer.js'
import { errors } from '../errors.js'
import { genericOf, selectOne } from '../generic-consumer.js'
import { checkAll } from '../permissions.js'
import { rawReplyPrefix } from '../protocol.js'
import { isContextFree } from '../serializer.js'
import { toJson } from '../serializer-fields.js'
import { observerDeliver, publishDelivery, publishSubscriptions, subscription as subscriptionChannel } from '../diagnostics.js'
import { ALL, committedRow, instanceGroup, observerGroup, type InstanceMessage, type ObserverHub, type ObserverMessage } from './hub.js'

/** Request ids keyed by their JSON, so that ids of any JSON type compare by value. */
type RequestIds = Map<string, unknown>

interface InstanceSubscription {
  /** The lookup value the client subscribed with: the `pk` of delete events, in its JSON type. */
  lookup: unknown
  /** The row's primary key. */
  pk: unknown
  requestIds: RequestIds
}

/**
 * What the subscribers of one instance message share in one registration, per table object and
 * distinct queryset: the re-read of the row, and the update frame built from it (up to its
 * `request_id`) per serializer whose output depends on the row alone. Keyed by the message object,
 * which the channel layer hands to every member of the group alike, and forgotten with it.
 */
interface SharedRead {
  /** The row as the queryset sees it now; undefined when the row left it (or is gone). */
  row: Promise<Record<string, unknown> | undefined>
  /** The update frame per context-free serializer. */
  frames: Map<SerializerLike, SharedFrame>
}

/**
 * An update frame shared by subscribers: built once, then sent to each of them by one callback
 * (rather than a promise continuation per subscriber, which a fan-out to thousands pays for).
 */
interface SharedFrame {
  /** The frame up to its request id once built; null when the row is gone for this queryset. */
  prefix: string | null | undefined
  /** Subscribers whose queue waits for it, as pairs laid flat: subscriptions, subscription, … */
  waiting: Array<Subscriptions | InstanceSubscription>
  /** Settles once every waiting subscriber has been sent its frames. */
  sent: Promise<void>
}

/** What the consumer instances of one registration share while a message fans out to them. */
export class DeliveryCache {
  readonly rereads = new WeakMap<InstanceMessage, Map<string, SharedRead>>()
  // A fan-out asks for the same message many times in a row: a field is quicker to ask than the WeakMap.
  lastMessage: InstanceMessage | null = null
  lastReads: Map<string, SharedRead> | null = null
  /** The frame prefix of an observer message (its data as JSON), built once per message. */
  readonly observedFrames = new WeakMap<ObserverMessage, string>()
}

/** The connection the subscriptions belong to. */
export interface SubscriptionsHost extends ConsumerContext<any, any> {
  readonly consumer: CompiledConsumer
  /** Sends an already serialized frame. */
  sendText (text: string): void
}

export class Subscriptions {
  #ctx: SubscriptionsHost
  #hub: ObserverHub
  #shared: DeliveryCache
  #defaultPermissions: readonly Permission[]
  /** Observer channel groups → the request ids subscribed through them. */
  #observed = new Map<string, RequestIds>()
  /** Instance channel groups → the subscription. */
  #instances = new Map<string, InstanceSubscription>()

  #max: number

  constructor (ctx: SubscriptionsHost, hub: ObserverHub, shared: DeliveryCache, defaultPermissions: readonly Permission[], maxSubscriptions: number) {
    this.#ctx = ctx
    this.#hub = hub
    this.#shared = shared
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

  /**
   * Stops the subscriptions of the row the client named by `lookup`: only `requestId`'s when
   * given, else all of them. The last one leaving leaves the group.
   */
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
    // A connection holds request ids for an observer only after subscribing through its consumer.
    const definition = this.#hub.definitionOf(message.observer)
    if (definition === undefined) return
    if (definition.options.handle !== undefined) {
      const delivery = { action: message.action, requestIds: [...ids.values()], group: message.group }
      if (observerDeliver.hasSubscribers) publishDelivery(this.#ctx, message, 0)
      return definition.options.handle(this.#ctx, message.data, delivery)
    }
    // One frame per subscribing request id; the data is serialized once per message for all of
    // them, and the request ids are kept as JSON already (the keys of `ids`).
    const observedFrames = this.#shared.observedFrames
    let prefix = observedFrames.get(message)
    if (prefix === undefined) {
      prefix = rawReplyPrefix(message.action, JSON.stringify(message.data ?? null), 200)
      observedFrames.set(message, prefix)
    }
    for (const requestIdJson of ids.keys()) this.#ctx.sendText(prefix + requestIdJson + '}')
    if (observerDeliver.hasSubscribers) publishDelivery(this.#ctx, message, ids.size)
  }

  /**
   * Handles an instance message: the row is re-read through this consumer's queryset (once per
   * process per distinct queryset) and serialized (once per process per serializer, when its output
   * depends on the row alone); a row the subscriber can no longer see is a delete for it, and an
   * event its permissions deny is not sent at all. Returns a promise only when it has to wait.
   */
  deliverInstance (message: InstanceMessage, channelGroup: string): Promise<void> | undefined {
    const subscription = this.#instances.get(channelGroup)
    if (subscription === undefined || subscription.requestIds.size === 0) return
    const ctx = this.#ctx
    const permissions = ctx.consumer.permissions ?? this.#defaultPermissions
    // checkAll stays synchronous when every check is: then no promise at all.
    const allowed = permissions.length === 0 || checkAll(permissions, 'hasPermission', ctx, 'retrieve', { pk: subscription.lookup })
    if (allowed === true) return this.#deliverAllowed(message, subscription)
    if (allowed === false) return
    return allowed.then((ok) => ok ? this.#deliverAllowed(message, subscription) : undefined)
  }

  #deliverAllowed (message: InstanceMessage, subscription: InstanceSubscription): Promise<void> | undefined {
    if (message.action !== 'update') {
      this.#sendInstance(subscription, null, message)
      return
    }
    const shared = this.#sharedRead(message, subscription)
    const ctx = this.#ctx
    // What ctx.getSerializer('retrieve') answers, without a call when the consumer does not choose.
    const serializer = ctx.consumer.definition.getSerializer === undefined ? genericOf(ctx).serializer : ctx.getSerializer('retrieve')
    if (!isContextFree(serializer)) {
      return shared.row.then((row) => this.#frameOf(row, serializer)).then((prefix) => this.#sendInstance(subscription, prefix, message))
    }
    let frame = shared.frames.get(serializer)
    if (frame === undefined) {
      const created: SharedFrame = { prefix: undefined, waiting: [], sent: Promise.resolve() }
      created.sent = shared.row.then((row) => this.#frameOf(row, serializer)).then((prefix) => {
        created.prefix = prefix
        const waiting = created.waiting
        created.waiting = []
        for (let i = 0; i < waiting.length; i += 2) {
          const subscriptions = waiting[i] as Subscriptions
          try {
            subscriptions.#sendInstance(waiting[i + 1] as InstanceSubscription, prefix, message)
          } catch (err) {
            subscriptions.#ctx.log.error({ err }, 'consumer task failed')
          }
        }
      })
      shared.frames.set(serializer, created)
      frame = created
    }
    if (frame.prefix !== undefined) {
      this.#sendInstance(subscription, frame.prefix, message)
      return
    }
    frame.waiting.push(this, subscription)
    return frame.sent
  }

  /**
   * Starts the re-read of an update as it arrives at a connection whose queue is busy, so that the
   * queue finds it done (or under way) when it gets to the event: events queued behind each other
   * have their reads pipelined instead of waiting one round trip each. The queryset is asked again
   * when the event is handled; should it have changed meanwhile, the row is read again.
   */
  prefetchInstance (message: InstanceMessage, channelGroup: string): void {
    if (message.action !== 'update') return
    const subscription = this.#instances.get(channelGroup)
    if (subscription === undefined || subscription.requestIds.size === 0) return
    this.#sharedRead(message, subscription)
  }

  /** The re-read of the row of a message through this connection's queryset, shared in the registration. */
  #sharedRead (message: InstanceMessage, subscription: InstanceSubscription): SharedRead {
    const ctx = this.#ctx
    const queryset = ctx.consumer.definition.queryset === undefined ? undefined : ctx.getQueryset({ pk: subscription.lookup })
    const generic = genericOf(ctx)
    // Per table object (another definition of the same SQL table reads other keys) and queryset;
    // consumers without a queryset (the common case) share one read, with no SQL to render as a key.
    const key = queryset === undefined ? generic.readKey : generic.readKey + querysetKey(ctx.db, queryset)
    const cache = this.#shared
    let reads = cache.lastMessage === message ? cache.lastReads! : cache.rereads.get(message)
    if (reads === undefined) {
      reads = new Map()
      cache.rereads.set(message, reads)
    }
    cache.lastMessage = message
    cache.lastReads = reads
    let shared = reads.get(key)
    if (shared === undefined) {
      // Without a queryset every row is visible: the row the update committed is what a re-read
      // would find (or older than it, when another change follows — whose own event comes next).
      const committed = queryset === undefined ? committedRow(message, generic.table) : undefined
      const row: Promise<Record<string, unknown> | undefined> = committed !== undefined
        ? Promise.resolve(committed)
        : (queryset === undefined
            ? selectOne(ctx.db, generic, 'pk', subscription.pk)
            : ctx.db.select().from(generic.table).where(and(eq(generic.pkColumn, subscription.pk), queryset)).limit(1)
          ).then((found) => found[0])
      shared = { row, frames: new Map() }
      // A prefetched read may end up unused (the event denied, the socket closed): its failure is
      // reported by the deliveries that use it, never as an unhandled rejection.
      shared.row.catch(() => {})
      reads.set(key, shared)
    }
    return shared
  }

  /** Sends an update (the frame's prefix) or, for `null`, a delete to each request id of the subscription. */
  #sendInstance (subscription: InstanceSubscription, prefix: string | null, message: InstanceMessage): void {
    const frame = prefix ?? rawReplyPrefix('delete', JSON.stringify({ pk: subscription.lookup }), 204)
    for (const requestIdJson of subscription.requestIds.keys()) this.#ctx.sendText(frame + requestIdJson + '}')
    if (observerDeliver.hasSubscribers) {
      // Instance subscriptions are reported as the observer `<table>.instance`, the row's key as their group.
      const observer = `${genericOf(this.#ctx).tableName}.instance`
      publishDelivery(this.#ctx, { observer, group: JSON.stringify(toJson(subscription.pk)), action: prefix === null ? 'delete' : 'update', committedAt: message.committedAt }, subscription.requestIds.size)
    }
  }

  /** The update frame of a row (up to its request id), or null when the subscriber can no longer see the row. */
  async #frameOf (row: Record<string, unknown> | undefined, serializer: SerializerLike): Promise<string | null> {
    if (row === undefined) return null
    const data = await serializer.toRepresentation(row, this.#ctx.serializerContext())
    return rawReplyPrefix('update', JSON.stringify(data ?? null), 200)
  }
}

/** A queryset condition as a key: subscribers whose conditions render alike share a re-read. */
function querysetKey (db: unknown, queryset: SQL): string {
  const { sql, params } = (db as { dialect: { sqlToQuery: (sql: SQL) => { sql: string, params: unknown[] } } }).dialect.sqlToQuery(queryset)
  return JSON.stringify([sql, params], (_k, v) => typeof v === 'bigint' ? v.toString() : v)
}
