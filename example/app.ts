/**
 * The example application: every feature of fastify-dcrf on one Fastify app, built only on the
 * plugin's public API. `server.ts` starts it; the tests build it too.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import dcrf from 'fastify-dcrf'
import { lobby } from './consumers/lobby.js'

export interface ExampleOptions {
  /** `redis://…`: share groups and observer events with other processes. Default: in-process. */
  redisUrl?: string
  logger?: FastifyServerOptions['logger']
}

export async function buildApp (options: ExampleOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(dcrf, {
    channelLayer: options.redisUrl ? { redis: options.redisUrl } : {}
  })
  app.dcrf.consumer('/ws/lobby/', lobby)
  return app
}
