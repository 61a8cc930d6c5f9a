/**
 * Authentication: `POST /api/login` trades a username and password for a token, and a hook on
 * every request (HTTP and WebSocket upgrades alike) turns a token back into `request.user`.
 *
 * A token is `<payload>.<signature>`: the payload `{"sub": <user id>, "exp": <seconds>}` in
 * base64url, signed with HMAC-SHA256 under `SECRET_KEY`. HTTP clients send it as
 * `Authorization: Bearer <token>`; WebSocket clients as `?token=<token>` (browsers cannot set
 * headers on a WebSocket).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Database } from 'fastify-dcrf'
import { verifyPassword } from './passwords.js'
import { users } from './schema.js'

/** The user of a request or a connection. */
export interface User {
  id: number
  username: string
}

// A development default, so that `npm start` works out of the box; every process sharing a
// database must share the secret, so it is not random.
const SECRET = process.env.SECRET_KEY ?? 'fastify-dcrf example secret: set SECRET_KEY outside development'
const TOKEN_LIFETIME = 24 * 60 * 60

const sign = (payload: string): Buffer => createHmac('sha256', SECRET).update(payload).digest()

/** A token for a user, valid for a day. */
export function signToken (userId: number, now = Date.now()): string {
  const payload = Buffer.from(JSON.stringify({ sub: userId, exp: Math.floor(now / 1000) + TOKEN_LIFETIME })).toString('base64url')
  return `${payload}.${sign(payload).toString('base64url')}`
}

/** The user id of a valid, unexpired token; `null` otherwise. */
export function verifyToken (token: string, now = Date.now()): number | null {
  const [payload, signature, extra] = token.split('.')
  if (payload === undefined || signature === undefined || extra !== undefined) return null
  const expected = sign(payload)
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  try {
    const { sub, exp } = JSON.parse(Buffer.from(payload, 'base64url').toString())
    return Number.isSafeInteger(sub) && typeof exp === 'number' && exp * 1000 > now ? sub : null
  } catch {
    return null
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user, or `null`: `ctx.user` in consumers, checked by `isAuthenticated`. */
    user: User | null
  }
}

/** `request.user`: the authenticated user, or `null`. */
export function userOf (request: FastifyRequest): User | null {
  return request.user ?? null
}

function setUser (request: FastifyRequest, user: User | null): void {
  request.user = user
}

/** The token of a request: `?token=` or `Authorization: Bearer`. */
function tokenOf (request: FastifyRequest): string | undefined {
  const { token } = request.query as { token?: unknown }
  if (typeof token === 'string' && token !== '') return token
  return /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
}

/**
 * A route hook refusing requests without a user with 401 — for a WebSocket route, the handshake
 * is refused: `app.dcrf.consumer('/ws/me/', me, { onRequest: requireUser })`.
 */
export async function requireUser (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (userOf(request) === null) await reply.code(401).send({ detail: 'Authentication credentials were not provided.' })
}

const Login = Type.Object({ username: Type.String(), password: Type.String() })

/** Sets `request.user` on every request of the app, and adds `POST /api/login`. */
export function setupAuth (app: FastifyInstance, db: Database): void {
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request) => {
    const token = tokenOf(request)
    const id = token === undefined ? null : verifyToken(token)
    if (id === null) return
    // Read from the database, so that a deleted user's token stops working and renames show.
    const [user] = await db.select({ id: users.id, username: users.username }).from(users).where(eq(users.id, id))
    setUser(request, user ?? null)
  })

  app.post<{ Body: Static<typeof Login> }>('/api/login', { schema: { body: Login } }, async (request, reply) => {
    const { username, password } = request.body
    const [user] = await db.select().from(users).where(eq(users.username, username))
    if (user === undefined || !await verifyPassword(password, user.password)) {
      return reply.code(401).send({ detail: 'Invalid username or password.' })
    }
    return { token: signToken(user.id) }
  })
}
