/**
 * Mounting consumers on WebSocket routes. The route's own Fastify hooks (and those of its
 * encapsulation context) run before the upgrade, then the consumers' connect checks: any of them can
 * refuse the handshake with an HTTP status before a consumer sees the connection.
 */
import { Server as HttpServer, type IncomingMessage } from 'node:http'
import { Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler } from 'fastify'
import { getTableName } from 'drizzle-orm'
import type { WebSocket } from 'ws'
import type { AnyConsumer, ConsumerRouteOptions } from '../types/index.js'
import { Connection } from './connection.js'
import type { Runtime } from './runtime.js'
import { compileConsumer } from './consumer.js'
import { subscribeInstance } from './mixins/instance.js'
import { errors } from './errors.js'
import { checkAll } from './permissions.js'
import { encodeReply, isPlainObject, parseFrame, streamEnvelope, toWireError } from './protocol.js'
import { connectionClose, connectionOpen, connectionOpened, refusedHook } from './diagnostics.js'
import { each, SocketGuard, type Consumers, type Route } from './socket-guard.js'

/**
 * What the connect checks hand to the WebSocket handler, by request: the consumers (a plain
 * consumer's connection is `request.dcrf` too), and the reply, whose hold on the socket the handler
 * releases. Forgotten by the handler, so the request gains no property of ours.
 */
const upgrades = new WeakMap<FastifyRequest, { consumers: Consumers<Connection>, reply: FastifyReply }>()

/** Runs the connect checks of every consumer of the route; throws the refusal (401/403). */
async function connectAll (runtime: Runtime, connections: Iterable<Connection>): Promise<void> {
  for (const connection of connections) {
    const permissions = connection.consumer.permissions ?? runtime.permissions
    if (!await checkAll(permissions, 'canConnect', connection, '', {})) {
      throw new errors.DCRF_ERR_PERMISSION_DENIED()
    }
  }
}

/** Registers the GET route whose upgrade serves `streams` (one `null` stream for a plain consumer). */
function mountRoute (
  app: FastifyInstance,
  runtime: Runtime,
  maxFrameSize: number,
  path: string,
  streams: Map<string | null, AnyConsumer>,
  routeOptions: ConsumerRouteOptions,
  onMessage: Route['onMessage']
): void {
  const compiled = new Map([...streams].map(([name, consumer]) => [name, compileConsumer(consumer, name === null ? path : `${path} stream "${name}"`, runtime.compiled)]))
  for (const consumer of compiled.values()) {
    if (consumer.generic !== null) runtime.tables.set(consumer.generic.tableName, consumer.generic.table)
    for (const [name, definition] of Object.entries(consumer.definition.observers ?? {})) {
      runtime.observers.register(definition, name)
      if (definition.kind === 'model') runtime.tables.set(getTableName(definition.table), definition.table)
    }
    if (consumer.generic !== null && [...consumer.actions.values()].some((a) => a.handler === subscribeInstance)) {
      runtime.observers.registerInstanceTable(consumer.generic.tableName)
    }
  }
  if (runtime.db === null) {
    for (const [name, consumer] of compiled) {
      const needsDb = consumer.generic !== null || [...consumer.actions.values()].some((a) => a.atomic === true)
      if (needsDb) throw new errors.DCRF_ERR_INVALID_CONSUMER(name === null ? path : `${path} stream "${name}"`, 'a table or an atomic action needs the plugin\'s `db` option')
    }
  }

  const single = compiled.size === 1 && compiled.has(null) ? compiled.get(null)! : null
  const connect: preHandlerAsyncHookHandler = async function (request, reply) {
    if (!request.ws) return
    if (single !== null) {
      const connection = new Connection(runtime, single, request, app, null)
      await connectAll(runtime, [connection])
      request.dcrf = connection
      upgrades.set(request, { consumers: connection, reply })
      return
    }
    const connections = new Map<string | null, Connection>()
    for (const [name, consumer] of compiled) {
      connections.set(name, new Connection(runtime, consumer, request, app, name))
    }
    await connectAll(runtime, connections.values())
    upgrades.set(request, { consumers: connections, reply })
  }

  const userPreHandler = routeOptions.preHandler
  const preHandler = [
    ...(userPreHandler === undefined ? [] : Array.isArray(userPreHandler) ? userPreHandler : [userPreHandler]),
    connect
  ] as preHandlerHookHandler[]
  // A refused upgrade is the route's only response (an accepted one is hijacked): reported to diagnostics.
  const userOnResponse = routeOptions.onResponse
  const onResponse = [...(userOnResponse === undefined ? [] : Array.isArray(userOnResponse) ? userOnResponse : [userOnResponse]), refusedHook(path)]

  const route: Route = { limits: runtime.limits, sockets: runtime.sockets, maxFrameSize, onMessage }
  app.route({
    ...routeOptions,
    method: 'GET',
    url: path,
    preHandler,
    onResponse,
    websocket: true,
    // Synchronous on purpose: a listener attached after an await would miss the first frames.
    handler: (socket: WebSocket, request: FastifyRequest) => {
      handshakeDone(request)
      const { consumers, reply } = upgrades.get(request)!
      upgrades.delete(request)
      const guard = new SocketGuard(socket, route, consumers, request)
      if (connectionOpen.hasSubscribers || connectionClose.hasSubscribers) connectionOpened(request.routeOptions.url ?? path, request, guard)
      for (const connection of each(consumers)) connection.open(socket, guard)
      release(runtime, guard, request, reply)
    }
  } as never)
}

/**
 * Lets go of what the upgrade left behind that an open socket does not need: a quarter of an idle
 * connection's memory otherwise. The Fastify request (headers, query, params, `request.user`) stays:
 * it is the consumers' `ctx.request`.
 */
function release (runtime: Runtime, guard: SocketGuard, request: FastifyRequest, reply: FastifyReply): void {
  // The HTTP response was never sent: @fastify/websocket gave it the socket only so that a hook could
  // refuse the upgrade with a status. The socket (and `ws`, which owns it now) no longer needs it.
  const res = reply.raw
  if (res.socket != null) res.detachSocket(res.socket)
  // @fastify/websocket keeps the upgrade's `head` on the raw request: a slice of the socket's first
  // read, which keeps that whole chunk alive. `ws` has consumed it. Its symbol is not exported: found
  // by name, and a version without it leaves nothing to do. Set, not deleted: deleting a property
  // would make the request a slower, bigger dictionary-mode object.
  const raw = request.raw as unknown as Record<symbol, unknown>
  for (const key of Object.getOwnPropertySymbols(raw)) {
    if (key.description === 'ws-head') raw[key] = undefined
  }
  // The error listener @fastify/websocket adds keeps the reply. Unless the application chose how
  // socket errors are handled (its own @fastify/websocket, or an errorHandler), the guard handles them.
  if (runtime.defaultErrorHandler) guard.handleErrors()
  shareHeaders(runtime.sharedTexts, request.raw)
}

/**
 * Header texts most connections repeat (the names, `websocket`, the host, the user agent…), one copy
 * for all the connections of a registration (`runtime.sharedTexts`): a connection keeps its headers
 * as long as it lives (`ctx.request.headers`), and copies of its own would cost it more than all the
 * rest of its request. At most MAX_SHARED texts of at most MAX_SHARED_LENGTH characters, the first
 * seen: clients sending new ones cannot grow it.
 */
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
 * Node's own headers timeout lets a half-sent upgrade request live about 90 s, and the handshake
 * (headers, route hooks and connect checks) is bounded by `timeout` from the first byte.
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
 * Starts the handshake clock of an upgrade request, or goes on with the clock of its connection: a
 * socket whose upgrade (route hooks and connect checks included) is not done within `timeout` ms is
 * dropped, so idle or stalled handshakes cannot pile up.
 */
export function handshakeStarted (request: FastifyRequest, timeout: number): void {
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

/** Stops the handshake clock, and lets go of it: an open connection keeps nothing of it. */
function handshakeDone (request: FastifyRequest): void {
  const handshake = handshakes.get(request)
  if (handshake === undefined) return
  handshakes.delete(request)
  stopClock(request.raw.socket, handshake)
}

/** Mounts one consumer on `path`. */
export function mountConsumer (app: FastifyInstance, runtime: Runtime, maxFrameSize: number, path: string, consumer: AnyConsumer, routeOptions: ConsumerRouteOptions = {}): void {
  mountRoute(app, runtime, maxFrameSize, path, new Map([[null, consumer]]), routeOptions, (guard, data, isBinary, size) => {
    const connection = guard.consumers as Connection
    let frame: Record<string, unknown>
    try {
      frame = parseFrame(data, isBinary, runtime.limits.maxDepth)
    } catch (err) {
      connection.receiveError(err as Error)
      return
    }
    connection.receive(frame, size)
  })
}

/**
 * Mounts several consumers on `path`, one per stream name (DCRF's `channelsmultiplexer`). Each
 * stream has its own consumer context and ordered queue; frames travel as `{"stream", "payload"}`.
 */
export function mountMultiplexer (app: FastifyInstance, runtime: Runtime, maxFrameSize: number, path: string, streams: Record<string, AnyConsumer>, routeOptions: ConsumerRouteOptions = {}): void {
  if (typeof streams !== 'object' || streams === null || Object.keys(streams).length === 0) {
    throw new errors.DCRF_ERR_INVALID_CONSUMER(path, 'a multiplexer needs at least one stream')
  }
  mountRoute(app, runtime, maxFrameSize, path, new Map(Object.entries(streams)), routeOptions, (guard, data, isBinary, size) => {
    const connections = guard.consumers as Map<string | null, Connection>
    const log = guard.log
    // Errors that belong to no stream are answered outside the envelope.
    const unrouted = (err: Error): void => {
      const wire = toWireError(err, log)
      guard.send(encodeReply(null, null, wire.errors, wire.status, null))
    }
    let frame: Record<string, unknown>
    try {
      frame = parseFrame(data, isBinary, runtime.limits.maxDepth)
    } catch (err) {
      unrouted(err as Error)
      return
    }
    const stream = frame.stream
    if (typeof stream !== 'string' || !('payload' in frame)) {
      unrouted(new errors.DCRF_ERR_BAD_STREAM_FRAME())
      return
    }
    const payload = frame.payload
    const connection = connections.get(stream)
    if (connection === undefined) {
      const wire = toWireError(new errors.DCRF_ERR_UNKNOWN_STREAM(stream), log)
      const p = isPlainObject(payload) ? payload : {}
      guard.send(streamEnvelope(stream) + encodeReply(p.action ?? null, null, wire.errors, wire.status, p.request_id ?? null) + '}')
      return
    }
    if (!isPlainObject(payload)) {
      connection.receiveError(new errors.DCRF_ERR_NOT_AN_OBJECT())
      return
    }
    connection.receive(payload, size)
  })
}
