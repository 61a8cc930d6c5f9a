/**
 * `/ws/users/`: DCRF's "Generic API consumer" over the users table — the six CRUD actions and
 * subscriptions to single users. Passwords are write-only, required on create, and stored hashed
 * (DCRF's `perform_create` / `perform_update` steps).
 */
import { eq } from 'drizzle-orm'
import { Type } from '@sinclair/typebox'
import { crud, defineConsumer, instanceSubscriptions, serializer, type ConsumerContext } from 'fastify-dcrf'
import { withHashedPassword } from '../passwords.js'
import { users } from '../schema.js'

/** `id`, `username`, `email`; `password` accepted on input, never sent. */
export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password'],
  schema: {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    email: Type.String({ format: 'email' }),
    password: Type.String({ minLength: 1 })
  }
})

type Values = Record<string, unknown>

async function save (ctx: ConsumerContext<any, any>, row: Values, values: Values): Promise<Values> {
  const [updated] = await ctx.db.update(users).set(await withHashedPassword(values)).where(eq(users.id, row.id as number)).returning()
  return updated
}

export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: {
    ...crud({
      async performCreate (ctx, values) {
        const [row] = await ctx.db.insert(users).values(await withHashedPassword(values) as typeof users.$inferInsert).returning()
        return row
      },
      performUpdate: save,
      performPatch: save
    }),
    ...instanceSubscriptions()
  }
})
