/**
 * The protections of one socket, shared by the consumers on it: inbound backpressure (stop reading
 * a socket whose queue is full), the frame size limit, the outbound limit (close a client that does
 * not read), the rate limit, and the liveness the heartbeat checks.
 *
 * A server holds thousands of idle sockets, so each costs as little as it can: its listeners are
 * shared by every socket and find the guard on the socket (a closure per socket and event would
 * cost each socket more than the property).
 */
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { Connection, type Runtime } from './connection.js'

/** A WebSocket close code: the message was too big (RFC 6455). */
const MESSAGE_TOO_BIG = 1009
/** A WebSocket close code: the server is overloaded, try again later (RFC 6455 registry). */
export const TRY_AGAIN_LATER = 1013
/** How long a socket closed for being too slow may take to finish its closing handshake. */
const CLOSE_GRACE = 1000
const OPEN = 1

const kGuard = Symbol('fastify-dcrf.guard')

type GuardedSocket = WebSocket & { [kGuard]: SocketGuard }

/**
 * The consumers of one socket: the connection of a plain consumer, or one connection per stream of
 * a multiplexer.
 */
export type Consumers = Connection | Map<string | null, Connection>

export const each = (consumers: Consumers): Iterable<Connection> => consumers instanceof Connection ? [consumers] : consumers.values()

/** What the sockets of one route share. */
export interface Route {
  runtime: Runtime
  maxFrameSize: number
  /** Reads a frame within the size limit and hands it to the socket's consumers. */
  onMessage: (guard: SocketGuard, data: RawData, isBinary: boolean) => void
}

function frameSize (data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

const guardOf = (socket: WebSocket): SocketGuard => (socket as GuardedSocket)[kGuard]

function onMessage (this: WebSocket, data: RawData, isBinary: boolean): void {
  guardOf(this).receive(data, isBinary)
}

function onClose (this: WebSocket, code: number): void {
  guardOf(this).closed(code)
}

/** What @fastify/websocket's default error handler does: log the error, drop the socket. */
function onError (this: WebSocket, err: Error): void {
  guardOf(this).log.error(err)
  this.terminate()
}

export class SocketGuard {
  readonly socket: WebSocket
  readonly consumers: Consumers
  readonly log: FastifyBaseLogger
  #route: Route
  /** The TCP (or TLS) socket under the WebSocket; none for `app.injectWS`, which has no network. */
  #transport: Socket | undefined
  /** The bytes `#transport` had read at the last heartbeat. */
  #lastRead = -1
  #pending = 0
  #paused = false
  #overflowed = false
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
    route.runtime.sockets.add(this)
  }

  /**
   * Takes over handling the socket's errors from @fastify/websocket, doing what its default error
   * handler does: the listener it adds keeps the upgrade's Fastify reply, and with it the HTTP
   * response, for the socket's lifetime. Only when that listener is the socket's only one: with
   * others, which one it is cannot be told, and all are left alone.
   */
  handleErrors (): void {
    const listeners = this.socket.listeners('error') as Array<(err: Error) => void>
    if (listeners.length !== 1) return
    this.socket.removeListener('error', listeners[0]!)
    this.socket.on('error', onError)
  }

  /** A frame arrived: past `maxFrameSize` the socket is closed with 1009. */
  receive (data: RawData, isBinary: boolean): void {
    const { maxFrameSize } = this.#route
    if (frameSize(data) > maxFrameSize) {
      this.log.warn({ size: frameSize(data), maxFrameSize }, 'frame too large; closing')
      this.socket.close(MESSAGE_TOO_BIG, 'Message too big')
      return
    }
    this.#route.onMessage(this, data, isBinary)
  }

  /** The socket closed (or the server is going away): every consumer on it cleans up. */
  closed (code: number): void {
    this.#route.runtime.sockets.delete(this)
    for (const connection of each(this.consumers)) connection.handleClose(code)
  }

  /** Whether one more frame is within the rate limit (always, without one). */
  admit (): boolean {
    const limit = this.#route.runtime.limits.rateLimit
    if (limit === null) return true
    const now = Date.now()
    if (now - this.#windowStart >= limit.timeWindow) {
      this.#windowStart = now
      this.#windowCount = 0
    }
    return ++this.#windowCount <= limit.max
  }

  /** A frame entered a queue: past the limit, stop reading the socket. */
  queued (): void {
    if (++this.#pending >= this.#route.runtime.limits.maxQueuedFrames && !this.#paused) {
      this.#paused = true
      this.socket.pause()
    }
  }

  /** A frame left its queue: once half drained, read again. */
  done (): void {
    this.#pending--
    if (this.#paused && this.#pending <= this.#route.runtime.limits.maxQueuedFrames / 2) {
      this.#paused = false
      this.socket.resume()
    }
  }

  /**
   * Sends a frame, unless the peer stopped reading: past `maxBufferedBytes` waiting to be sent, the
   * socket is closed with 1013 and nothing more is written to it.
   */
  send (text: string): void {
    if (this.#overflowed || this.socket.readyState !== OPEN) return
    const { maxBufferedBytes } = this.#route.runtime.limits
    if (this.socket.bufferedAmount > maxBufferedBytes) {
      this.#overflowed = true
      this.log.warn({ bufferedAmount: this.socket.bufferedAmount, maxBufferedBytes }, 'client too slow: closing the socket')
      this.socket.close(TRY_AGAIN_LATER, 'Client too slow')
      // A peer that reads nothing will not read the close frame either.
      setTimeout(() => this.socket.terminate(), CLOSE_GRACE).unref()
      return
    }
    this.socket.send(text)
  }

  /**
   * Heartbeat: terminates a socket from which nothing arrived since the last beat, not even the
   * answer to its ping; pings the others. Counting the bytes read, rather than listening for pongs,
   * costs an idle socket no listener.
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
