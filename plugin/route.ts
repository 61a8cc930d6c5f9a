/**
 * Mounting consumers on WebSocket routes. The route's own Fastify hooks (and those of its
 * encapsulation context) run before the upgrade, then the consumers' connect checks: any of them can
 * refuse the handshake with an HTTP status before a consumer sees the connection.
 */
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler } from 'fastify'
import { getTableName } from 'drizzle-orm'
import type { RawData, WebSocket } from 'ws'
import type { AnyConsumer, ConsumerRouteOptions } from '../types/index.js'
import { Connection, type Runtime } from './connection.js'
import { compileConsumer } from './consumer.js'
import { subscribeInstance } from './mixins/instance.js'
import { errors } from './errors.js'
import { checkAll } from './permissions.js'
import { encodeReply, isPlainObject, parseFrame, toWireError } from './protocol.js'
import { SocketGuard } from './socket-guard.js'

/** A WebSocket close code: the message was too big (RFC 6455). */
const MESSAGE_TOO_BIG = 1009

const kConnections = Symbol('fastify-dcrf.connections')

/**
 * The consumers of one socket: the connection of a plain consumer (kept as `request.dcrf`, so the
 * request gains no property of ours), or one connection per stream of a multiplexer.
 */
type Consumers = Connection | Map<string | null, Connection>

type UpgradeRequest = FastifyRequest & { [kConnections]?: Map<string | null, Connection> }

const each = (consumers: Consumers): Iterable<Connection> => consumers instanceof Connection ? [consumers] : consumers.values()

/** Runs the connect checks of every consumer of the route; throws the refusal (401/403). */
async function connectAll (runtime: Runtime, connections: Iterable<Connection>): Promise<void> {
  for (const connection of connections) {
    const permissions = connection.consumer.permissions ?? runtime.permissions
    if (!await checkAll(permissions, 'canConnect', connection, '', {})) {
      throw new errors.DCRF_ERR_PERMISSION_DENIED()
    }
  }
}

function frameSize (data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** Registers the GET route whose upgrade serves `streams` (one `null` stream for a plain consumer). */
function mountRoute (
  app: FastifyInstance,
  runtime: Runtime,
  maxFrameSize: number,
  path: string,
  streams: Map<string | null, AnyConsumer>,
  routeOptions: ConsumerRouteOptions,
  onMessage: (guard: SocketGuard, consumers: Consumers, data: RawData, isBinary: boolean) => void
): void {
  const compiled = new Map([...streams].map(([name, consumer]) => [name, compileConsumer(consumer, name === null ? path : `${path} stream "${name}"`)]))
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
  const connect: preHandlerAsyncHookHandler = async function (request) {
    if (!request.ws) return
    if (single !== null) {
      const connection = new Connection(runtime, single, request, app, null)
      await connectAll(runtime, [connection])
      request.dcrf = connection
      return
    }
    const connections = new Map<string | null, Connection>()
    for (const [name, consumer] of compiled) {
      connections.set(name, new Connection(runtime, consumer, request, app, name))
    }
    await connectAll(runtime, connections.values())
    ;(request as UpgradeRequest)[kConnections] = connections
  }

  const userPreHandler = routeOptions.preHandler
  const preHandler = [
    ...(userPreHandler === undefined ? [] : Array.isArray(userPreHandler) ? userPreHandler : [userPreHandler]),
    connect
  ] as preHandlerHookHandler[]

  app.route({
    ...routeOptions,
    method: 'GET',
    url: path,
    preHandler,
    websocket: true,
    // Synchronous on purpose: a listener attached after an await would miss the first frames.
    handler: (socket: WebSocket, request: FastifyRequest) => {
      handshakeDone(request)
      const consumers: Consumers = single !== null ? request.dcrf as Connection : (request as UpgradeRequest)[kConnections]!
      const guard = new SocketGuard(socket, runtime.limits, request.log)
      runtime.sockets.add(guard)
      for (const connection of each(consumers)) connection.open(socket, guard)
      socket.on('message', (data, isBinary) => {
        if (frameSize(data) > maxFrameSize) {
          request.log.warn({ size: frameSize(data), maxFrameSize }, 'frame too large; closing')
          socket.close(MESSAGE_TOO_BIG, 'Message too big')
          return
        }
        onMessage(guard, consumers, data, isBinary)
      })
      socket.on('close', (code) => {
        runtime.sockets.delete(guard)
        for (const connection of each(consumers)) connection.handleClose(code)
      })
    }
  } as never)
}

/** A frame of a stream of a multiplexed socket, around the payload's text. */
function inStream (stream: string, text: string): string {
  return `{"stream":${JSON.stringify(stream)},"payload":${text}}`
}

/** The handshake clocks running, by request: forgotten when the handshake completes. */
const handshakes = new WeakMap<FastifyRequest, { timer: NodeJS.Timeout, stop: () => void }>()

/**
 * Starts the handshake clock of an upgrade request: a socket whose upgrade (route hooks and connect
 * checks included) is not done within `timeout` ms is dropped, so idle or stalled handshakes cannot
 * pile up.
 */
export function handshakeStarted (request: FastifyRequest, timeout: number): void {
  if (timeout === 0 || request.headers.upgrade?.toLowerCase() !== 'websocket') return
  const socket = request.raw.socket
  const timer = setTimeout(() => {
    request.log.warn({ timeout }, 'WebSocket handshake timed out: dropping the socket')
    socket.destroy()
  }, timeout)
  timer.unref()
  const stop = (): void => clearTimeout(timer)
  socket.once('close', stop)
  handshakes.set(request, { timer, stop })
}

/** Stops the handshake clock, and lets go of it: an open connection keeps nothing of it. */
function handshakeDone (request: FastifyRequest): void {
  const handshake = handshakes.get(request)
  if (handshake === undefined) return
  handshakes.delete(request)
  clearTimeout(handshake.timer)
  request.raw.socket.removeListener('close', handshake.stop)
}

/** Mounts one consumer on `path`. */
export function mountConsumer (app: FastifyInstance, runtime: Runtime, maxFrameSize: number, path: string, consumer: AnyConsumer, routeOptions: ConsumerRouteOptions = {}): void {
  mountRoute(app, runtime, maxFrameSize, path, new Map([[null, consumer]]), routeOptions, (_guard, consumers, data, isBinary) => {
    const connection = consumers as Connection
    let frame: Record<string, unknown>
    try {
      frame = parseFrame(data, isBinary)
    } catch (err) {
      connection.receiveError(err as Error)
      return
    }
    connection.receive(frame)
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
  mountRoute(app, runtime, maxFrameSize, path, new Map(Object.entries(streams)), routeOptions, (guard, consumers, data, isBinary) => {
    const connections = consumers as Map<string | null, Connection>
    const log = connections.values().next().value!.log
    // Errors that belong to no stream are answered outside the envelope.
    const unrouted = (err: Error): void => {
      const wire = toWireError(err, log)
      guard.send(encodeReply(null, null, wire.errors, wire.status, null))
    }
    let frame: Record<string, unknown>
    try {
      frame = parseFrame(data, isBinary)
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
      guard.send(inStream(stream, encodeReply(p.action ?? null, null, wire.errors, wire.status, p.request_id ?? null)))
      return
    }
    if (!isPlainObject(payload)) {
      connection.receiveError(new errors.DCRF_ERR_NOT_AN_OBJECT())
      return
    }
    connection.receive(payload)
  })
}
