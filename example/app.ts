/**
 * The example application: every feature of fastify-dcrf on one Fastify app, built only on the
 * plugin's public API. `server.ts` starts it (`npm start`); the tests and benchmarks build it too.
 *
 * | route | what |
 * |---|---|
 * | `POST /api/login` | `{"username", "password"}` → `{"token"}` (`auth.ts`) |
 * | `/api/users/` | a REST API for users (`rest.ts`) |
 * | `/api/rooms/` | the chat's rooms (`rooms.ts`) |
 * | `/`, `/users/`, `/chat/`, `/chat/room/:id/`, `/client.js` | pages (`pages.ts`, `public/`) and the client they import |
 * | `GET /metrics`, `GET /asyncapi.json` | Prometheus metrics (`operability.ts`), the AsyncAPI document |
 * | `/ws/lobby/` | a consumer without a model: everyone hears everyone |
 * | `/ws/users/` | generic CRUD on users, instance subscriptions, a model observer on users |
 * | `/ws/users/paginated/`, `/ws/users/streamed/` | paginated and streamed lists |
 * | `/ws/comments/` | comments with a model observer and filtered subscriptions |
 * | `/ws/me/` | signed-in users only (handshake refused with 401 otherwise): `whoami` |
 * | `/ws/chat/room/` | the DCRF chat tutorial's room consumer (signed-in users only) |
 * | `/ws/rest/users/` | the REST routes over a socket (view as consumer) |
 * | `/ws` | multiplexed: streams `things` and `things_with_id` |
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { PGlite } from '@electric-sql/pglite'
import dcrf, { installExternalChanges, type ExternalChangesOptions } from 'fastify-dcrf'
import { requireUser, setupAuth } from './auth.js'
import { roomConsumer } from './consumers/chat-room.js'
import { commentConsumer } from './consumers/comments.js'
import { lobby } from './consumers/lobby.js'
import { meConsumer } from './consumers/me.js'
import { restUserConsumer } from './consumers/rest-users.js'
import { thingStreams } from './consumers/things.js'
import { paginatedUserConsumer } from './consumers/users-paginated.js'
import { streamedUserConsumer } from './consumers/users-streamed.js'
import { userConsumer } from './consumers/users.js'
import { openDatabase } from './db.js'
import { operability } from './operability.js'
import { pages } from './pages.js'
import { restApi } from './rest.js'
import { roomsApi } from './rooms.js'
import { seed } from './seed.js'
import { PgliteNotifications } from './pglite-server.js'
import { comments, messages, roomUsers, rooms, things, users } from './schema.js'

export interface ExampleOptions {
  /** `postgres://…`: use that PostgreSQL server. Default: embedded PostgreSQL (PGlite). */
  databaseUrl?: string
  /** `redis://…`: share groups and observer events with other processes. Default: in-process. */
  redisUrl?: string
  /** PGlite's data folder (without `databaseUrl`). Default: in memory. */
  dataDir?: string
  logger?: FastifyServerOptions['logger']
  /** Add the sample users, things and room of `seed.ts` when missing. Default: true. */
  seed?: boolean
  /**
   * The secret tokens are signed with (`SECRET_KEY`); every process sharing a database needs the
   * same. Default: random, made once per process, so tokens do not survive a restart.
   */
  secretKey?: string
  /**
   * On PGlite, serve the embedded database to outside clients (psql) on this port of 127.0.0.1 (0:
   * a free port; `app.pgliteUrl` then tells it). Default: not served.
   */
  pgliteSocketPort?: number
  /** Report changes made outside the app (psql, cascades) to subscribers: triggers on every table. Default: true. */
  externalChanges?: boolean
  /** Serve Prometheus metrics on `GET /metrics`. Default: true. */
  metrics?: boolean
}

/**
 * Builds the example application. It owns its database client and closes it with the app.
 *
 * @example
 * const app = await buildApp({ databaseUrl: process.env.DATABASE_URL })
 * await app.listen({ port: 3000 })
 */
export async function buildApp (options: ExampleOptions = {}): Promise<FastifyInstance> {
  const database = await openDatabase(options)
  const app = Fastify({ logger: options.logger ?? false })
  app.addHook('onClose', () => database.close())
  try {
    // Every table reports the changes made outside the app too (psql, cascades): the triggers are
    // installed at each start (idempotent); on PGlite, what socket clients notify is heard as well.
    const client = (database.db as unknown as { $client: unknown }).$client
    const pglite = client instanceof PGlite ? new PgliteNotifications(client) : null
    const externalChanges: ExternalChangesOptions | undefined = options.externalChanges === false
      ? undefined
      : { tables: [users, things, comments, rooms, roomUsers, messages], listener: pglite?.listen }
    if (externalChanges !== undefined) await installExternalChanges(database.db, externalChanges)
    await app.register(dcrf, {
      db: database.db,
      channelLayer: options.redisUrl ? { redis: options.redisUrl } : {},
      externalChanges,
      asyncapi: { route: '/asyncapi.json', info: { title: 'fastify-dcrf example', version: '0.1.0' } }
    })
    // Before the consumers take connections: every one of them is counted.
    if (options.metrics !== false) await operability(app)
    // Writes through the plugin's database reach the observers.
    const db = app.dcrf.db

    // Server faults answer without their message (a database error names tables and values);
    // client errors (4xx) keep theirs.
    app.setErrorHandler(async (error, request, reply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 500
      if (status < 500) return reply.code(status).send(error)
      request.log.error({ err: error }, 'request failed')
      return reply.code(500).send({ detail: 'A server error occurred.' })
    })
    setupAuth(app, db, { secretKey: options.secretKey })
    await app.register(restApi, { db })
    await app.register(roomsApi, { db })
    await app.register(pages)

    app.dcrf.consumer('/ws/lobby/', lobby)
    app.dcrf.consumer('/ws/users/', userConsumer)
    app.dcrf.consumer('/ws/users/paginated/', paginatedUserConsumer)
    app.dcrf.consumer('/ws/users/streamed/', streamedUserConsumer)
    app.dcrf.consumer('/ws/comments/', commentConsumer)
    app.dcrf.consumer('/ws/rest/users/', restUserConsumer)
    app.dcrf.multiplex('/ws', thingStreams)

    // Signed-in users only: this context's hook refuses the handshake with 401 before any consumer
    // code runs.
    await app.register(async (signedIn) => {
      signedIn.addHook('onRequest', requireUser)
      signedIn.dcrf.consumer('/ws/me/', meConsumer)
      signedIn.dcrf.consumer('/ws/chat/room/', roomConsumer(db))
    })

    if (options.seed ?? true) await seed(db)
    if (pglite !== null && options.pgliteSocketPort !== undefined) {
      const { server, port } = await pglite.serve(options.pgliteSocketPort)
      app.decorate('pgliteUrl', `postgres://postgres@127.0.0.1:${port}/postgres`)
      app.addHook('preClose', (done) => { server.stop().then(() => done(), done) })
      app.log.info(`embedded database served on port ${port}: psql -h 127.0.0.1 -p ${port} -U postgres postgres`)
    }
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
