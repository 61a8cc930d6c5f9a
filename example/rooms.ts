/**
 * The chat index's HTTP side (the tutorial's `index` view): the rooms, and a room by name —
 * opened, with the signed-in user as its host, when it does not exist yet.
 *
 * - `GET /api/rooms/` → `[{"id", "name", "host"}]` by name, at most 100 a request (`?limit=`, `?offset=`)
 * - `POST /api/rooms/` `{"name"}` with `Authorization: Bearer <token>` → the room (201 when new)
 */
import { asc, eq } from 'drizzle-orm'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { Database } from 'fastify-dcrf'
import { userOf } from './auth.js'
import { Page } from './rest.js'
import { rooms } from './schema.js'

const RoomName = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255, pattern: '\\S' }) })

export async function roomsApi (app: FastifyInstance, { db }: { db: Database }): Promise<void> {
  // Any signed-in user can open rooms: a list without a bound grows with them.
  app.get<{ Querystring: Static<typeof Page> }>('/api/rooms/', { schema: { querystring: Page } }, async (request) =>
    db.select().from(rooms).orderBy(asc(rooms.name), asc(rooms.id)).limit(request.query.limit).offset(request.query.offset))

  app.post<{ Body: Static<typeof RoomName> }>('/api/rooms/', { schema: { body: RoomName } }, async (request, reply) => {
    const user = userOf(request)
    if (user === null) return reply.code(401).send({ detail: 'Authentication credentials were not provided.' })
    const name = request.body.name.trim()
    const [created] = await db.insert(rooms).values({ name, host: user.id }).onConflictDoNothing().returning()
    if (created !== undefined) return reply.code(201).send(created)
    const [existing] = await db.select().from(rooms).where(eq(rooms.name, name))
    return existing
  })
}
