/**
 * The second reference: FeathersJS 5 as its generator (`npm create feathers`) sets up an app with
 * Koa, Socket.io, TypeBox schemas and the Knex adapter on PostgreSQL, serving the same `users`
 * table. What the generated files hold is here in one file, in their order: the Koa app and its
 * middleware (`app.ts`), the Knex client (`postgresql.ts`), the validators, the users service with
 * its schemas, resolvers and hooks (`services/users/*`) and the channels (`channels.ts`).
 *
 * What differs from the generated app, and why:
 * - Socket.io accepts the websocket transport only (`transports: ['websocket']`), as the clients do.
 * - No authentication: the route we measure, the example's `/ws/users/`, is open to anyone.
 * - A connection joins no channel on connecting; it joins `users/<id>` by calling the service's
 *   custom method `subscribe({ id })`, and only `patched` is published, to that row's channel.
 * - The patch schema holds `username` and `email` (the example's profile serializer), with the
 *   example's limits; `password` is never sent (the generated users service's external resolver).
 * - No configuration files, logger or static files: the settings are inline, errors go to stderr.
 *
 * Environment: BENCH_DATABASE_URL (PostgreSQL; without it, PGlite in memory, seeded here and served
 * to Knex on a loopback socket), BENCH_FEATHERS_POOL (Knex's pool size, `min` = `max`; default:
 * Knex's own pool, min 2, max 10, as the generated app has it). Tells its parent
 * `{ type: 'ready', port }` over IPC once it listens on a free loopback port.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { feathers, type HookContext as FeathersHookContext, type NextFunction, type RealTimeConnection } from '@feathersjs/feathers'
import { bodyParser, cors, errorHandler, koa, parseAuthentication, rest } from '@feathersjs/koa'
import socketio from '@feathersjs/socketio'
import { KnexService, type KnexAdapterParams } from '@feathersjs/knex'
import { Ajv, addFormats, hooks as schemaHooks, resolve, type FormatsPluginOptions } from '@feathersjs/schema'
import { Type, getValidator, querySyntax, type Static } from '@feathersjs/typebox'
import knex, { type Knex } from 'knex'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { DDL } from '../example/db.js'
import { exitWithParent, SEED_SQL, serverStats, STATS_PATH, type ServerMessage } from './common.js'

// ---- validators.ts -----------------------------------------------------------------------------

const formats: FormatsPluginOptions = ['date-time', 'time', 'date', 'email', 'hostname', 'ipv4', 'ipv6', 'uri', 'uri-reference', 'uuid', 'uri-template', 'json-pointer', 'relative-json-pointer', 'regex']
const dataValidator: Ajv = addFormats(new Ajv({}), formats)
const queryValidator: Ajv = addFormats(new Ajv({ coerceTypes: true }), formats)

// ---- services/users/users.schema.ts --------------------------------------------------------------

const userSchema = Type.Object({
  id: Type.Number(),
  username: Type.String({ minLength: 1, maxLength: 150 }),
  email: Type.String({ format: 'email' }),
  password: Type.Optional(Type.String())
}, { $id: 'User', additionalProperties: false })
type User = Static<typeof userSchema>
type HookContext = FeathersHookContext<App, UserService>
const userResolver = resolve<User, HookContext>({})
const userExternalResolver = resolve<User, HookContext>({
  // The password should never be visible externally
  password: async () => undefined
})

const userPatchSchema = Type.Partial(Type.Pick(userSchema, ['username', 'email']), { $id: 'UserPatch', additionalProperties: false })
type UserPatch = Static<typeof userPatchSchema>
const userPatchValidator = getValidator(userPatchSchema, dataValidator)
const userPatchResolver = resolve<UserPatch, HookContext>({})

const userQueryProperties = Type.Pick(userSchema, ['id', 'username', 'email'])
const userQuerySchema = Type.Intersect([
  querySyntax(userQueryProperties),
  Type.Object({}, { additionalProperties: false })
], { additionalProperties: false })
type UserQuery = Static<typeof userQuerySchema>
const userQueryValidator = getValidator(userQuerySchema, queryValidator)
const userQueryResolver = resolve<UserQuery, HookContext>({})

// ---- services/users/users.class.ts ---------------------------------------------------------------

type UserParams = KnexAdapterParams<UserQuery> & { connection?: RealTimeConnection }

/** The Knex adapter's service, with one custom method: join the channel of a row. */
class UserService extends KnexService<User, User, UserParams, UserPatch> {
  /** `subscribe({ id })`: the calling connection hears that row's `patched` events (404 if it does not exist). */
  async subscribe (data: { id: number }, params?: UserParams): Promise<{ id: number }> {
    const user = await this._get(data.id, { query: { $select: ['id'] } })
    if (params?.connection !== undefined) app.channel(`users/${user.id}`).join(params.connection)
    return { id: user.id }
  }
}

// ---- postgresql.ts -------------------------------------------------------------------------------

async function postgresql (): Promise<{ db: Knex, close: () => Promise<void> }> {
  let connection = process.env.BENCH_DATABASE_URL || undefined
  let embedded: { pg: PGlite, server: PGLiteSocketServer } | null = null
  const size = process.env.BENCH_FEATHERS_POOL ? Number(process.env.BENCH_FEATHERS_POOL) : undefined
  if (connection === undefined) {
    // Knex speaks to PostgreSQL over a socket only: the embedded database is served on loopback.
    const pg = new PGlite()
    await pg.exec(DDL)
    await pg.exec(SEED_SQL)
    const server = new PGLiteSocketServer({ db: pg, port: 0, host: '127.0.0.1', maxConnections: (size ?? 10) + 2 })
    await server.start()
    embedded = { pg, server }
    connection = `postgres://postgres@${server.getServerConn()}/postgres`
  }
  // postgres.js takes the schema from the URL (the smoke run's `search_path`); node-postgres does not.
  const url = new URL(connection)
  const searchPath = url.searchParams.get('search_path') ?? undefined
  url.searchParams.delete('search_path')
  const db = knex({ client: 'pg', connection: url.href, searchPath, ...(size === undefined ? {} : { pool: { min: size, max: size } }) })
  return {
    db,
    async close () {
      await db.destroy()
      await embedded?.server.stop()
      await embedded?.pg.close()
    }
  }
}

// ---- app.ts, services, channels.ts ---------------------------------------------------------------

const { db, close } = await postgresql()
const app = koa(feathers<{ users: UserService }>())
type App = typeof app

// The bench's statistics endpoint, before everything else.
app.use(async (ctx, next) => {
  if (ctx.path !== STATS_PATH) return next()
  ctx.body = await serverStats(new URLSearchParams(ctx.querystring))
})
app.use(cors())
app.use(errorHandler())
app.use(parseAuthentication())
app.use(bodyParser())
app.configure(rest())
app.configure(socketio({ transports: ['websocket'] }))

app.use('users', new UserService({ Model: db, name: 'users', paginate: { default: 10, max: 50 } }), {
  methods: ['find', 'get', 'create', 'patch', 'remove', 'subscribe'],
  events: []
})
app.service('users').hooks({
  around: {
    all: [schemaHooks.resolveExternal(userExternalResolver), schemaHooks.resolveResult(userResolver)]
  },
  before: {
    all: [schemaHooks.validateQuery(userQueryValidator), schemaHooks.resolveQuery(userQueryResolver)],
    patch: [schemaHooks.validateData(userPatchValidator), schemaHooks.resolveData(userPatchResolver)]
  }
})

app.service('users').publish('patched', (user) => app.channel(`users/${(user as User).id}`))

app.hooks({
  around: {
    all: [async (context: FeathersHookContext, next: NextFunction) => {
      try {
        await next()
      } catch (error) {
        console.error((error as Error).stack)
        throw error
      }
    }]
  }
})

exitWithParent(async () => {
  app.io.disconnectSockets(true)
  await app.teardown()
  await close()
})

const server: Server = await app.listen(0, '127.0.0.1')
if (!server.listening) await new Promise((resolve) => server.once('listening', resolve))
const message: ServerMessage = { type: 'ready', port: (server.address() as AddressInfo).port }
process.send?.(message)
