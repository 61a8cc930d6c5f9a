import Fastify from 'fastify'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { Type } from '@sinclair/typebox'
import dcrf, { defineConsumer, serializer } from 'fastify-dcrf'

const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  email: text('email').notNull(),
  password: text('password').notNull()
})

const mailer = { send: async (to: string, text: string) => { console.log(to, text) } }

const app = Fastify()
await app.register(dcrf, { db: drizzle(postgres(process.env.DATABASE_URL ?? 'postgres://localhost/app', { max: 1 })) })

const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password'],                              // accepted, never sent
  schema: { email: Type.String({ format: 'email' }) }   // refines the column's schema
})

export const userConsumer = defineConsumer({
  table: users,                       // the queryset
  serializer: userSerializer,
  actions: ({ action, crud }) => ({
    ...crud(),                        // list, retrieve, create, update, patch, delete
    send_email: action({
      schema: Type.Object({ pk: Type.Integer(), to: Type.String({ format: 'email' }) }),
      async handler (ctx, { pk, to }) {
        const user = await ctx.getObject(pk)          // 404 unless in the queryset; a users row
        await mailer.send(to, user.email)
        return { data: {}, status: 200 }
      }
    })
  })
})
app.dcrf.consumer('/ws/users/', userConsumer)
