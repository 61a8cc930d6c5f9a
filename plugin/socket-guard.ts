/**
 * The protections of one socket, shared by the consumers on it: the frame size limit, the queue
 * limits (stop reading), the rate limit, the outbound limit (close a client that does not read) and
 * the liveness the heartbeat checks. Its listeners are shared by every socket and find the guard on
 * the socket: a closure per socket and event would cost an idle socket more.
 */
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import type { Limits } from './options.js'
import * as diagnostics from './diagnostics.js'
import { frameSize } from './protocol.js'

// WebSocket close codes (RFC 6455 and its registry).
const MESSAGE_TOO_BIG = 1009
const INTERNAL_ERROR = 1011
export const TRY_AGAIN_LATER = 1013
/** How long a socket the server closed has to finish the closing handshake before it is terminated. */
const CLOSE_GRACE = 3000
/** `WebSocket.OPEN`. */
export const OPEN = 1
const CLOSING = 2

const kGuard = Symbol('fastify-dcrf.guard')

type GuardedSocket = WebSocket & { [kGuard]: SocketGuard }

/** What the guard needs of each consumer on its socket. */
export interface SocketConsumer {
  readonly request: FastifyRequest
  /** The socket closed with `code`. */
  handleClose: (code: number) => void
}

/** The consumers of one socket: one of a plain consumer, or one per stream of a multiplexer. */
export type Consumers<C extends SocketConsumer = SocketConsumer> = C | Map<string | null, C>

/** The consumers of one socket, one by one. */
export const each = <C extends SocketConsumer>(consumers: Consumers<C>): Iterable<C> =>
  consumers instanceof Map ? consumers.values() : [consumers]

/** What the sockets of one route share. */
export interface Route {
  limits: Limits
  /** The registration's open sockets, which a guard joins while its socket is open. */
  sockets: Set<SocketGuard>
  maxFrameSize: number
  /**
   * Reads a frame of `size` bytes, within the size limit, and hands it to the socket's consumers,
   * which `release` it once handled; `admitted` is false over the rate limit.
   */
  onMessage: (guard: SocketGuard, data: RawData, isBinary: boolean, size: number, admitted: boolean) => void
}

const guardOf = (socket: WebSocket): SocketGuard => (socket as GuardedSocket)[kGuard]

// Nothing thrown while handling a socket event may reach `ws`: it would rethrow it from its parser.
function onMessage (this: WebSocket, data: RawData, isBinary: boolean): void {
  const guard = guardOf(this)
  try {
    guard.receive(data, isBinary)
  } catch (err) {
    guard.fault(err)
  }
}

function onClose (this: WebSocket, code: number): void {
  const guard = guardOf(this)
  try {
    guard.handleClose(code)
  } catch (err) {
    guard.fault(err)
  }
}

/**
 * @fastify/websocket's default error handler, but the client's own protocol errors (which `ws`
 * answers with 1002, 1007 or 1009) are logged at `info` and the close frame has time to arrive.
 */
function onError (this: WebSocket, err: Error & { code?: string }): void {
  const guard = guardOf(this)
  if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && diagnostics.tooBig.hasSubscribers) guard.frameTooBig()
    guard.log.info({ code: err.code, reason: err.message }, 'client protocol error; closing')
  } else {
    guard.log.error({ err }, 'socket error')
  }
  if (this.readyState === CLOSING) guard.graceThenTerminate()
  else this.terminate()
}

export class SocketGuard {
  readonly socket: WebSocket
  readonly consumers: Consumers
  readonly log: FastifyBaseLogger
  #route: Route
  /** The TCP (or TLS) socket under the WebSocket; none for `app.injectWS`. */
  #transport: Socket | undefined
  /** The bytes `#transport` had read at the last heartbeat. */
  #lastRead = -1
  #pending = 0
  #pendingBytes = 0
  #detached = 0
  #paused = false
  #overflowed = false
  #faulted = false
  #grace: NodeJS.Timeout | null = null
  #drained: Promise<void> | null = null
  #windowStart = 0
  #windowCount = 0

  /** Guards the socket of an upgrade that completed: from now on its frames reach `consumers`. */
  constructor (socket: WebSocket, route: Route, consumers: Consumers, request: FastifyRequest) {
    this.socket = socket
    this.consumers = consumers
    this.log = request.log
    this.#route = route
    this.#transport = request.socket as Socket | undefined
    ;(socket as GuardedSocket)[kGuard] = this
    socket.on('message', onMessage)
    socket.on('close', onClose)
    route.sockets.add(this)
  }

  /**
   * Takes over handling the socket's errors from @fastify/websocket, whose listener keeps the
   * upgrade's reply alive; only when it is the socket's one listener (else it cannot be told apart).
   */
  handleErrors (): void {
    const listeners = this.socket.listeners('error') as Array<(err: Error) => void>
    if (listeners.length !== 1) return
    this.socket.removeListener('error', listeners[0]!)
    this.socket.on('error', onError)
  }

  /**
   * A frame arrived: past `maxFrameSize` the socket is closed with 1009; else it counts against the
   * queue limits until `release` and the rate limit, and is handed on.
   */
  receive (data: RawData, isBinary: boolean): void {
    const { maxFrameSize } = this.#route
    const size = frameSize(data)
    if (diagnostics.frameIn.hasSubscribers) diagnostics.publishFrameIn(diagnostics.routeOfConsumers(this.consumers), size)
    if (size > maxFrameSize) {
      if (diagnostics.tooBig.hasSubscribers) diagnostics.publishTooBig(diagnostics.routeOfConsumers(this.consumers), size, maxFrameSize)
      this.log.info({ size, maxFrameSize }, 'frame too large; closing')
      this.closeAndDrain(MESSAGE_TOO_BIG, 'Message too big')
      return
    }
    this.#hold(size)
    this.#route.onMessage(this, data, isBinary, size, this.#admit())
  }

  /** Reports a frame that `ws` refused for exceeding its `maxPayload` (the plugin's `maxFrameSize`). */
  frameTooBig (): void {
    diagnostics.publishTooBig(diagnostics.routeOfConsumers(this.consumers), null, this.#route.maxFrameSize)
  }

  /** The socket closed (or the server is going away): every consumer on it cleans up. */
  handleClose (code: number): void {
    if (this.#grace !== null && this.socket.readyState === 3) clearTimeout(this.#grace)
    this.#route.sockets.delete(this)
    if (diagnostics.connectionClose.hasSubscribers) {
      diagnostics.connectionClosed(diagnostics.routeOfConsumers(this.consumers), code, diagnostics.requestOfConsumers(this.consumers), this)
    }
    for (const connection of each(this.consumers)) connection.handleClose(code)
  }

  /** An exception escaped the handling of a socket event (a fault of the server): logged once, closed with 1011. */
  fault (err: unknown): void {
    if (this.#faulted) return
    this.#faulted = true
    this.log.error({ err }, 'unexpected error while handling a socket event; closing the socket')
    this.closeAndDrain(INTERNAL_ERROR, 'Internal error')
  }

  /** Closes the socket with `code`, giving a peer that reads time to receive the close frame. */
  closeAndDrain (code: number, reason: string): void {
    if (this.socket.readyState === OPEN) this.socket.close(code, reason)
    this.graceThenTerminate()
  }

  /** After the server sent its close frame: terminates the socket unless closed within the grace. */
  graceThenTerminate (): void {
    if (this.#grace !== null) return
    this.#grace = setTimeout(() => this.socket.terminate(), CLOSE_GRACE)
    this.#grace.unref()
  }

  /** Whether one more frame is within the rate limit (always, without one). */
  #admit (): boolean {
    const limit = this.#route.limits.rateLimit
    if (limit === null) return true
    const now = Date.now()
    if (now - this.#windowStart >= limit.timeWindow) {
      this.#windowStart = now
      this.#windowCount = 0
    }
    return ++this.#windowCount <= limit.max
  }

  /** Counts a frame of `size` bytes until its `release`: past a queue limit, stop reading the socket. */
  #hold (size: number): void {
    const limits = this.#route.limits
    this.#pendingBytes += size
    if ((++this.#pending >= limits.maxQueuedFrames || this.#pendingBytes >= limits.maxQueuedBytes) && !this.#paused) {
      this.#paused = true
      this.socket.pause()
      if (diagnostics.paused.hasSubscribers) diagnostics.publishPaused(diagnostics.routeOfConsumers(this.consumers), true)
    }
  }

  /** A frame of `size` bytes was handled (or its detached action ended): once half drained, read again. */
  release (size: number): void {
    const limits = this.#route.limits
    this.#pending--
    this.#pendingBytes -= size
    if (this.#paused && this.#pending <= limits.maxQueuedFrames / 2 && this.#pendingBytes <= limits.maxQueuedBytes / 2) {
      this.#paused = false
      this.socket.resume()
      if (diagnostics.paused.hasSubscribers) diagnostics.publishPaused(diagnostics.routeOfConsumers(this.consumers), false)
    }
  }

  /**
   * `null` while the replies waiting to be sent are under half of `maxBufferedBytes`; else a promise
   * that settles once they drained or the socket closed. Not drained within CLOSE_GRACE: 1013.
   */
  congestion (): Promise<void> | null {
    const transport = this.#transport
    if (transport === undefined || this.socket.bufferedAmount <= this.#route.limits.maxBufferedBytes / 2) return null
    this.#drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        transport.removeListener('drain', done)
        transport.removeListener('close', done)
        this.#drained = null
        resolve()
      }
      const timer = setTimeout(() => {
        if (this.socket.bufferedAmount > this.#route.limits.maxBufferedBytes / 2) this.#tooSlow()
        done()
      }, CLOSE_GRACE)
      timer.unref()
      transport.once('drain', done)
      transport.once('close', done)
    })
    return this.#drained
  }

  /** Whether one more detached action may start on this socket; if so it counts until `endDetached`. */
  startDetached (): boolean {
    if (this.#detached >= this.#route.limits.maxDetachedActions) return false
    this.#detached++
    return true
  }

  /** A detached action started by a frame of `size` bytes ended. */
  endDetached (size: number): void {
    this.#detached--
    this.release(size)
  }

  /** Sends a frame; past `maxBufferedBytes` waiting to be sent, closes the socket with 1013 instead. */
  send (text: string): void {
    if (this.#overflowed || this.socket.readyState !== OPEN) return
    const { maxBufferedBytes } = this.#route.limits
    if (this.socket.bufferedAmount > maxBufferedBytes) {
      this.#tooSlow()
      return
    }
    if (diagnostics.frameOut.hasSubscribers) diagnostics.publishFrameOut(diagnostics.routeOfConsumers(this.consumers), text)
    this.socket.send(text)
  }

  #tooSlow (): void {
    if (this.#overflowed) return
    this.#overflowed = true
    const { maxBufferedBytes } = this.#route.limits
    if (diagnostics.slowClose.hasSubscribers) diagnostics.publishSlowClose(diagnostics.routeOfConsumers(this.consumers), this.socket.bufferedAmount, maxBufferedBytes)
    this.log.info({ bufferedAmount: this.socket.bufferedAmount, maxBufferedBytes }, 'client too slow: closing the socket')
    this.closeAndDrain(TRY_AGAIN_LATER, 'Client too slow')
  }

  /**
   * Heartbeat: terminates a socket from which nothing arrived since the last beat, not even the
   * answer to its ping; pings the others. Bytes read, not pongs: an idle socket needs no listener.
   */
  beat (): void {
    if (this.#transport === undefined) return
    const read = this.#transport.bytesRead
    if (read === this.#lastRead) {
      this.log.info('no answer to the last ping: terminating the socket')
      this.socket.terminate()
      return
    }
    this.#lastRead = read
    if (this.socket.readyState === OPEN) this.socket.ping()
  }
}
