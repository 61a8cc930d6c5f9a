/**
 * One consumer on one connection: DCRF's consumer instance. It owns the connection's ordered queue
 * (frames, group messages and the connect/disconnect hooks run strictly one after another, as
 * mercurius' SubscriptionConnection does), the detached actions running beside it, and the groups
 * it joined.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { SQL } from 'drizzle-orm'
import type {
  ActionArgs,
  ActionCall,
  ActionReturn,
  ConsumerContext,
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
import { defaultGetActionName, groupHandlerFor, type CompiledAction, type CompiledConsumer } from './consumer.js'
import { databaseValidationError, tableOfDatabaseError } from './db-errors.js'
import { errors, validationError } from './errors.js'
import * as generic from './generic.js'
import { INSTANCE_MESSAGE, OBSERVER_MESSAGE, type InstanceMessage, type ObserverMessage } from './observer/hub.js'
import { Subscriptions } from './observer/subscriptions.js'
import { OrderedQueue } from './ordered-queue.js'
import { databaseOf, type Runtime } from './runtime.js'
import type { SocketGuard } from './socket-guard.js'
import { checkAll } from './permissions.js'
import { encodeReply, methodNotAllowed, toWireError } from './protocol.js'
import { actionLabel, actionSettled, actionTracing, publishThrottled, throttled, traceAction } from './diagnostics.js'
import type { ActionTraceContext } from '../types/diagnostics.js'

const OPEN = 1

/**
 * What an action receives beside its context and arguments. A class, so that the connection's
 * abort signal is created only when an action reads it.
 */
class Call implements ActionCall {
  readonly action: string
  readonly requestId: unknown
  readonly #connection: Connection

  constructor (action: string, requestId: unknown, connection: Connection) {
    this.action = action
    this.requestId = requestId
    this.#connection = connection
  }

  get signal (): AbortSignal {
    return this.#connection.signal
  }
}

export class Connection implements ConsumerContext, GroupMember {
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
  /** Created on first use: most connections never read their signal, and aborting one costs an exception. */
  #abort: AbortController | null = null
  // Made on first use, as are the abort controller and the subscriptions: an idle connection is
  // small, and servers hold thousands.
  #groups: Set<string> | null = null
  #detached: Map<AbortController, string> | null = null
  readonly #queue: OrderedQueue
  #closed = false
  /** The transaction of the atomic action running now (actions of a connection never overlap). */
  #transaction: Database | null = null
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
    // The stream envelope is built around the payload's text: the payload is serialized only once.
    this.#envelope = stream === null ? null : `{"stream":${JSON.stringify(stream)},"payload":`
  }

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

  // ---- inbound -----------------------------------------------------------------------------------

  /** Queues a parsed frame of `size` bytes; a frame over the rate limit is answered 429 in its place instead. */
  receive (frame: Record<string, unknown>, size: number): void {
    const guard = this.#guard!
    guard.queued(size)
    if (!guard.admit()) {
      this.#queue.push(() => {
        guard.done(size)
        if (throttled.hasSubscribers) publishThrottled(this, 'rate')
        const name = typeof frame.action === 'string' ? frame.action : null
        this.#replyError(name, frame.request_id ?? null, new errors.DCRF_ERR_THROTTLED())
      })
      return
    }
    this.#queue.push(actionTracing.hasSubscribers
      ? () => traceAction(this, frame, (trace) => this.#handleFrame(frame, guard, size, trace))
      : () => this.#handleFrame(frame, guard, size))
  }

  /** Queues the error reply of a frame that could not be read, so it keeps its place in the order. */
  receiveError (err: Error): void {
    this.#queue.push(() => this.#replyError(null, null, err))
  }

  /** A group message from the channel layer: handled in the queue by its `type`. */
  deliver (message: GroupMessage, group: string): void {
    if (this.#closed) return
    // An idle queue handles the message at once, without making a task of it: a fan-out to
    // thousands of connections allocates nothing per connection here.
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

  /**
   * Handles a frame, then lets its socket read on (`guard.done()`), however the frame ends; a
   * detached action's frame counts until the action ends.
   */
  async #handleFrame (frame: Record<string, unknown>, guard: SocketGuard, size: number, trace: ActionTraceContext | null = null): Promise<number | null | undefined> {
    let detached = false
    try {
      // A client is served no faster than it reads its replies.
      const congested = guard.congestion()
      if (congested !== null) await congested
      let name: unknown
      let args: ActionArgs
      const requestId = frame.request_id === undefined ? null : frame.request_id
      if (this.consumer.getActionName === defaultGetActionName) {
        const { action, request_id: _, ...rest } = frame
        name = action
        args = rest
      } else {
        const { request_id: _, ...rest } = frame
        try {
          ({ action: name, args } = this.consumer.getActionName(rest))
        } catch (err) {
          return this.#replyError(null, requestId, err)
        }
      }
      if (name === undefined || name === null) {
        return this.#replyError(null, requestId, new errors.DCRF_ERR_NO_ACTION())
      }
      if (trace !== null) {
        trace.rawAction = name
        trace.action = actionLabel(this.consumer.actions, name)
      }
      if (typeof name !== 'string') {
        return this.#replyError(name, requestId, methodNotAllowed(name))
      }
      try {
        // Permissions come before the lookup: an unknown action under a denying permission is a 403.
        // checkAll answers synchronously when every check does: awaited only when it has to be.
        const allowed = checkAll(this.consumer.permissions ?? this.#runtime.permissions, 'hasPermission', this, name, args)
        if (allowed !== true && !await allowed) throw new errors.DCRF_ERR_PERMISSION_DENIED()
        const compiled = this.consumer.actions.get(name)
        if (compiled === undefined) throw methodNotAllowed(name)
        if (compiled.permissions !== null) {
          const allowedHere = checkAll(compiled.permissions, 'hasPermission', this, name, args)
          if (allowedHere !== true && !await allowedHere) throw new errors.DCRF_ERR_PERMISSION_DENIED()
        }
        if (compiled.validate !== null) {
          const fieldErrors = compiled.validate(args)
          if (fieldErrors !== null) throw validationError(fieldErrors)
        }
        if (compiled.detached) {
          if (!guard.detachedStarted()) {
            if (throttled.hasSubscribers) publishThrottled(this, 'detached')
            throw new errors.DCRF_ERR_TOO_MANY_DETACHED(this.#runtime.limits.maxDetachedActions)
          }
          detached = true
          if (trace !== null) trace.detached = true
          this.#runDetached(compiled, name, requestId, args, trace, () => {
            guard.detachedEnded()
            guard.done(size)
          })
          return
        }
        const call = new Call(name, requestId, this)
        const result = (compiled.atomic ?? this.#runtime.atomicRequests)
          ? await this.#atomically(() => compiled.handler(this, args, call))
          : await compiled.handler(this, args, call)
        return this.#replyResult(name, requestId, result)
      } catch (err) {
        if (trace !== null) trace.error = err
        return this.#replyError(name, requestId, err)
      }
    } finally {
      if (!detached) guard.done(size)
    }
  }

  /** Runs an action in a transaction, which `ctx.db` is meanwhile; a throw rolls it back. */
  async #atomically (run: () => ActionReturn | Promise<ActionReturn>): Promise<ActionReturn> {
    return this.#database().transaction(async (tx) => {
      this.#transaction = tx as Database
      try {
        return await run()
      } finally {
        this.#transaction = null
      }
    })
  }

  /** Runs an action beside the queue; cancelled (its signal aborted, its reply dropped) on close. */
  #runDetached (compiled: CompiledAction, name: string, requestId: unknown, args: ActionArgs, trace: ActionTraceContext | null, ended: () => void): void {
    const controller = new AbortController()
    this.#detached ??= new Map()
    this.#detached.set(controller, compiled.name)
    const call: ActionCall = { action: name, requestId, signal: controller.signal }
    const run = async (): Promise<void> => {
      let status: number | null = null
      try {
        const result = await compiled.handler(this, args, call)
        if (!controller.signal.aborted) status = this.#replyResult(name, requestId, result)
      } catch (err) {
        if (trace !== null) trace.error = err
        if (!controller.signal.aborted) status = this.#replyError(name, requestId, err)
      } finally {
        this.#detached?.delete(controller)
        ended()
        if (trace !== null) actionSettled(trace, status)
      }
    }
    run()
  }

  /**
   * Cancels the detached actions still running on this connection (all of them, or those defined
   * under the given names): their signals abort and their replies are dropped. Returns how many were running.
   */
  cancelDetached (names?: readonly string[]): number {
    let cancelled = 0
    if (this.#detached === null) return 0
    for (const [controller, name] of this.#detached) {
      if (names !== undefined && !names.includes(name)) continue
      this.#detached.delete(controller)
      controller.abort()
      cancelled++
    }
    return cancelled
  }

  // ---- generic consumers ------------------------------------------------------------------------

  #database (): Database {
    return databaseOf(this.#runtime)
  }

  #generic (): generic.GenericConfig {
    return generic.genericOf(this)
  }

  get db (): Database {
    return this.#transaction ?? this.#database()
  }

  getQueryset (args?: ActionArgs): SQL | undefined {
    return generic.getQueryset(this, this.consumer.definition, args)
  }

  filterQueryset (args?: ActionArgs): SQL | undefined {
    return generic.filterQueryset(this, this.consumer.definition, args)
  }

  getObject (lookup: unknown): Promise<any> {
    return generic.getObject(this, this.consumer.definition, this.#generic(), lookup)
  }

  getSerializer (action?: string): SerializerLike {
    return generic.getSerializer(this, this.consumer.definition, this.#generic(), action)
  }

  serialize (row: any, action?: string): Promise<unknown> {
    // Not an async function: the serializer's own promise is handed on as is, without a wrapper
    // promise that would take two more turns of the microtask queue to follow it.
    try {
      return Promise.resolve(this.getSerializer(action).toRepresentation(row, this.serializerContext()))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  serializerContext (): SerializerContext {
    return generic.serializerContext(this, this.consumer.definition)
  }

  // ---- observers --------------------------------------------------------------------------------

  /** The connection's subscriptions, created on first use. */
  get subscriptions (): Subscriptions {
    this.#subscriptions ??= new Subscriptions(this, this.#runtime.observers, this.#runtime.permissions, this.#runtime.limits.maxSubscriptions)
    return this.#subscriptions
  }

  observer (name: string): ObserverSubscription {
    return this.subscriptions.observer(name)
  }

  // ---- outbound ----------------------------------------------------------------------------------

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
  #replyResult (name: string, requestId: unknown, result: ActionReturn): number | null {
    if (result === undefined || result === null) return null
    if (typeof result !== 'object') {
      return this.#replyError(name, requestId, new TypeError(`action "${name}" must return { data, status } or nothing`))
    }
    const status = result.status ?? 200
    this.#write(encodeReply(name, result.data, [], status, requestId))
    return status
  }

  /** Replies with an error; returns the reply's status. */
  #replyError (name: unknown, requestId: unknown, err: unknown): number {
    const wire = toWireError(this.#fromDatabase(err), this.log)
    this.#write(encodeReply(name, null, wire.errors, wire.status, requestId))
    return wire.status
  }

  /**
   * A constraint violation that escaped a custom action, on a table a consumer or observer of this
   * plugin knows, is answered as the generic actions answer it: a 400 with field errors.
   */
  #fromDatabase (err: unknown): unknown {
    if (typeof (err as { statusCode?: unknown } | null)?.statusCode === 'number') return err
    const tableName = tableOfDatabaseError(err)
    const table = tableName === undefined ? undefined : this.#runtime.tables.get(tableName)
    return table === undefined ? err : databaseValidationError(err, { table }) ?? err
  }

  reply (frame: ReplyFrame): void {
    this.#write(encodeReply(frame.action, frame.data, frame.errors ?? [], frame.status ?? 200, frame.requestId))
  }

  send (frame: unknown): void {
    this.#write(JSON.stringify(frame))
  }

  // ---- groups ------------------------------------------------------------------------------------

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

  // ---- closing -----------------------------------------------------------------------------------

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
