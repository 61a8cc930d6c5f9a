import Fastify from 'fastify'
import dcrf, { defineConsumer } from 'fastify-dcrf'

const app = Fastify({ logger: true })
await app.register(dcrf)

app.dcrf.consumer('/ws/', defineConsumer({
  actions: {
    an_async_action: async (ctx, { some }) => ({ data: { 'response with': some }, status: 200 }),
    a_sync_action: (ctx, { pk }) => ({ data: { pk }, status: 200 })
  }
}))

await app.listen({ port: 3000 })
