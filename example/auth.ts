/**
 * Authentication: `POST /api/login` trades a username and password for a token, and a hook on
 * every request (HTTP and WebSocket upgrades alike) turns a token back into `request.user`.
 *
 * A token is `<payload>.<signature>`: the payload `{"sub": <user id>, "pwd": <password stamp>,
 * "exp": <seconds>}` in base64url, signed with HMAC-SHA256 under `SECRET_KEY`. HTTP clients send
 * it as `Authorization: Bearer <token>`; WebSocket clients as `?token=<token>` (browsers cannot
 * set headers on a WebSocket).
 *
 * A token names a user and stamps their password (a digest of its hash); it is good only while
 * that user exists with that password, so a new password ends every token of the old one.
 * Requests read the user from the database, so such tokens are refused (401, at the handshake
 * too). On sockets already open, `isCurrentUser` re-reads the user before each action (a
 * primary-key lookup) and answers 401 once it is gone, and `accountObserver` closes the socket
 * with 4401 as soon as the user is deleted or given a new password: the first holds however the
 * row changed (another process, a lost event), the second also stops the events a socket would
 * otherwise still receive.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authenticationFailed, modelObserver, type Database, type Permission } from 'fastify-dcrf'
import { PASSWORD_MAX_LENGTH, verifyPassword, verifyUnknownUser } from './passwords.js'
import { users } from './schema.js'

/** The user of a request or a connection. */
export interface User {
  id: number
  username: string
}

const TOKEN_LIFETIME = 24 * 60 * 60
/** The largest user id: `users.id` is a PostgreSQL `serial` (int4). */
const MAX_ID = 2 ** 31 - 1

// Without SECRET_KEY: made once per process, so apps of one process accept each other's tokens.
let processSecret: Buffer | undefined

/** Signs and checks tokens under one secret. */
export interface Tokens {
  /** A token for a user with the stamp of their password, valid for a day. */
  sign (userId: number, stamp: string, now?: number): string
  /** The user id and password stamp of a valid, unexpired token; `null` otherwise. */
  verify (token: string, now?: number): { id: number, stamp: string } | null
}

/** Changes with the password: a digest of its stored hash, which a token carries. */
export const passwordStamp = (hash: string): string => createHash('sha256').update(hash).digest('base64url').slice(0, 16)

/** Tokens signed with `secret` (HMAC-SHA256). */
export function tokens (secret: string | Buffer): Tokens {
  const hmac = (payload: string): Buffer => createHmac('sha256', secret).update(payload).digest()
  return {
    sign (userId, stamp, now = Date.now()) {
      const payload = Buffer.from(JSON.stringify({ sub: userId, pwd: stamp, exp: Math.floor(now / 1000) + TOKEN_LIFETIME })).toString('base64url')
      return `${payload}.${hmac(payload).toString('base64url')}`
    },
    verify (token, now = Date.now()) {
      const [payload, signature, extra] = token.split('.')
      if (payload === undefined || signature === undefined || extra !== undefined) return null
      const expected = hmac(payload)
      const given = Buffer.from(signature, 'base64url')
      // Constant-time: the time of a refusal does not tell how much of a forged signature was right.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
      try {
        const { sub, pwd, exp } = JSON.parse(Buffer.from(payload, 'base64url').toString())
        const valid = Number.isInteger(sub) && sub >= 1 && sub <= MAX_ID && typeof pwd === 'string' && typeof exp === 'number' && exp * 1000 > now
        return valid ? { id: sub, stamp: pwd } : null
      } catch {
        return null
      }
    }
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
 * A request URL to log: every `token` parameter replaced by `[redacted]` — however its name is
 * encoded, as the query parser decodes it — since WebSocket URLs carry tokens.
 */
export function redactTokens (url: string): string {
  const start = url.indexOf('?')
  if (start === -1) return url
  const params = [...new URLSearchParams(url.slice(start + 1))]
  if (!params.some(([key]) => key === 'token')) return url
  const query = params.map(([key, value]) => key === 'token' ? 'token=[redacted]' : `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
  return `${url.slice(0, start)}?${query.join('&')}`
}

/**
 * A route hook refusing requests without a user with 401 — for a WebSocket route, the handshake
 * is refused: `app.dcrf.consumer('/ws/me/', me, { onRequest: requireUser })`.
 */
export async function requireUser (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (userOf(request) === null) await reply.code(401).send({ detail: 'Authentication credentials were not provided.' })
}

// The password stamp of the token each request came with (absent when another hook set the user).
const stamps = new WeakMap<FastifyRequest, string>()

/** The user of an id, read by primary key, and their password stamp; `null` once deleted. */
async function loadUser (db: Database, id: number): Promise<{ user: User, stamp: string } | null> {
  const [row] = await db.select({ id: users.id, username: users.username, password: users.password }).from(users).where(eq(users.id, id))
  return row === undefined ? null : { user: { id: row.id, username: row.username }, stamp: passwordStamp(row.password) }
}

/**
 * Allows the actions of a connection whose user still exists with the password of its token: the
 * user is read again by primary key before each action (so renames show too). A connection
 * without a user is denied (403, as `isAuthenticated`); one whose user was deleted, or given a
 * new password, since the handshake is answered 401.
 */
export const isCurrentUser: Permission = {
  async hasPermission (ctx) {
    const user = userOf(ctx.request)
    if (user === null) return false
    const current = await loadUser(ctx.db, user.id)
    const stamp = stamps.get(ctx.request)
    if (current === null || (stamp !== undefined && stamp !== current.stamp)) throw authenticationFailed()
    setUser(ctx.request, current.user)
    return true
  }
}

/**
 * The close code of a socket whose user was deleted or given a new password: HTTP's 401 in the
 * application's range (4000–4999).
 */
export const SIGNED_OUT = 4401

/**
 * A model observer on users, for consumers of signed-in users: subscribed in `onConnect`
 * (`ctx.observer('account').subscribe()`), it closes the socket with 4401 when its user is
 * deleted or given a new password, and keeps `request.user` up to date when the user is renamed.
 * Its messages stay in the server (group handlers), never sent to clients.
 */
export const accountObserver = modelObserver(users, {
  serialize: (row) => ({ id: row.id, username: row.username, stamp: passwordStamp(row.password) }),
  groupsForSignal: (row) => [`account.${row.id}`],
  groupsForConsumer: (ctx) => {
    const user = userOf(ctx.request)
    return user === null ? [] : [`account.${user.id}`]
  },
  handle (ctx, { id, username, stamp }, { action }) {
    const known = stamps.get(ctx.request)
    if (action === 'delete') ctx.close(SIGNED_OUT, 'User deleted.')
    else if (known !== undefined && known !== stamp) ctx.close(SIGNED_OUT, 'Password changed.')
    else setUser(ctx.request, { id, username })
  }
})

/** Why PostgreSQL cannot take a text: a NUL, or half of a surrogate pair (UTF-8 cannot encode it). */
function invalidText (text: string): string | null {
  if (text.includes('\u0000')) return 'Null characters are not allowed.'
  return Buffer.from(text, 'utf8').toString('utf8') === text ? null : 'Not a valid string.'
}

const Login = Type.Object({
  username: Type.String({ maxLength: 150 }),
  password: Type.String({ maxLength: PASSWORD_MAX_LENGTH })
})
// Checked as is: Fastify's validator would coerce `["test1"]` or `42` into a username.
const loginCheck = TypeCompiler.Compile(Login)
const strictLogin = () => (body: unknown) => loginCheck.Check(body)
  ? { value: body }
  : { error: new Error('Expected {"username", "password"}, both strings.') }

export interface AuthOptions {
  /** The secret tokens are signed with. Default: random, made once per process (and a warning logged). */
  secretKey?: string
}

/** Sets `request.user` on every request of the app, and adds `POST /api/login`. */
export function setupAuth (app: FastifyInstance, db: Database, options: AuthOptions = {}): void {
  let secret: string | Buffer
  if (options.secretKey !== undefined && options.secretKey !== '') {
    secret = options.secretKey
  } else {
    // Never a secret written in the source: anyone could sign tokens with it.
    secret = processSecret ??= randomBytes(32)
    app.log.warn('SECRET_KEY is not set: tokens are signed with a random secret made at start, and will not survive a restart (nor work on other processes)')
  }
  const signer = tokens(secret)

  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request) => {
    const token = tokenOf(request)
    const claims = token === undefined ? null : signer.verify(token)
    if (claims === null) return
    // Read from the database, so that a deleted user's token, or one of an old password, stops
    // working, and renames show.
    const current = await loadUser(db, claims.id)
    if (current === null || current.stamp !== claims.stamp) return
    stamps.set(request, claims.stamp)
    setUser(request, current.user)
  })

  app.post<{ Body: Static<typeof Login> }>('/api/login', { schema: { body: Login }, validatorCompiler: strictLogin }, async (request, reply) => {
    const { username, password } = request.body
    // PostgreSQL refuses such text with an error: answer it as the client's mistake it is.
    const fieldErrors = Object.entries({ username, password }).filter(([, value]) => invalidText(value) !== null)
    if (fieldErrors.length > 0) {
      return reply.code(400).send(Object.fromEntries(fieldErrors.map(([field, value]) => [field, [invalidText(value)]])))
    }
    const [user] = await db.select().from(users).where(eq(users.username, username))
    const valid = user === undefined ? await verifyUnknownUser(password) : await verifyPassword(password, user.password)
    if (!valid || user === undefined) return reply.code(401).send({ detail: 'Invalid username or password.' })
    return { token: signer.sign(user.id, passwordStamp(user.password)) }
  })
}
