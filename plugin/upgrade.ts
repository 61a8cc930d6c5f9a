/**
 * The WebSocket upgrade of a consumer route: the clock that bounds a handshake from the TCP accept
 * to the open socket, and what is let go of once the socket is open.
 */
import { Server as HttpServer, type IncomingMessage } from 'node:http'
import { Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Runtime } from './runtime.js'
import type { SocketGuard } from './socket-guard.js'

interface Clock {
  timer: NodeJS.Timeout
  stop: () => void
  /** What is logged when the clock runs out. */
  expired: () => void
}

/** The handshake clocks running, by request: forgotten when the handshake completes. */
const handshakes = new WeakMap<FastifyRequest, Clock>()
/** The clocks of connections that have not sent complete request headers yet. */
const connecting = new WeakMap<Socket, Clock>()

function startClock (socket: Socket, timeout: number, expired: () => void): Clock {
  const clock: Clock = {
    timer: setTimeout(() => {
      clock.expired()
      socket.destroy()
    }, timeout),
    stop: () => clearTimeout(clock.timer),
    expired
  }
  clock.timer.unref()
  socket.once('close', clock.stop)
  return clock
}

function stopClock (socket: Socket, clock: Clock): void {
  clearTimeout(clock.timer)
  socket.removeListener('close', clock.stop)
}

/**
 * Starts a clock on every connection the server accepts, stopped once its request headers are in:
 * Node's own headers timeout lets a half-sent upgrade request live about 90 s.
 */
export function watchConnections (server: unknown, timeout: number, log: FastifyBaseLogger): void {
  // HTTP/2 servers upgrade nothing; a custom server is its owner's to police.
  if (!(server instanceof HttpServer) && !(server instanceof HttpsServer)) return
  const event = server instanceof HttpsServer ? 'secureConnection' : 'connection'
  server.on(event, (socket: Socket) => {
    connecting.set(socket, startClock(socket, timeout, () => log.info({ timeout }, 'request headers not received in time: dropping the connection')))
  })
  server.on('request', (request: IncomingMessage) => {
    const clock = connecting.get(request.socket)
    if (clock === undefined) return
    connecting.delete(request.socket)
    stopClock(request.socket, clock)
  })
}

/**
 * Times the handshake of an upgrade request (route hooks and connect checks included), going on
 * with the clock of its connection: a socket not upgraded within `timeout` ms is dropped.
 */
export function startHandshakeClock (request: FastifyRequest, timeout: number): void {
  const socket = request.raw.socket as Socket | undefined
  // `app.injectWS` upgrades have no socket, and nothing to time out.
  if (timeout === 0 || socket === undefined || request.headers.upgrade?.toLowerCase() !== 'websocket') return
  const expired = (): void => request.log.info({ timeout }, 'WebSocket handshake timed out: dropping the socket')
  const running = connecting.get(socket)
  if (running !== undefined) {
    connecting.delete(socket)
    running.expired = expired
  }
  handshakes.set(request, running ?? startClock(socket, timeout, expired))
}

/** Stops the handshake clock and forgets it: an open connection keeps nothing of it. */
export function stopHandshakeClock (request: FastifyRequest): void {
  const handshake = handshakes.get(request)
  if (handshake === undefined) return
  handshakes.delete(request)
  stopClock(request.raw.socket, handshake)
}

/**
 * Lets go of what the upgrade left behind that an open socket does not need (a quarter of an idle
 * connection's memory, bench/README.md). The Fastify request stays: it is the consumers' `ctx.request`.
 */
export function releaseUpgrade (runtime: Runtime, guard: SocketGuard, request: FastifyRequest, reply: FastifyReply): void {
  // The response was never sent: it held the socket only so that a hook could refuse with a status.
  const res = reply.raw
  if (res.socket != null) res.detachSocket(res.socket)
  // @fastify/websocket keeps the upgrade's `head` (a slice pinning the socket's first read) under a
  // symbol it does not export. Set, not deleted: deleting would make the request a dictionary-mode object.
  const raw = request.raw as unknown as Record<symbol, unknown>
  for (const key of Object.getOwnPropertySymbols(raw)) {
    if (key.description === 'ws-head') raw[key] = undefined
  }
  // @fastify/websocket's error listener keeps the reply; unless the application chose its own
  // handling, the guard takes it over.
  if (runtime.defaultErrorHandler) guard.handleErrors()
  shareHeaders(runtime.sharedTexts, request.raw)
}

// A connection keeps its headers as long as it lives (`ctx.request.headers`); the texts most
// connections repeat are kept once per registration, the first MAX_SHARED seen, so clients cannot grow it.
const MAX_SHARED = 1000
const MAX_SHARED_LENGTH = 256
/** The headers whose values repeat across connections: never a key, a cookie or a credential. */
const REPEATED_VALUES = new Set([
  'host', 'connection', 'upgrade', 'origin', 'user-agent', 'pragma', 'cache-control', 'accept-encoding',
  'accept-language', 'sec-websocket-version', 'sec-websocket-extensions'
])

function share (sharedTexts: Map<string, string>, text: string): string {
  const copy = sharedTexts.get(text)
  if (copy !== undefined) return copy
  if (sharedTexts.size < MAX_SHARED && text.length <= MAX_SHARED_LENGTH) sharedTexts.set(text, text)
  return text
}

/** Swaps the request's header texts for their shared copies: the same text, nothing else changes. */
function shareHeaders (sharedTexts: Map<string, string>, raw: IncomingMessage): void {
  const { rawHeaders, headers } = raw
  // `app.injectWS` upgrades are plain objects, without raw headers.
  if (rawHeaders === undefined) return
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] = share(sharedTexts, rawHeaders[i])
    const key = name.toLowerCase()
    if (!REPEATED_VALUES.has(key)) continue
    const value = rawHeaders[i + 1] = share(sharedTexts, rawHeaders[i + 1])
    if (headers[key] === value) headers[key] = value
  }
}
