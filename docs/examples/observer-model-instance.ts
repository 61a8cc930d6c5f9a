import type { FastifyInstance } from 'fastify'
import { eq, sql } from 'drizzle-orm'
import { defineConsumer, instanceSubscriptions, mixins } from 'fastify-dcrf'
import { userSerializer } from './generic-api-consumer.js'
import { users } from './schema.js'

// consumers.py: ObserverModelInstanceMixin gives retrieve, subscribe_instance and unsubscribe_instance.
export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: {
    ...mixins.retrieve(),
    ...instanceSubscriptions()
  }
})

export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/', userConsumer)
}

// What happens elsewhere in the application (the Django shell of DCRF's docs).
export const steps = {
  async renameUser (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.update(users).set({ username: 'test edited' }).where(eq(users.id, 1))
  },
  async deleteUser (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.delete(users).where(eq(users.id, 1))
  },
  // What psql does (raw SQL, which the application does not capture: the database reports it).
  async psqlUpdate (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.execute(sql`update users set username = 'renamed in psql' where id = 1`)
  }
}

// The tables whose changes the database itself reports, wherever they are made from.
export const externalChanges = { tables: [users] }
