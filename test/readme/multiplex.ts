import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import { crud, defineConsumer, viewAsConsumer } from 'fastify-dcrf'
import { comments, users } from './schema.js'

const userConsumer = defineConsumer({ table: users, actions: crud() })
const thingConsumer = defineConsumer({ table: comments, actions: crud() })

/** The REST route that view-as-consumer serves: a user (or every user), with only the `fields` asked for. */
function restUsers (app: FastifyInstance): void {
  app.get<{ Params: { id?: string }, Querystring: { fields?: string } }>('/api/users/:id?', async (request) => {
    const { id } = request.params
    const rows = await app.dcrf.db.select({ id: users.id, username: users.username, email: users.email }).from(users)
      .where(id === undefined ? undefined : eq(users.id, Number(id)))
    const fields = request.query.fields?.split(',')
    const shown = rows.map((row) => fields === undefined ? row : Object.fromEntries(fields.map((field) => [field, row[field as keyof typeof row]])))
    return id === undefined ? shown : shown[0]
  })
}

/** The routes of the README's Multiplexing and View as consumer sections. */
export function serve (app: FastifyInstance): void {
  restUsers(app)

  app.dcrf.multiplex('/ws/', { users: userConsumer, things: thingConsumer })

  app.dcrf.consumer('/ws/rest/users/', viewAsConsumer({
    url: '/api/users/:id?',                                // `:id?` may be left out
    actions: { list: 'GET', retrieve: 'GET', create: 'POST', patch: 'PATCH' }
  }))
}
