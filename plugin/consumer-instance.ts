/**
 * DCRF's consumer instance: one consumer on one socket (one per stream of a multiplexer), the `ctx`
 * of its actions. It holds the consumer's state, its ordered queue, its detached actions, groups
 * and subscriptions, and writes its replies; `dispatch.ts` reads and runs an action frame.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { SQL } from 'drizzle-orm'
import type {
  ActionArgs,
  ActionReturn,
  ConsumerState,
  Database,
  GroupMessage,
  ReplyFrame,
  ObserverSubscription,
  RequestUser,
  SerializerContext,
  SerializerLike
} from '../types/index.js'
import type { GroupMember } from './channel-layer.js'
import { groupHandlerFor, type CompiledConsumer } from './consumer.js'
import { errors } from './errors.js'
import * as generic from './generic-consumer.js'
import { INSTANCE_MESSAGE, OBSERVER_MESSAGE, type InstanceMessage, type ObserverMessage } from './observer/hub.js'
import { Subscriptions } from './observer/subscriptions.js'
import { dispatch, kDetached, kTransaction, type ActionTarget } from './dispatch.js'
import { OrderedQueue } from './ordered-queue.js'
import { databaseOf, type Runtime } from './runtime.js'
import { OPEN, type SocketGuard } from './socket-guard.js'
import { encodeReply, streamEnvelope, toWireError } from './protocol.js'
import { actionTracing, publishThrottled, throttled, traceAction } from './diagnostics.js'

export class ConsumerInstance implements ActionTarget, GroupMember {
  /** The transaction of the atomic action running now (actions of a connection never overlap). */
  [kTransaction]: Database | null = null
  readonly request: FastifyRequest
  readonly app: FastifyInstance
  readonly log: FastifyBaseLogger
  readonly stream: string | null
  socket: WebSocket | null = null
  /** Per-connection state: the consumer's factory runs at connection; the default `{}` is made on first use. */
  #state: ConsumerState | undefined
  readonly consumer: CompiledConsumer

  #runtime: Runtime
  #guard: SocketGuard | null = null
  /** In a multiplexed socket, the stream envelope written around each frame's text: `{"stream":…,"payload":`. */
  readonly #envelope: string | null
  // Made on first use, as are the groups and subscriptions: servers hold thousands of idle instances.
  #abort: AbortController | null = null
  #groups: Set<string> | null = null
  readonly #queue: OrderedQueue
  #closed = false
  #subscriptions: Subscriptions | null = null

  constructor (runtime: Runtime, consumer: CompiledConsumer, request: FastifyRequest, app: FastifyInstance, stream: string | null) {
    this.#runtime = runtime
    this.consumer = consumer
    this.request = request
    this.app = app
    this.stream = stream
    this.log = stream === null ? request.log : request.log.child({ stream })
    this.#queue = new OrderedQueue(this.log)
    this.#state = consumer.definition.state?.()
    this.#envelope = stream === null ? null : streamEnvelope(stream)
  }

  /** The detached actions running beside the queue, made on first use. */
  [kDetached]: Map<AbortController, string> | null = null

  get user (): RequestUser {
    return (this.request as { user?: RequestUser }).user as RequestUser
  }

  get signal (): AbortSignal {
    if (this.#abort === null) {
      this.#abort = new AbortController()
      if (this.#closed) this.#abort.abort()
    }
    return this.#abort.signal
  }

  get state (): ConsumerState {
    this.#state ??= {}
    return this.#state
  }

  set state (value: ConsumerState) {
    this.#state = value
  }

  get groups (): ReadonlySet<string> {
    this.#groups ??= new Set()
    return this.#groups
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Called once the handshake completed: frames can flow, and `onConnect` runs first in the queue. */
  open (socket: WebSocket, guard: SocketGuard): void {
    this.socket = socket
    this.#guard = guard
    const onConnect = this.consumer.definition.onConnect
    if (onConnect) this.#queue.push(() => onConnect(this))
  }

  /** Queues a parsed frame of `size` bytes; one over the rate limit is answered 429 in its place. */
  receive (frame: Record<string, unknown>, size: number, admitted: boolean): void {
    const guard = this.#guard!
    if (!admitted) {
      this.#queue.push(() => {
        guard.release(size)
        if (throttled.hasSubscribers) publishThrottled(this, 'rate')
        const name = typeof frame.action === 'string' ? frame.action : null
        this.replyError(name, frame.request_id ?? null, new errors.DCRF_ERR_THROTTLED())
      })
      return
    }
    this.#queue.push(actionTracing.hasSubscribers
      ? () => traceAction(this, frame, (trace) => dispatch(this, this.#runtime, frame, guard, size, trace))
      : () => dispatch(this, this.#runtime, frame, guard, size))
  }

  /** Queues the error reply of a frame of `size` bytes that could not be read, in its place in the order. */
  receiveError (err: Error, size: number): void {
    this.#queue.push(() => {
      this.#guard!.release(size)
      this.replyError(null, null, err)
    })
  }

  /** A group message from the channel layer: handled in the queue by its `type`. */
  deliver (message: GroupMessage, group: string): void {
    if (this.#closed) return
    // An idle queue handles it at once: a fan-out allocates nothing per subscriber here.
    if (this.#queue.runIfIdle(this, this.#handleGroupMessage, message, group)) return
    if (message.type === INSTANCE_MESSAGE) this.#prefetch(message as InstanceMessage, group)
    this.#queue.push(() => this.#handleGroupMessage(message, group))
  }

  /** Only an optimization: a queryset that throws here throws again, and is reported, when the event is handled. */
  #prefetch (message: InstanceMessage, group: string): void {
    try {
      this.#subscriptions?.prefetchInstance(message, group)
    } catch {}
  }

  /** Returns a promise only when the handling does not complete synchronously. */
  #handleGroupMessage (message: GroupMessage, group: string): unknown {
    if (message.type === OBSERVER_MESSAGE) return this.#subscriptions?.deliverObserver(message as ObserverMessage)
    if (message.type === INSTANCE_MESSAGE) return this.#subscriptions?.deliverInstance(message as InstanceMessage, group)
    const handler = groupHandlerFor(this.consumer, message.type)
    if (handler === undefined) {
      this.log.warn({ type: message.type }, 'no group handler for this message type')
      return
    }
    return handler(this, message)
  }

  /** Cancels the detached actions running (all, or those of the given names); returns how many were. */
  cancelDetached (names?: readonly string[]): number {
    let cancelled = 0
    const detached = this[kDetached]
    if (detached === null) return 0
    for (const [controller, name] of detached) {
      if (names !== undefined && !names.includes(name)) continue
      detached.delete(controller)
      controller.abort()
      cancelled++
    }
    return cancelled
  }

  #database (): Database {
    return databaseOf(this.#runtime)
  }

  get db (): Database {
    return this[kTransaction] ?? this.#database()
  }

  getQueryset (args?: ActionArgs): SQL | undefined {
    return generic.getQueryset(this, args)
  }

  filterQueryset (args?: ActionArgs): SQL | undefined {
    return generic.filterQueryset(this, args)
  }

  getObject (lookup: unknown): Promise<any> {
    return generic.getObject(this, lookup)
  }

  getSerializer (action?: string): SerializerLike {
    return generic.getSerializer(this, action)
  }

  async serialize (row: any, action?: string): Promise<unknown> {
    return await this.getSerializer(action).toRepresentation(row, this.serializerContext())
  }

  serializerContext (): SerializerContext {
    return generic.serializerContext(this)
  }

  /** The connection's subscriptions, created on first use. */
  get subscriptions (): Subscriptions {
    this.#subscriptions ??= new Subscriptions(this, this.#runtime.observers, this.#runtime.delivery, this.#runtime.permissions, this.#runtime.limits.maxSubscriptions)
    return this.#subscriptions
  }

  observer (name: string): ObserverSubscription {
    return this.subscriptions.observer(name)
  }

  /** Sends an already serialized frame (wrapped in the stream envelope when multiplexed). */
  sendText (text: string): void {
    this.#write(text)
  }

  #write (text: string): void {
    if (this.#closed || this.socket === null || this.socket.readyState !== OPEN) return
    const envelope = this.#envelope
    this.#guard!.send(envelope === null ? text : envelope + text + '}')
  }

  /** Replies with an action's result; returns the reply's status (`null`: no reply). */
  replyResult (name: string, requestId: unknown, result: ActionReturn): number | null {
    if (result === undefined || result === null) return null
    if (typeof result !== 'object') {
      return this.replyError(name, requestId, new errors.DCRF_ERR_INVALID_ACTION_RESULT(name))
    }
    const status = result.status ?? 200
    this.#write(encodeReply(name, result.data, [], status, requestId))
    return status
  }

  /** Replies with an error; returns the reply's status. */
  replyError (name: unknown, requestId: unknown, err: unknown): number {
    const wire = toWireError(err, this.log, this.#runtime.tables)
    this.#write(encodeReply(name, null, wire.errors, wire.status, requestId))
    return wire.status
  }

  reply (frame: ReplyFrame): void {
    this.#write(encodeReply(frame.action, frame.data, frame.errors ?? [], frame.status ?? 200, frame.requestId))
  }

  send (frame: unknown): void {
    this.#write(JSON.stringify(frame))
  }

  async addGroup (name: string): Promise<void> {
    this.#groups ??= new Set()
    if (this.#closed || this.#groups.has(name)) return
    this.#groups.add(name)
    await this.#runtime.channelLayer.add(name, this)
  }

  async removeGroup (name: string): Promise<void> {
    if (this.#groups?.delete(name) === true) this.#runtime.channelLayer.remove(name, this)
  }

  groupSend (group: string, message: GroupMessage): Promise<void> {
    return this.#runtime.channelLayer.groupSend(group, message)
  }

  close (code?: number, reason?: string): void {
    this.socket?.close(code, reason)
  }

  /**
   * The socket closed: stop delivery at once (groups left, detached work cancelled, the signal
   * aborted), let frames already received finish (what a client sent before closing still
   * happens), then run `onDisconnect` last.
   */
  handleClose (code: number): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#groups !== null) {
      for (const group of this.#groups) this.#runtime.channelLayer.remove(group, this)
      this.#groups.clear()
    }
    this.#subscriptions?.clear()
    this.cancelDetached()
    this.#abort?.abort()
    const onDisconnect = this.consumer.definition.onDisconnect
    if (onDisconnect) this.#queue.push(() => onDisconnect(this, code))
  }
}
