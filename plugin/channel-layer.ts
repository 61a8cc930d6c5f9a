/**
 * The channel layer: groups over an mqemitter (in process, or `mqemitter-redis`). A process
 * subscribes once per group however many members it has; a group message is one channel message.
 */
import type { FastifyBaseLogger } from 'fastify'
import mqemitter, { type MQEmitter, type Message } from 'mqemitter'
import mqemitterRedis from 'mqemitter-redis'
import { Redis } from 'ioredis'
import type { ChannelLayer as PublicChannelLayer, ChannelLayerOptions, GroupMessage } from '../types/index.js'
import { errors } from './errors.js'
import { channelLayerChanged, channelLayerState } from './diagnostics.js'

/** What receives the messages of the groups it joined: a consumer instance. */
export interface GroupMember {
  deliver (message: GroupMessage, group: string): void
}

type Listener = (message: Message, done: () => void) => void

interface GroupEntry {
  members: Set<GroupMember>
  listener: Listener
  ready: Promise<void>
  subscribed: boolean
}

const TOPIC_PREFIX = 'dcrf/group/'
const RESOLVED = Promise.resolve()
const noListener: Listener = (_message, done) => done()
const DEFAULT_CLOSE_TIMEOUT = 2000
const DEFAULT_SUBSCRIBE_TIMEOUT = 5000
const DEFAULT_SEND_TIMEOUT = 1000

// `/`, `+` and `#` would be levels and wildcards (over-matching Redis patterns in mqemitter-redis).
function topicOf (group: string): string {
  return TOPIC_PREFIX + encodeURIComponent(group)
}

interface RedisConnection extends NodeJS.EventEmitter {
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
  /** The emitter is ours and in this process: the members of `#groups` are every member there is. */
  #private = false
  #closed = false
  /** Dropped since the layer was last known up; logged once it is back. */
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
        // No offline queue: a message sent while Redis is away fails at once, never arrives late (at-most-once).
        pubConn: new Redis(options.redis, { enableAutoPipelining: true, enableOfflineQueue: false })
      })
      this.#owned = true
      this.#redis = true
      this.#watchRedis(this.emitter as RedisEmitter)
    } else {
      this.emitter = mqemitter()
      this.#owned = true
      this.#private = true
    }
  }

  // Without an error listener the emitter would throw.
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
    // Up once messages can be sent again: the publisher passed its ready check.
    emitter.pubConn.on('ready', up)
  }

  get size (): number {
    return this.#groups.size
  }

  /** Joins `member` to `group`; resolves once subscribed, or after `subscribeTimeout` so an outage cannot stall a queue. */
  add (group: string, member: GroupMember): Promise<void> {
    if (this.#closed) return Promise.reject(new errors.DCRF_ERR_CHANNEL_LAYER_CLOSED())
    let entry = this.#groups.get(group)
    if (entry === undefined) {
      entry = this.#private ? { members: new Set(), listener: noListener, ready: RESOLVED, subscribed: false } : this.#subscribe(group)
      this.#groups.set(group, entry)
      if (channelLayerState.hasSubscribers) channelLayerChanged(this, undefined, this.#groups.size)
    }
    entry.members.add(member)
    return entry.ready === RESOLVED ? RESOLVED : this.#bounded(entry.ready, group)
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
        // mqemitter removes listeners a tick late: the entry of a group left and joined again is new.
        if (this.#groups.get(group) === entry) {
          for (const member of members) member.deliver(message.message as GroupMessage, group)
        }
        done()
      },
      ready: Promise.resolve(),
      subscribed: false
    }
    entry.ready = this.#subscriberReady().then(() => new Promise<void>((resolve) => {
      if (this.#closed || this.#groups.get(group) !== entry) return resolve()
      entry.subscribed = true
      this.emitter.on(topicOf(group), entry.listener, resolve)
    }))
    return entry
  }

  // ioredis writes an early SUBSCRIBE before its ready check, whose INFO then fails in subscriber mode.
  #subscriberReady (): Promise<void> {
    const subConn = (this.emitter as Partial<RedisEmitter>).subConn
    if (subConn === undefined || subConn.status === 'ready') return Promise.resolve()
    return new Promise((resolve) => { subConn.once('ready', () => resolve()) })
  }

  /** Resolves once Redis takes messages, or after `subscribeTimeout`: the publisher has no offline queue. */
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

  /** Hands a message to this process's members of `group` only: for what every process learns itself. */
  deliverLocal (group: string, message: GroupMessage): void {
    const entry = this.#groups.get(group)
    if (entry === undefined || this.#closed) return
    for (const member of entry.members) member.deliver(message, group)
  }

  /**
   * Whether `group` may have members: in this process (`local`, or on the layer's own in-process
   * emitter) whether it has one here; through Redis or an emitter of the application's, always.
   */
  hasMembers (group: string, local = false): boolean {
    return (!local && !this.#private) || this.#groups.has(group)
  }

  /** Rejects with `DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE` when not taken within `sendTimeout`: dropped, never late. */
  groupSend (group: string, message: GroupMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new errors.DCRF_ERR_CHANNEL_LAYER_CLOSED())
    if (typeof message?.type !== 'string') {
      return Promise.reject(new errors.DCRF_ERR_INVALID_GROUP_MESSAGE())
    }
    // Our own in-process emitter would hand the message to our own listener only (bench/README.md).
    if (this.#private) {
      try {
        this.deliverLocal(group, message)
      } catch (err) {
        return Promise.reject(err)
      }
      return RESOLVED
    }
    return new Promise((resolve, reject) => {
      let settled = false
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

  /** Closes the emitter the layer created; a Redis that is down keeps `quit()` waiting: dropped after `closeTimeout`. */
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

// mqemitter-redis drops `quit()`'s promise, which our close's timeout rejects: an unhandled rejection.
function handleQuit (connection: RedisConnection): void {
  const quit = connection.quit.bind(connection)
  connection.quit = () => {
    const done = quit()
    done.catch(() => {})
    return done
  }
}
