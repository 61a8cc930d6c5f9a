/**
 * The channel layer: groups of connections over an mqemitter, in-process by default and
 * `mqemitter-redis` across processes. Each process subscribes once per group however many of its
 * connections joined it (reference counted), and a group message is one channel message, delivered
 * in process to every member.
 */
import type { FastifyBaseLogger } from 'fastify'
import mqemitter, { type MQEmitter, type Message } from 'mqemitter'
import mqemitterRedis from 'mqemitter-redis'
import { Redis } from 'ioredis'
import type { ChannelLayer as PublicChannelLayer, ChannelLayerOptions, GroupMessage } from '../types/index.js'
import { errors } from './errors.js'
import { channelLayerChanged, channelLayerState } from './diagnostics.js'

/** Something that receives the messages of the groups it joined: a connection. */
export interface GroupMember {
  deliver (message: GroupMessage, group: string): void
}

type Listener = (message: Message, done: () => void) => void

interface GroupEntry {
  members: Set<GroupMember>
  listener: Listener
  ready: Promise<void>
  /** Whether the listener was handed to the emitter (and so must be removed from it). */
  subscribed: boolean
}

const TOPIC_PREFIX = 'dcrf/group/'
const DEFAULT_CLOSE_TIMEOUT = 2000
const DEFAULT_SUBSCRIBE_TIMEOUT = 5000
const DEFAULT_SEND_TIMEOUT = 1000

/**
 * A group name as an exact mqemitter topic: `/`, `+` and `#` would be read as levels and wildcards
 * (which mqemitter-redis turns into over-matching Redis patterns), so names are percent-encoded.
 */
function topicOf (group: string): string {
  return TOPIC_PREFIX + encodeURIComponent(group)
}

interface RedisConnection extends NodeJS.EventEmitter {
  /** ioredis' connection state: `ready` once it takes commands. */
  status: string
  disconnect (): void
  quit (): Promise<unknown>
}

interface RedisEmitter extends MQEmitter {
  state: NodeJS.EventEmitter
  subConn: RedisConnection
  pubConn: RedisConnection
}

export class ChannelLayer implements PublicChannelLayer {
  readonly emitter: MQEmitter
  #groups = new Map<string, GroupEntry>()
  #log: FastifyBaseLogger
  #owned: boolean
  #closeTimeout: number
  #subscribeTimeout: number
  #sendTimeout: number
  #redis = false
  #closed = false
  /** Group messages dropped since the layer was last known up (logged once it is back). */
  #dropped = 0

  constructor (options: ChannelLayerOptions, log: FastifyBaseLogger) {
    this.#log = log
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT
    this.#subscribeTimeout = options.subscribeTimeout ?? DEFAULT_SUBSCRIBE_TIMEOUT
    this.#sendTimeout = options.sendTimeout ?? DEFAULT_SEND_TIMEOUT
    if (options.emitter) {
      this.emitter = options.emitter
      this.#owned = false
    } else if (options.redis) {
      this.emitter = mqemitterRedis({
        subConn: new Redis(options.redis, { enableAutoPipelining: true }),
        // Without an offline queue, a message sent while Redis is away fails at once instead of
        // waiting in memory to be delivered late, stale and out of order: at-most-once, as promised.
        pubConn: new Redis(options.redis, { enableAutoPipelining: true, enableOfflineQueue: false })
      })
      this.#owned = true
      this.#redis = true
      this.#watchRedis(this.emitter as RedisEmitter)
    } else {
      this.emitter = mqemitter()
      this.#owned = true
    }
  }

  /** Logs a Redis outage once, and its recovery once; without a listener the emitter would throw. */
  #watchRedis (emitter: RedisEmitter): void {
    let down = false
    emitter.state.on('error', (err: Error) => {
      if (down) return
      down = true
      channelLayerChanged(this, 'down', this.#groups.size, err)
      this.#log.error({ err }, 'channel layer: Redis connection lost; reconnecting')
    })
    const up = (): void => {
      if (!down) return
      down = false
      channelLayerChanged(this, 'up', this.#groups.size)
      this.#log.info({ dropped: this.#dropped }, 'channel layer: Redis connection restored')
      this.#dropped = 0
    }
    // Restored once messages can be sent again: the publisher passed its ready check.
    emitter.pubConn.on('ready', up)
  }

  get size (): number {
    return this.#groups.size
  }

  /**
   * Joins `member` to `group`; resolves once the group's messages reach this process, or after
   * `subscribeTimeout` while Redis is away (the subscription completes when it is back), so that
   * an outage cannot stall a connection's queue.
   */
  add (group: string, member: GroupMember): Promise<void> {
    if (this.#closed) return Promise.reject(new errors.DCRF_ERR_CHANNEL_LAYER_CLOSED())
    let entry = this.#groups.get(group)
    if (entry === undefined) {
      entry = this.#subscribe(group)
      this.#groups.set(group, entry)
      if (channelLayerState.hasSubscribers) channelLayerChanged(this, undefined, this.#groups.size)
    }
    entry.members.add(member)
    return this.#bounded(entry.ready, group)
  }

  #bounded (ready: Promise<void>, group: string | null): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (group === null) this.#log.warn({ timeout: this.#subscribeTimeout }, 'channel layer: Redis not ready in time; going on')
        else this.#log.warn({ group, timeout: this.#subscribeTimeout }, 'channel layer: subscription not confirmed in time; going on')
        resolve()
      }, this.#subscribeTimeout)
      timer.unref()
    })
    return Promise.race([ready.finally(() => clearTimeout(timer)), timedOut])
  }

  #subscribe (group: string): GroupEntry {
    const members = new Set<GroupMember>()
    const entry: GroupEntry = {
      members,
      listener: (message, done) => {
        // A listener removed while a message was on its way is still called once (mqemitter removes
        // listeners a tick late); a group left and joined again has a new entry, so skip the old one.
        if (this.#groups.get(group) === entry) {
          for (const member of members) member.deliver(message.message as GroupMessage, group)
        }
        done()
      },
      ready: Promise.resolve(),
      subscribed: false
    }
    entry.ready = this.#subscriberReady().then(() => new Promise<void>((resolve) => {
      // The last member may have left while the connection was getting ready.
      if (this.#closed || this.#groups.get(group) !== entry) return resolve()
      entry.subscribed = true
      this.emitter.on(topicOf(group), entry.listener, resolve)
    }))
    return entry
  }

  /**
   * Resolves once Redis' subscriber connection passed its ready check. ioredis writes a SUBSCRIBE
   * sent earlier before that check, whose INFO then fails in subscriber mode and drops the
   * connection (and the subscription with it).
   */
  #subscriberReady (): Promise<void> {
    const subConn = (this.emitter as Partial<RedisEmitter>).subConn
    if (subConn === undefined || subConn.status === 'ready') return Promise.resolve()
    return new Promise((resolve) => { subConn.once('ready', () => resolve()) })
  }

  /**
   * Resolves once Redis takes messages (at once in process), or after `subscribeTimeout`: the
   * publisher has no offline queue, so the application waits for it at `ready`, not its first message.
   */
  ready (): Promise<void> {
    const pubConn = (this.emitter as Partial<RedisEmitter>).pubConn
    if (!this.#redis || pubConn === undefined || pubConn.status === 'ready') return Promise.resolve()
    return this.#bounded(new Promise((resolve) => { pubConn.once('ready', () => resolve()) }), null)
  }

  /** Removes `member` from `group`; the last member leaving unsubscribes the process. */
  remove (group: string, member: GroupMember): void {
    const entry = this.#groups.get(group)
    if (entry === undefined || !entry.members.delete(member)) return
    if (entry.members.size > 0) return
    this.#groups.delete(group)
    if (channelLayerState.hasSubscribers) channelLayerChanged(this, undefined, this.#groups.size)
    if (!this.#closed && entry.subscribed) this.emitter.removeListener(topicOf(group), entry.listener)
  }

  /**
   * Hands a message to this process's members of `group` only, not through the emitter: for what
   * every process learns by itself (external changes, which every process LISTENs to).
   */
  deliverLocal (group: string, message: GroupMessage): void {
    const entry = this.#groups.get(group)
    if (entry === undefined || this.#closed) return
    for (const member of entry.members) member.deliver(message, group)
  }

  /**
   * Sends a message to a group. Rejects with `DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE` when the layer
   * cannot take it within `sendTimeout` (Redis away): the message is dropped, never sent late.
   */
  groupSend (group: string, message: GroupMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new errors.DCRF_ERR_CHANNEL_LAYER_CLOSED())
    if (typeof message?.type !== 'string') {
      return Promise.reject(new errors.DCRF_ERR_INVALID_GROUP_MESSAGE())
    }
    return new Promise((resolve, reject) => {
      let settled = false
      // The in-process emitter takes a message at once; Redis may not answer at all.
      const timer = this.#redis ? setTimeout(() => fail(`not taken within ${this.#sendTimeout} ms`), this.#sendTimeout) : undefined
      const fail = (reason: string): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.#dropped++
        reject(new errors.DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE(reason))
      }
      this.emitter.emit({ topic: topicOf(group), message }, (err) => {
        if (err) return fail(err.message)
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Whether a rejection of `groupSend` only says that the layer could not take the message. */
  static unavailable (err: unknown): boolean {
    return (err as { code?: unknown } | null)?.code === 'DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE'
  }

  /**
   * Closes the emitter the layer created, bounded in time: a Redis that is down can keep `quit()`
   * waiting forever, so after `closeTimeout` the connections are dropped instead.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const [group, entry] of this.#groups) {
      if (entry.subscribed) this.emitter.removeListener(topicOf(group), entry.listener)
    }
    this.#groups.clear()
    if (!this.#owned) return
    const emitter = this.emitter
    const redis = emitter as Partial<RedisEmitter>
    for (const connection of [redis.subConn, redis.pubConn]) {
      if (connection !== undefined) handleQuit(connection)
    }
    let timer: NodeJS.Timeout | undefined
    const closed = new Promise<boolean>((resolve) => { emitter.close(() => resolve(true)) })
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, this.#closeTimeout, false) })
    const clean = await Promise.race([closed, timedOut])
    clearTimeout(timer)
    if (!clean) {
      this.#log.warn({ timeout: this.#closeTimeout }, 'channel layer: close timed out; dropping connections')
      redis.subConn?.disconnect()
      redis.pubConn?.disconnect()
    }
  }
}

/**
 * mqemitter-redis closes with `quit()` and drops its promise. When Redis does not answer, the QUIT
 * waits in ioredis' queue, and dropping the connection (the close's timeout) rejects it, with
 * nobody to handle the rejection: the process would see an unhandled rejection.
 */
function handleQuit (connection: RedisConnection): void {
  const quit = connection.quit.bind(connection)
  connection.quit = () => {
    const done = quit()
    done.catch(() => {})
    return done
  }
}
