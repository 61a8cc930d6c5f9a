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
import type { Runtime } from './connection.js'
import { resolveOptions } from './options.js'
import { mountConsumer, mountMultiplexer } from './route.js'

/** A WebSocket close code: the server is going away (RFC 6455). */
const GOING_AWAY = 1001

const plugin: FastifyPluginAsync<DcrfOptions> = async function dcrf (fastify, options) {
  const resolved = resolveOptions(options)
  const channelLayer = new ChannelLayer(resolved.channelLayer, fastify.log)
  const runtime: Runtime = { channelLayer, permissions: resolved.permissions, connections: new Set() }

  // Before @fastify/websocket's own preClose (which closes sockets without a code): clients learn
  // that the server is going away, and each connection cleans up.
  fastify.addHook('preClose', (done) => {
    for (const connection of runtime.connections) connection.close(GOING_AWAY, 'Server shutting down')
    done()
  })
  fastify.addHook('onClose', async () => {
    await channelLayer.close()
  })

  if (!fastify.hasDecorator('websocketServer')) {
    const { options: wsOptions, ...rest } = resolved.websocket
    await fastify.register(websocket, { ...rest, options: { maxPayload: resolved.maxFrameSize, ...wsOptions } })
  }

  const facades = new WeakMap<FastifyInstance, DcrfDecorator>()
  // A getter, so that `app.dcrf` read inside an encapsulated context mounts routes there, under
  // that context's hooks.
  fastify.decorate('dcrf', {
    getter (this: FastifyInstance): DcrfDecorator {
      let facade = facades.get(this)
      if (facade === undefined) {
        const instance = this
        facade = {
          consumer (path: string, consumer: AnyConsumer, routeOptions?: ConsumerRouteOptions) {
            mountConsumer(instance, runtime, resolved.maxFrameSize, path, consumer, routeOptions)
          },
          multiplex (path: string, streams: Record<string, AnyConsumer>, routeOptions?: ConsumerRouteOptions) {
            mountMultiplexer(instance, runtime, resolved.maxFrameSize, path, streams, routeOptions)
          },
          groupSend (group: string, message: GroupMessage) {
            return channelLayer.groupSend(group, message)
          },
          channelLayer
        }
        facades.set(this, facade)
      }
      return facade
    }
  })
  fastify.decorateRequest('dcrf', null)
}

export default fp(plugin, { fastify: '5.x', name: 'fastify-dcrf' })

export { defineConsumer, action } from './consumer.js'
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
export type { DcrfErrorCode, FieldErrors } from './errors.js'
export { compileValidator } from './validation.js'
export type * from '../types/index.js'
