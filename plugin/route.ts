/**
 * Mounting consumers on WebSocket routes. The route's Fastify hooks, then the consumers' connect
 * checks, run before the upgrade: any of them can refuse the handshake with an HTTP status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler } from 'fastify'
import { getTableName } from 'drizzle-orm'
import type { WebSocket } from 'ws'
import type { AnyConsumer, ConsumerRouteOptions } from '../types/index.js'
import { ConsumerInstance } from './consumer-instance.js'
import type { Runtime } from './runtime.js'
import { compileConsumer } from './consumer.js'
import { subscribeInstance } from './mixins/instance.js'
import { errors } from './errors.js'
import { checkAll } from './permissions.js'
import { encodeReply, isPlainObject, parseFrame, streamEnvelope, toWireError } from './protocol.js'
import { connectionClose, connectionOpen, connectionOpened, refusedHook } from './diagnostics.js'
import { each, SocketGuard, type Consumers, type Route } from './socket-guard.js'
import { releaseUpgrade, stopHandshakeClock } from './upgrade.js'

// From the connect checks to the WebSocket handler, which forgets it: the request gains no property of ours.
const upgrades = new WeakMap<FastifyRequest, { consumers: Consumers<ConsumerInstance>, reply: FastifyReply }>()

async function checkConnect (runtime: Runtime, instances: Iterable<ConsumerInstance>): Promise<void> {
  for (const instance of instances) {
    const permissions = instance.consumer.permissions ?? runtime.permissions
    if (!await checkAll(permissions, 'canConnect', instance, '', {})) {
      throw new errors.DCRF_ERR_PERMISSION_DENIED()
    }
  }
}

// A plain consumer is the one stream `null`.
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
      const instance = new ConsumerInstance(runtime, single, request, app, null)
      await checkConnect(runtime, [instance])
      request.dcrf = instance
      upgrades.set(request, { consumers: instance, reply })
      return
    }
    const instances = new Map<string | null, ConsumerInstance>()
    for (const [name, consumer] of compiled) {
      instances.set(name, new ConsumerInstance(runtime, consumer, request, app, name))
    }
    await checkConnect(runtime, instances.values())
    upgrades.set(request, { consumers: instances, reply })
  }

  const userPreHandler = routeOptions.preHandler
  const preHandler = [
    ...(userPreHandler === undefined ? [] : Array.isArray(userPreHandler) ? userPreHandler : [userPreHandler]),
    connect
  ] as preHandlerHookHandler[]
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
      stopHandshakeClock(request)
      const { consumers, reply } = upgrades.get(request)!
      upgrades.delete(request)
      const guard = new SocketGuard(socket, route, consumers, request)
      if (connectionOpen.hasSubscribers || connectionClose.hasSubscribers) connectionOpened(request.routeOptions.url ?? path, request, guard)
      for (const instance of each(consumers)) instance.open(socket, guard)
      releaseUpgrade(runtime, guard, request, reply)
    }
  } as never)
}

/** Mounts one consumer on `path`. */
export function mountConsumer (app: FastifyInstance, runtime: Runtime, maxFrameSize: number, path: string, consumer: AnyConsumer, routeOptions: ConsumerRouteOptions = {}): void {
  mountRoute(app, runtime, maxFrameSize, path, new Map([[null, consumer]]), routeOptions, (guard, data, isBinary, size, admitted) => {
    const instance = guard.consumers as ConsumerInstance
    let frame: Record<string, unknown>
    try {
      frame = parseFrame(data, isBinary, runtime.limits.maxDepth)
    } catch (err) {
      instance.receiveError(err as Error, size)
      return
    }
    instance.receive(frame, size, admitted)
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
  mountRoute(app, runtime, maxFrameSize, path, new Map(Object.entries(streams)), routeOptions, (guard, data, isBinary, size, admitted) => {
    const instances = guard.consumers as Map<string | null, ConsumerInstance>
    const log = guard.log
    const unrouted = (err: Error): void => {
      guard.release(size)
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
    const instance = instances.get(stream)
    if (instance === undefined) {
      guard.release(size)
      const wire = toWireError(new errors.DCRF_ERR_UNKNOWN_STREAM(stream), log)
      const p = isPlainObject(payload) ? payload : {}
      guard.send(streamEnvelope(stream) + encodeReply(p.action ?? null, null, wire.errors, wire.status, p.request_id ?? null) + '}')
      return
    }
    if (!isPlainObject(payload)) {
      instance.receiveError(new errors.DCRF_ERR_NOT_AN_OBJECT(), size)
      return
    }
    instance.receive(payload, size, admitted)
  })
}
