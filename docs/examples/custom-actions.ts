import type { FastifyInstance } from 'fastify'
import { defineConsumer } from 'fastify-dcrf'
import { userSerializer } from './generic-api-consumer.js'
import { users } from './schema.js'

// A consumer that is not bound to a model.
export const myConsumer = defineConsumer({
  actions: {
    async an_async_action (ctx, { some }) {
      // do something async
      return { data: { 'response with': 'some message', some }, status: 200 }
    },
    a_sync_action (ctx, { pk }) {
      // do something sync
      return { data: { 'response with': 'some message', pk }, status: 200 }
    }
  }
})

// A consumer that is bound to a model: getObject() finds the row in its queryset.
export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: {
    async send_email (ctx, { pk, to }) {
      const user = await ctx.getObject(pk)
      // ... do some stuff
      return { data: { sent: `mail for ${user.username} to ${String(to)}` }, status: 200 }
    },
    async publish (ctx, args) {
      const user = await ctx.getObject(args)
      return { data: { pk: user.id }, status: 200 }
    }
  }
})

export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/my/', myConsumer)
  app.dcrf.consumer('/ws/users/', userConsumer)
}
