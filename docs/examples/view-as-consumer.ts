import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import { viewAsConsumer } from 'fastify-dcrf'
import { userSerializer } from './generic-api-consumer.js'
import { users } from './schema.js'

// views.py: a REST API for users, as plain Fastify routes.
export async function setup (app: FastifyInstance): Promise<void> {
  app.get('/api/users/', async () => {
    const rows = await app.dcrf.db.select().from(users).orderBy(users.id)
    return Promise.all(rows.map((row) => userSerializer.toRepresentation(row)))
  })
  app.get('/api/users/:id', async (request, reply) => {
    const id = Number((request.params as { id: string }).id)
    const [row] = Number.isInteger(id) ? await app.dcrf.db.select().from(users).where(eq(users.id, id)) : []
    return row === undefined ? reply.code(404).send({ detail: 'Not found.' }) : userSerializer.toRepresentation(row)
  })

  // routing.py: the same views over a WebSocket, with DCRF's mapping of actions to methods.
  app.dcrf.consumer('/ws/', viewAsConsumer({
    url: '/api/users/:id?',
    actions: { list: 'GET', retrieve: 'GET' }
  }))
}
