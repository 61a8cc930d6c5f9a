/**
 * `npm start`: the example application on PORT (default 3000) and HOST (default 127.0.0.1).
 * REDIS_URL switches the channel layer to Redis.
 */
import { buildApp } from './app.js'

const app = await buildApp({
  redisUrl: process.env.REDIS_URL,
  logger: { level: process.env.LOG_LEVEL ?? 'info' }
})

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const url = await app.listen({ port, host })
app.log.info(`fastify-dcrf example listening on ${url}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), (err) => {
      app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}
