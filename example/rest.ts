/**
 * A REST API for users, written as plain Fastify routes (and served over a socket too, by
 * `consumers/rest-users.ts`). It answers the way DRF does: field errors `{"field": ["message"]}`
 * with 400, `{"detail": "..."}` otherwise. It reuses the users consumer's serializer, so both
 * APIs accept and send the same fields.
 *
 * - `GET /api/users/` (at most 100 a request: `?limit=` up to 100, `?offset=`), `GET /api/users/:id`
 * - `POST /api/users/` — sign up: `{"username", "email", "password"}`
 * - `PATCH /api/users/:id` — your own user only (`Authorization: Bearer <token>`), password included
 */
import { eq } from 'drizzle-orm'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { databaseValidationError, errors, type Database, type ValidationErrorDetail } from 'fastify-dcrf'
import { userOf } from './auth.js'
import { userSerializer } from './consumers/users.js'
import { users } from './schema.js'

const UserParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) })
type UserId = Static<typeof UserParams>

/** The most users a list sends: a list that grows with the table is a request anyone can make slow. */
export const MAX_LIST = 100
/** `?limit=` (1…100, default 100) and `?offset=` of a list route. */
export const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: MAX_LIST, default: MAX_LIST }),
  offset: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 })
})

const notFound = { detail: 'Not found.' }

/** Registers the routes; `db` is `app.dcrf.db`, so that subscribers see the changes they make. */
export async function restApi (app: FastifyInstance, { db }: { db: Database }): Promise<void> {
  // A serializer's validation error, or a constraint violation (a username taken), becomes DRF's 400 body.
  app.setErrorHandler(async (error, _request, reply) => {
    const invalid = error instanceof errors.DCRF_ERR_VALIDATION ? error as ValidationErrorDetail : databaseValidationError(error, { table: users })
    if (invalid !== null) return reply.code(400).send(invalid.detail)
    throw error
  })

  app.get<{ Querystring: Static<typeof Page> }>('/api/users/', { schema: { querystring: Page } }, async (request) => {
    const { limit, offset } = request.query
    const rows = await db.select().from(users).orderBy(users.id).limit(limit).offset(offset)
    return userSerializer.toRepresentationMany(rows)
  })

  app.get<{ Params: UserId }>('/api/users/:id', { schema: { params: UserParams } }, async (request, reply) => {
    const [row] = await db.select().from(users).where(eq(users.id, request.params.id))
    return row === undefined ? reply.code(404).send(notFound) : userSerializer.toRepresentation(row)
  })

  app.post('/api/users/', async (request, reply) => {
    const values = await userSerializer.validate(request.body)
    const [row] = await db.insert(users).values(values as typeof users.$inferInsert).returning()
    return reply.code(201).send(await userSerializer.toRepresentation(row))
  })

  app.patch<{ Params: UserId }>('/api/users/:id', { schema: { params: UserParams } }, async (request, reply) => {
    const user = userOf(request)
    if (user === null) return reply.code(401).send({ detail: 'Authentication credentials were not provided.' })
    if (user.id !== request.params.id) return reply.code(403).send({ detail: 'You do not have permission to perform this action.' })
    const values = await userSerializer.validate(request.body, { partial: true })
    const [row] = Object.keys(values).length === 0
      ? await db.select().from(users).where(eq(users.id, user.id))
      : await db.update(users).set(values).where(eq(users.id, user.id)).returning()
    return row === undefined ? reply.code(404).send(notFound) : userSerializer.toRepresentation(row)
  })
}
