/**
 * fastify-dcrf: WebSocket APIs written like REST viewsets, speaking the djangochannelsrestframework
 * (DCRF) protocol.
 *
 * @example
 * await app.register(dcrf)
 * app.dcrf.consumer('/ws/echo/', defineConsumer({ actions: { echo: (ctx, args) => ({ data: args }) } }))
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { AnyConsumer, ConsumerRouteOptions, DcrfDecorator, DcrfOptions, GroupMessage } from '../types/index.js'
import { ChannelLayer } from './channel-layer.js'
import { captureChanges } from './observer/capture.js'
import { ObserverHub } from './observer/hub.js'
import { DeliveryCache } from './observer/delivery.js'
import { ExternalChanges } from './observer/external.js'
import { databaseOf, type Runtime } from './runtime.js'
import { resolveOptions } from './options.js'
import { checkAsyncApiOptions, Mounts } from './asyncapi.js'
import { mountConsumer, mountMultiplexer } from './route.js'
import { startHandshakeClock, watchConnections } from './upgrade.js'

const GOING_AWAY = 1001

const plugin: FastifyPluginAsync<DcrfOptions> = async function dcrf (fastify, options) {
  const resolved = resolveOptions(options)
  const asyncapi = checkAsyncApiOptions(options.asyncapi)
  const registersWebsocket = !fastify.hasDecorator('websocketServer')
  const channelLayer = new ChannelLayer(resolved.channelLayer, fastify.log)
  const observers = new ObserverHub(channelLayer, fastify.log)
  const runtime: Runtime = {
    channelLayer,
    permissions: resolved.permissions,
    // Tables nobody observes are not captured at all.
    db: resolved.db === null
      ? null
      : captureChanges(resolved.db, (events) => observers.publishChanges(events), { capture: (table) => observers.observes(table) }),
    atomicRequests: resolved.atomicRequests,
    observers,
    limits: resolved.limits,
    sockets: new Set(),
    defaultErrorHandler: registersWebsocket && resolved.websocket.errorHandler === undefined,
    tables: new Map(),
    compiled: new WeakMap(),
    sharedTexts: new Map(),
    delivery: new DeliveryCache()
  }
  const mounts = new Mounts(runtime.compiled)

  const { handshakeTimeout, heartbeatInterval } = resolved.limits
  if (handshakeTimeout > 0) {
    watchConnections(fastify.server, handshakeTimeout, fastify.log)
    fastify.addHook('onRequest', (request, _reply, done) => {
      startHandshakeClock(request, handshakeTimeout)
      done()
    })
  }
  if (heartbeatInterval > 0) {
    const heartbeat = setInterval(() => {
      for (const guard of runtime.sockets) {
        try {
          guard.beat()
        } catch (err) {
          guard.fault(err)
        }
      }
    }, heartbeatInterval)
    heartbeat.unref()
    fastify.addHook('onClose', (_instance, done) => {
      clearInterval(heartbeat)
      done()
    })
  }

  // Before @fastify/websocket's own preClose, which closes sockets without a code.
  fastify.addHook('preClose', (done) => {
    for (const guard of runtime.sockets) {
      guard.closeAndDrain(GOING_AWAY, 'Server shutting down')
      // Not waiting for the closing handshake: detached work stops and groups are left now.
      guard.handleClose(GOING_AWAY)
    }
    done()
  })
  if (resolved.externalChanges !== null && resolved.db !== null) {
    const external = new ExternalChanges({ db: resolved.db, hub: observers, log: fastify.log, options: resolved.externalChanges })
    await external.start()
    // Before the channel layer closes: notifications already heard are still handed on.
    fastify.addHook('onClose', () => external.stop())
  }
  fastify.addHook('onReady', () => channelLayer.ready())
  fastify.addHook('onClose', async () => {
    await channelLayer.close()
  })

  if (registersWebsocket) {
    const { options: wsOptions, ...rest } = resolved.websocket
    await fastify.register(websocket, { ...rest, options: { maxPayload: resolved.maxFrameSize, ...wsOptions } })
  }

  const facades = new WeakMap<FastifyInstance, DcrfDecorator>()
  // A getter, so that `app.dcrf` read inside an encapsulated context mounts routes under its hooks.
  fastify.decorate('dcrf', {
    getter (this: FastifyInstance): DcrfDecorator {
      let facade = facades.get(this)
      if (facade === undefined) {
        const instance = this
        facade = {
          consumer (path: string, consumer: AnyConsumer, routeOptions?: ConsumerRouteOptions) {
            mountConsumer(instance, runtime, resolved.maxFrameSize, path, consumer, routeOptions)
            mounts.add(instance.prefix + path, new Map([[null, consumer]]))
          },
          multiplex (path: string, streams: Record<string, AnyConsumer>, routeOptions?: ConsumerRouteOptions) {
            mountMultiplexer(instance, runtime, resolved.maxFrameSize, path, streams, routeOptions)
            mounts.add(instance.prefix + path, new Map(Object.entries(streams)))
          },
          groupSend (group: string, message: GroupMessage) {
            return channelLayer.groupSend(group, message)
          },
          channelLayer,
          signal (signal: string, payload: unknown) {
            return observers.signal(signal, payload)
          },
          get db () {
            return databaseOf(runtime)
          },
          asyncapi () {
            return mounts.document(asyncapi)
          }
        }
        facades.set(this, facade)
      }
      return facade!
    }
  })
  fastify.decorateRequest('dcrf', null)
  if (asyncapi.route !== undefined) fastify.get(asyncapi.route, async () => mounts.document(asyncapi))
}

export default fp(plugin, { fastify: '5.x', name: 'fastify-dcrf' })

export { defineConsumer, action } from './consumer.js'
export { defineStreams } from './streams.js'
export { crud } from './mixins/crud.js'
export * as mixins from './mixins/index.js'
export { paginatedList, streamedList } from './mixins/pagination.js'
export { viewAsConsumer, DEFAULT_VIEW_ACTIONS } from './view-as-consumer.js'
export { serializer } from './serializer.js'
export { databaseValidationError } from './db-errors.js'
export { modelObserver, observer } from './observer/define.js'
export { instanceSubscriptions } from './mixins/instance.js'
export { captureChanges } from './observer/capture.js'
export { externalChangesSql, installExternalChanges } from './observer/external-sql.js'
export { EXTERNAL_CHANGES_GAP } from './observer/external.js'
export { allowAny, isAuthenticated, and, or, not, fromHook } from './permissions.js'
export {
  errors,
  validationError,
  notFound,
  permissionDenied,
  notAuthenticated,
  authenticationFailed,
  throttled
} from './errors.js'
export type { DcrfErrorCode } from './errors.js'
export { compileValidator } from './validation.js'
export { channelNames } from './diagnostics.js'
export type * from '../types/index.js'
