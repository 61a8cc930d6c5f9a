/**
 * One consumer on one connection: DCRF's consumer instance. It owns the connection's ordered queue
 * (frames, group messages and the connect/disconnect hooks run strictly one after another, as
 * mercurius' SubscriptionConnection does), the detached actions running beside it, and the groups
 * it joined.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { SQL } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type {
  ActionArgs,
  ActionCall,
  ActionReturn,
  ConsumerContext,
  ConsumerState,
  Database,
  GroupMessage,
  Permission,
  ReplyFrame,
  ObserverSubscription,
  RequestUser,
  SerializerContext,
  SerializerLike
} from '../types/index.js'
import type { ChannelLayer, GroupMember } from './channel-layer.js'
import { defaultGetActionName, groupHandlerFor, type CompiledAction, type CompiledConsumer } from './consumer.js'
import { databaseValidationError, tableOfDatabaseError } from './db-errors.js'
import { errors, validationError } from './errors.js'
import * as generic from './generic.js'
import { INSTANCE_MESSAGE, OBSERVER_MESSAGE, type InstanceMessage, type ObserverHub, type ObserverMessage } from './observer/hub.js'
import { Subscriptions } from './observer/subscriptions.js'
import type { Limits } from './options.js'
import type { SocketGuard } from './socket-guard.js'
import { checkAll } from './permissions.js'
import { encodeReply, methodNotAllowed, toWireError } from './protocol.js'

/** What every connection of one plugin registration shares. */
export interface Runtime {
  channelLayer: ChannelLayer
  /** Permissions of consumers that set none. */
  permissions: readonly Permission[]
  /** Open connections, closed with 1001 when the application closes. */
  connections: Set<Connection>
  /** The plugin's database, wrapped for change capture; `null` when none was given. */
  db: Database | null
  /** The default of `atomic` (Django's `ATOMIC_REQUESTS`). */
  atomicRequests: boolean
  observers: ObserverHub
  limits: Limits
  /** The open sockets, for the heartbeat. */
  sockets: Set<SocketGuard>
  /** The tables of generic consumers and model observers, by SQL name. */
  tables: Map<string, PgTable>
}

/** Where a connection's frames go: the socket itself, or a stream of a multiplexed socket. */
export type SendText = (text: string) => void

type Task = () => unknown

const OPEN = 1

export class Connection implements ConsumerContext, GroupMember {
  readonly request: FastifyRequest
  readonly app: FastifyInstance
  readonly log: FastifyBaseLogger
  readonly stream: string | null
  socket: WebSocket | null = null
  state: ConsumerState
  readonly consumer: CompiledConsumer

  #runtime: Runtime
  #sendText: SendText | null = null
  #guard: SocketGuard | null = null
  #abort = new AbortController()
  #groups = new Set<string>()
  #detached = new Map<AbortController, string>()
  #queue: Array<Task | undefined> = []
  #head = 0
  #draining = false
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
    this.state = consumer.definition.state?.() ?? {}
  }

  get user (): RequestUser {
    return (this.request as { user?: RequestUser }).user as RequestUser
  }

  get signal (): AbortSignal {
    return this.#abort.signal
  }

  get groups (): ReadonlySet<string> {
    return this.#groups
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Called once the handshake completed: frames can flow, and `onConnect` runs first in the queue. */
  open (socket: WebSocket, sendText: SendText, guard: SocketGuard): void {
    this.socket = socket
    this.#sendText = sendText
    this.#guard = guard
    this.#runtime.connections.add(this)
    const onConnect = this.consumer.definition.onConnect
    if (onConnect) this.#enqueue(() => onConnect(this))
  }

  // ---- the ordered queue -------------------------------------------------------------------------

  #enqueue (task: Task): void {
    this.#queue.push(task)
    if (!this.#draining) this.#drain()
  }

  async #drain (): Promise<void> {
    this.#draining = true
    while (this.#head < this.#queue.length) {
      const task = this.#queue[this.#head]!
      this.#queue[this.#head++] = undefined
      try {
        const result = task() as Promise<unknown> | undefined
        if (result !== undefined && result !== null && typeof result.then === 'function') await result
      } catch (err) {
        this.log.error({ err }, 'consumer task failed')
      }
    }
    this.#queue.length = 0
    this.#head = 0
    this.#draining = false
  }

  // ---- inbound -----------------------------------------------------------------------------------

  /** Queues a parsed frame; a frame over the rate limit is answered 429 in its place instead. */
  receive (frame: Record<string, unknown>): void {
    const guard = this.#guard!
    guard.queued()
    if (!guard.admit()) {
      this.#enqueue(() => {
        guard.done()
        const name = typeof frame.action === 'string' ? frame.action : null
        this.#replyError(name, frame.request_id ?? null, new errors.DCRF_ERR_THROTTLED())
      })
      return
    }
    this.#enqueue(async () => {
      try {
        await this.#handleFrame(frame)
      } finally {
        guard.done()
      }
    })
  }

  /** Queues the error reply of a frame that could not be read, so it keeps its place in the order. */
  receiveError (err: Error): void {
    this.#enqueue(() => this.#replyError(null, null, err))
  }

  /** A group message from the channel layer: handled in the queue by its `type`. */
  deliver (message: GroupMessage, group: string): void {
    if (this.#closed) return
    this.#enqueue(() => this.#handleGroupMessage(message, group))
  }

  async #handleGroupMessage (message: GroupMessage, group: string): Promise<void> {
    if (message.type === OBSERVER_MESSAGE) return this.#subscriptions?.deliverObserver(message as ObserverMessage)
    if (message.type === INSTANCE_MESSAGE) return this.#subscriptions?.deliverInstance(message as InstanceMessage, group)
    const handler = groupHandlerFor(this.consumer, message.type)
    if (handler === undefined) {
      this.log.warn({ type: message.type }, 'no group handler for this message type')
      return
    }
    await handler(this, message)
  }

  async #handleFrame (frame: Record<string, unknown>): Promise<void> {
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
    if (typeof name !== 'string') {
      return this.#replyError(name, requestId, methodNotAllowed(name))
    }
    try {
      // Permissions come before the lookup: an unknown action under a denying permission is a 403.
      if (!await checkAll(this.consumer.permissions ?? this.#runtime.permissions, 'hasPermission', this, name, args)) {
        throw new errors.DCRF_ERR_PERMISSION_DENIED()
      }
      const compiled = this.consumer.actions.get(name)
      if (compiled === undefined) throw methodNotAllowed(name)
      if (compiled.permissions !== null && !await checkAll(compiled.permissions, 'hasPermission', this, name, args)) {
        throw new errors.DCRF_ERR_PERMISSION_DENIED()
      }
      if (compiled.validate !== null) {
        const fieldErrors = compiled.validate(args)
        if (fieldErrors !== null) throw validationError(fieldErrors)
      }
      if (compiled.detached) {
        this.#runDetached(compiled, name, requestId, args)
        return
      }
      const call: ActionCall = { action: name, requestId, signal: this.#abort.signal }
      const result = (compiled.atomic ?? this.#runtime.atomicRequests)
        ? await this.#atomically(() => compiled.handler(this, args, call))
        : await compiled.handler(this, args, call)
      this.#replyResult(name, requestId, result)
    } catch (err) {
      this.#replyError(name, requestId, err)
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
  #runDetached (compiled: CompiledAction, name: string, requestId: unknown, args: ActionArgs): void {
    const controller = new AbortController()
    this.#detached.set(controller, compiled.name)
    const call: ActionCall = { action: name, requestId, signal: controller.signal }
    const run = async (): Promise<void> => {
      try {
        const result = await compiled.handler(this, args, call)
        if (!controller.signal.aborted) this.#replyResult(name, requestId, result)
      } catch (err) {
        if (!controller.signal.aborted) this.#replyError(name, requestId, err)
      } finally {
        this.#detached.delete(controller)
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
    if (this.#runtime.db === null) throw new errors.DCRF_ERR_NO_DATABASE()
    return this.#runtime.db
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

  async serialize (row: any, action?: string): Promise<unknown> {
    return this.getSerializer(action).toRepresentation(row, this.serializerContext())
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
    this.#sendText!(text)
  }

  #replyResult (name: string, requestId: unknown, result: ActionReturn): void {
    if (result === undefined || result === null) return
    if (typeof result !== 'object') {
      this.#replyError(name, requestId, new TypeError(`action "${name}" must return { data, status } or nothing`))
      return
    }
    this.#write(encodeReply(name, result.data, [], result.status ?? 200, requestId))
  }

  #replyError (name: unknown, requestId: unknown, err: unknown): void {
    const wire = toWireError(this.#fromDatabase(err), this.log)
    this.#write(encodeReply(name, null, wire.errors, wire.status, requestId))
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
    if (this.#closed || this.#groups.has(name)) return
    this.#groups.add(name)
    await this.#runtime.channelLayer.add(name, this)
  }

  async removeGroup (name: string): Promise<void> {
    if (this.#groups.delete(name)) this.#runtime.channelLayer.remove(name, this)
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
    this.#runtime.connections.delete(this)
    for (const group of this.#groups) this.#runtime.channelLayer.remove(group, this)
    this.#groups.clear()
    this.#subscriptions?.clear()
    this.cancelDetached()
    this.#abort.abort()
    const onDisconnect = this.consumer.definition.onDisconnect
    if (onDisconnect) this.#enqueue(() => onDisconnect(this, code))
  }
}
