/**
 * Handing observer and instance messages to one connection's subscribers, in its queue. What the
 * subscribers of one message share (its frame, the re-read of its row) is built once per
 * registration, in the {@link DeliveryCache}.
 */
import { and, eq, type SQL } from 'drizzle-orm'
import type { AnyConsumer, ConsumerContext, Permission, Serializer, SerializerLike } from '../../types/index.js'
import { observerDeliver, publishDelivery } from '../diagnostics.js'
import { genericOf, selectOne } from '../generic-consumer.js'
import { checkAll } from '../permissions.js'
import { rawReplyPrefix } from '../protocol.js'
import { isContextFree } from '../serializer.js'
import { toJson } from '../serializer-fields.js'
import { dialectOf } from './drizzle-internals.js'
import type { InstanceMessage, ObserverHub, ObserverMessage } from './hub.js'

const RESOLVED = Promise.resolve()

/** Request ids keyed by their JSON, so that ids of any JSON type compare by value. */
export type RequestIds = Map<string, unknown>

/** The subscriptions of one connection to one row; `lookup` is what the client named it by (the `pk` of its deletes). */
export interface InstanceSubscription {
  lookup: unknown
  pk: unknown
  requestIds: RequestIds
}

/** The connection subscriptions belong to: its consumer (`permissions` null: the plugin's) and a way to send a frame. */
export interface SubscriptionsHost extends ConsumerContext<any, any> {
  readonly consumer: { readonly definition: AnyConsumer, readonly permissions: readonly Permission[] | null }
  sendText (text: string): void
}

/** One re-read of an instance message's row (undefined: the queryset no longer has it), and its update frames. */
interface SharedRead {
  row: Promise<Record<string, unknown> | undefined>
  /** The row itself, when it is known without a read (the row the update committed). */
  committed: Record<string, unknown> | undefined
  frames: Map<SerializerLike, SharedFrame>
}

/**
 * An update frame (up to its request id; null for a delete) built once, then sent by one callback
 * to the subscribers waiting for it, laid flat as host, subscription pairs: a promise continuation
 * per subscriber is what a fan-out to thousands pays for.
 */
interface SharedFrame {
  prefix: string | null | undefined
  waiting: Array<SubscriptionsHost | InstanceSubscription>
  sent: Promise<void>
}

/**
 * What the connections of one registration share while a message fans out to them, keyed by the
 * message object (which the channel layer hands to every member of a group alike).
 */
export class DeliveryCache {
  readonly rereads = new WeakMap<InstanceMessage, Map<string, SharedRead>>()
  // a fan-out asks for the same message many times in a row: a field is quicker to ask than the WeakMap
  lastMessage: InstanceMessage | null = null
  lastReads: Map<string, SharedRead> | null = null
  /** The frame prefix of an observer message (its data as JSON). */
  readonly observedFrames = new WeakMap<ObserverMessage, string>()
}

/** Sends an observer message to the request ids that subscribed; returns a promise only when `handle` does. */
export function deliverObserver (host: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, message: ObserverMessage, ids: RequestIds): unknown {
  const definition = hub.definitionOf(message.observer)
  if (definition === undefined) return
  if (definition.options.handle !== undefined) {
    const delivery = { action: message.action, requestIds: [...ids.values()], group: message.group }
    if (observerDeliver.hasSubscribers) publishDelivery(host, message, 0)
    return definition.options.handle(host, message.data, delivery)
  }
  let prefix = cache.observedFrames.get(message)
  if (prefix === undefined) {
    prefix = rawReplyPrefix(message.action, JSON.stringify(message.data ?? null), 200)
    cache.observedFrames.set(message, prefix)
  }
  for (const requestIdJson of ids.keys()) host.sendText(prefix + requestIdJson + '}')
  if (observerDeliver.hasSubscribers) publishDelivery(host, message, ids.size)
}

/**
 * Sends an instance message: the row re-read through the host's queryset, a row it no longer sees
 * as a delete, nothing when permissions deny the retrieve; a promise only when it has to wait.
 */
export function deliverInstance (host: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, defaultPermissions: readonly Permission[], message: InstanceMessage, subscription: InstanceSubscription): Promise<void> | undefined {
  const permissions = host.consumer.permissions ?? defaultPermissions
  // checkAll stays synchronous when every check is: then no promise at all
  const allowed = permissions.length === 0 || checkAll(permissions, 'hasPermission', host, 'retrieve', { pk: subscription.lookup })
  if (allowed === true) return deliverAllowed(host, hub, cache, message, subscription)
  if (allowed === false) return
  return allowed.then((ok) => ok ? deliverAllowed(host, hub, cache, message, subscription) : undefined)
}

/**
 * Starts the re-read of an update as it reaches a busy connection, so that reads of events queued
 * behind each other are pipelined; the queryset is asked again when the event is handled.
 */
export function prefetchInstance (host: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, message: InstanceMessage, subscription: InstanceSubscription): void {
  if (message.action === 'update') sharedRead(host, hub, cache, message, subscription)
}

function deliverAllowed (host: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, message: InstanceMessage, subscription: InstanceSubscription): Promise<void> | undefined {
  if (message.action !== 'update') {
    sendInstance(host, subscription, null, message)
    return
  }
  const shared = sharedRead(host, hub, cache, message, subscription)
  // what host.getSerializer('retrieve') answers, without a call when the consumer does not choose
  const serializer = host.consumer.definition.getSerializer === undefined ? genericOf(host).serializer : host.getSerializer('retrieve')
  if (!isContextFree(serializer)) {
    return shared.row.then((row) => frameOf(host, row, serializer)).then((prefix) => sendInstance(host, subscription, prefix, message))
  }
  let frame = shared.frames.get(serializer)
  if (frame === undefined && shared.committed !== undefined) {
    // Known row, synchronous serializer: the first subscriber's frame leaves now, not after the loop.
    frame = { prefix: updatePrefix((serializer as Serializer).toRepresentationSync(shared.committed)), waiting: [], sent: RESOLVED }
    shared.frames.set(serializer, frame)
  }
  if (frame === undefined) {
    const created: SharedFrame = { prefix: undefined, waiting: [], sent: Promise.resolve() }
    created.sent = shared.row.then((row) => frameOf(host, row, serializer)).then((prefix) => {
      created.prefix = prefix
      const waiting = created.waiting
      created.waiting = []
      for (let i = 0; i < waiting.length; i += 2) {
        const waiter = waiting[i] as SubscriptionsHost
        try {
          sendInstance(waiter, waiting[i + 1] as InstanceSubscription, prefix, message)
        } catch (err) {
          waiter.log.error({ err }, 'consumer task failed')
        }
      }
    })
    shared.frames.set(serializer, created)
    frame = created
  }
  if (frame.prefix !== undefined) {
    sendInstance(host, subscription, frame.prefix, message)
    return
  }
  frame.waiting.push(host, subscription)
  return frame.sent
}

/** The re-read of a message's row through the host's queryset, shared per table object and queryset. */
function sharedRead (host: SubscriptionsHost, hub: ObserverHub, cache: DeliveryCache, message: InstanceMessage, subscription: InstanceSubscription): SharedRead {
  const queryset = host.consumer.definition.queryset === undefined ? undefined : host.getQueryset({ pk: subscription.lookup })
  const generic = genericOf(host)
  const key = queryset === undefined ? generic.readKey : generic.readKey + querysetKey(host.db, queryset)
  let reads = cache.lastMessage === message ? cache.lastReads! : cache.rereads.get(message)
  if (reads === undefined) {
    reads = new Map()
    cache.rereads.set(message, reads)
  }
  cache.lastMessage = message
  cache.lastReads = reads
  let shared = reads.get(key)
  if (shared === undefined) {
    const committed = queryset === undefined ? hub.committedRow(message, generic.table) : undefined
    const row: Promise<Record<string, unknown> | undefined> = committed !== undefined
      ? Promise.resolve(committed)
      : (queryset === undefined
          ? selectOne(host.db, generic, 'pk', subscription.pk)
          : host.db.select().from(generic.table).where(and(eq(generic.pkColumn, subscription.pk), queryset)).limit(1)
        ).then((found) => found[0])
    shared = { row, committed, frames: new Map() }
    // a prefetched read may go unused: its failure is reported by the deliveries that use it
    shared.row.catch(() => {})
    reads.set(key, shared)
  }
  return shared
}

/** Sends an update (the frame's prefix) or, for `null`, a delete to each request id of the subscription. */
function sendInstance (host: SubscriptionsHost, subscription: InstanceSubscription, prefix: string | null, message: InstanceMessage): void {
  const frame = prefix ?? rawReplyPrefix('delete', JSON.stringify({ pk: subscription.lookup }), 204)
  for (const requestIdJson of subscription.requestIds.keys()) host.sendText(frame + requestIdJson + '}')
  if (observerDeliver.hasSubscribers) {
    const observer = `${genericOf(host).tableName}.instance`
    publishDelivery(host, { observer, group: JSON.stringify(toJson(subscription.pk)), action: prefix === null ? 'delete' : 'update', committedAt: message.committedAt }, subscription.requestIds.size)
  }
}

/** The update frame of a row (up to its request id), or null when the subscriber can no longer see the row. */
async function frameOf (host: SubscriptionsHost, row: Record<string, unknown> | undefined, serializer: SerializerLike): Promise<string | null> {
  if (row === undefined) return null
  return updatePrefix(await serializer.toRepresentation(row, host.serializerContext()))
}

/** An update frame of serialized data, up to its request id. */
function updatePrefix (data: unknown): string {
  return rawReplyPrefix('update', JSON.stringify(data ?? null), 200)
}

/** A queryset condition as a key: subscribers whose conditions render alike share a re-read. */
function querysetKey (db: unknown, queryset: SQL): string {
  const { sql, params } = dialectOf(db).sqlToQuery(queryset)
  return JSON.stringify([sql, params], (_k, v) => typeof v === 'bigint' ? v.toString() : v)
}
