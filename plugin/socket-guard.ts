/**
 * The protections of one socket, shared by the consumers on it: inbound backpressure (stop reading
 * a socket whose queue is full), the outbound limit (close a client that does not read), the rate
 * limit, and the liveness the heartbeat checks.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { Limits } from './options.js'

/** A WebSocket close code: the server is overloaded, try again later (RFC 6455 registry). */
export const TRY_AGAIN_LATER = 1013
/** How long a socket closed for being too slow may take to finish its closing handshake. */
const CLOSE_GRACE = 1000
const OPEN = 1

export class SocketGuard {
  readonly socket: WebSocket
  /** Whether the peer answered the last ping. */
  alive = true
  #limits: Limits
  #log: FastifyBaseLogger
  #pending = 0
  #paused = false
  #overflowed = false
  #windowStart = 0
  #windowCount = 0

  constructor (socket: WebSocket, limits: Limits, log: FastifyBaseLogger) {
    this.socket = socket
    this.#limits = limits
    this.#log = log
    socket.on('pong', () => { this.alive = true })
  }

  /** Whether one more frame is within the rate limit (always, without one). */
  admit (): boolean {
    const limit = this.#limits.rateLimit
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
    if (++this.#pending >= this.#limits.maxQueuedFrames && !this.#paused) {
      this.#paused = true
      this.socket.pause()
    }
  }

  /** A frame left its queue: once half drained, read again. */
  done (): void {
    this.#pending--
    if (this.#paused && this.#pending <= this.#limits.maxQueuedFrames / 2) {
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
    if (this.socket.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#overflowed = true
      this.#log.warn({ bufferedAmount: this.socket.bufferedAmount, maxBufferedBytes: this.#limits.maxBufferedBytes }, 'client too slow: closing the socket')
      this.socket.close(TRY_AGAIN_LATER, 'Client too slow')
      // A peer that reads nothing will not read the close frame either.
      setTimeout(() => this.socket.terminate(), CLOSE_GRACE).unref()
      return
    }
    this.socket.send(text)
  }

  /** Heartbeat: terminates a socket that did not answer the previous ping, pings the others. */
  beat (): void {
    if (!this.alive) {
      this.#log.info('no answer to the last ping: terminating the socket')
      this.socket.terminate()
      return
    }
    this.alive = false
    if (this.socket.readyState === OPEN) this.socket.ping()
  }
}
