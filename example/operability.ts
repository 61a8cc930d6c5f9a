/**
 * What operators of the example scrape: `GET /metrics`, the plugin's metrics and Node's own in
 * Prometheus' text format, on a registry of this app's own (a process running several apps, as
 * the tests do, keeps them apart). The AsyncAPI document is served by the plugin itself
 * (`asyncapi.route`, see app.ts).
 */
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { dcrfMetrics } from 'fastify-dcrf/metrics'

export async function operability (app: FastifyInstance): Promise<void> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const metrics = dcrfMetrics({ registry })
  app.addHook('onClose', async () => { metrics.close() })
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}
