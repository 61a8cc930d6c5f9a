/**
 * The channel layer: groups of connections over an mqemitter, in-process by default and
 * `mqemitter-redis` across processes. Each process subscribes once per group however many of its
 * connections joined it (reference counted), and a group message is one channel message, delivered
 * in process to every member.
 */
import type { FastifyBaseLogger } from 'fastify'
import mqemitter, { type MQEmitter, type Message } from 'mqemitter'
import mqemitterRedis from 'mqemitter-redis'
import type { ChannelLayer as PublicChannelLayer, ChannelLayerOptions, GroupMessage } from '../types/index.js'
import { errors } from './errors.js'

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

/**
 * A group name as an exact mqemitter topic: `/`, `+` and `#` would be read as levels and wildcards
 * (which mqemitter-redis turns into over-matching Redis patterns), so names are percent-encoded.
 */
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
  #closed = false

  constructor (options: ChannelLayerOptions, log: FastifyBaseLogger) {
    this.#log = log
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT
    this.#subscribeTimeout = options.subscribeTimeout ?? DEFAULT_SUBSCRIBE_TIMEOUT
    if (options.emitter) {
      this.emitter = options.emitter
      this.#owned = false
    } else if (options.redis) {
      this.emitter = mqemitterRedis({ connectionString: options.redis })
      this.#owned = true
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
      this.#log.error({ err }, 'channel layer: Redis connection lost; reconnecting')
    })
    const up = (): void => {
      if (!down) return
      down = false
      this.#log.info('channel layer: Redis connection restored')
    }
    emitter.state.on('pubConnect', up)
    emitter.state.on('subConnect', up)
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
    }
    entry.members.add(member)
    return this.#bounded(entry.ready, group)
  }

  #bounded (ready: Promise<void>, group: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#log.warn({ group, timeout: this.#subscribeTimeout }, 'channel layer: subscription not confirmed in time; going on')
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

  /** Removes `member` from `group`; the last member leaving unsubscribes the process. */
  remove (group: string, member: GroupMember): void {
    const entry = this.#groups.get(group)
    if (entry === undefined || !entry.members.delete(member)) return
    if (entry.members.size > 0) return
    this.#groups.delete(group)
    if (!this.#closed && entry.subscribed) this.emitter.removeListener(topicOf(group), entry.listener)
  }

  /** The number of connections of this process in `group`. */
  members (group: string): number {
    return this.#groups.get(group)?.members.size ?? 0
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

  groupSend (group: string, message: GroupMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new errors.DCRF_ERR_CHANNEL_LAYER_CLOSED())
    if (typeof message?.type !== 'string') {
      return Promise.reject(new TypeError('A group message needs a string "type"'))
    }
    return new Promise((resolve, reject) => {
      this.emitter.emit({ topic: topicOf(group), message }, (err) => err ? reject(err) : resolve())
    })
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
