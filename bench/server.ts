/**
 * fastify-dcrf under test: the example application (`example/app.ts`) as `npm start` runs it, with
 * the bench's statistics endpoint added, and without its opt-in extras unless BENCH_FEATURES=all. Its `/ws/users/` route does all the work a framework does:
 * the ordered per-connection queue, permissions, argument and body validation, the serializer,
 * change capture, the channel layer and the observer fan-out.
 *
 * Environment: BENCH_DATABASE_URL (PostgreSQL; without it, PGlite in memory, seeded here),
 * BENCH_REDIS_URL (the channel layer on Redis, shared with the other processes).
 * Tells its parent `{ type: 'ready', port }` over IPC once it listens on a free loopback port.
 */
import type { AddressInfo } from 'node:net'
import type { PGlite } from '@electric-sql/pglite'
import { buildApp } from '../example/app.js'
import { exitWithParent, SEED_SQL, serverStats, STATS_PATH, type ServerMessage } from './common.js'

const databaseUrl = process.env.BENCH_DATABASE_URL || undefined
// The plugin's own path: the example's opt-in extras (triggers reporting outside writes, Prometheus
// metrics) only with BENCH_FEATURES=all, which bench/README.md measures apart.
const features = process.env.BENCH_FEATURES === 'all'
const app = await buildApp({
  databaseUrl,
  redisUrl: process.env.BENCH_REDIS_URL || undefined,
  logger: false,
  seed: false,
  externalChanges: features,
  metrics: features
})
// An embedded database belongs to this process: seed it here, on the client itself (several
// statements; raw SQL is not captured by observers anyway).
if (databaseUrl === undefined) await (app.dcrf.db as unknown as { $client: PGlite }).$client.exec(SEED_SQL)

app.get(STATS_PATH, async (request) => serverStats(new URL(request.url, 'http://127.0.0.1').searchParams))

exitWithParent(() => app.close())

await app.listen({ port: 0, host: '127.0.0.1' })
const message: ServerMessage = { type: 'ready', port: (app.server.address() as AddressInfo).port }
process.send?.(message)
