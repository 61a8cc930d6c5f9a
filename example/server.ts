/**
 * `npm start`: the example application on PORT (default 3000; 0 picks a free port) and HOST
 * (default 127.0.0.1). DATABASE_URL switches to that PostgreSQL server (default: PGlite in memory,
 * or in DATA_DIR), REDIS_URL the channel layer to Redis, SECRET_KEY signs the tokens (default: a
 * random secret, with a warning), PGLITE_PORT where PGlite is served to psql (default 5433). It
 * logs one line with its URL and shuts down cleanly on SIGINT and SIGTERM.
 */
import { buildApp } from './app.js'
import { redactTokens } from './auth.js'

const app = await buildApp({
  databaseUrl: process.env.DATABASE_URL || undefined,
  redisUrl: process.env.REDIS_URL || undefined,
  dataDir: process.env.DATA_DIR || undefined,
  secretKey: process.env.SECRET_KEY || undefined,
  // PGlite only: psql reaches the embedded database here (0 picks a free port)
  pgliteSocketPort: Number(process.env.PGLITE_PORT ?? 5433),
  logger: {
    level: process.env.LOG_LEVEL ?? 'info',
    serializers: {
      // WebSocket URLs carry tokens (`?token=`): keep them out of the logs.
      req: (request) => ({ method: request.method, url: redactTokens(request.url) })
    }
  }
})

await app.listen({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
  listenTextResolver: (address) => `fastify-dcrf example listening on ${address}`
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), (err) => {
      app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}
