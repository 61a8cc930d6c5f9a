import type { FastifyInstance } from 'fastify'
import { crud, defineConsumer, defineStreams, instanceSubscriptions, serializer, streamedList } from 'fastify-dcrf'
import { comments, users } from './schema.js'

export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password']
})

export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  observers: ({ modelObserver }) => ({
    comment_activity: modelObserver(comments, { serialize: (row) => ({ id: row.id, text: row.text }) })
  }),
  actions: ({ action }) => ({
    ...crud(),
    ...instanceSubscriptions(),
    ...streamedList({ limit: 50 }),
    // `subscribes` names the observer, so that clients know the events' type.
    subscribe_to_comment_activity: action({
      subscribes: 'comment_activity',
      async handler (ctx, _args, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
    unsubscribe_from_comment_activity: async (ctx, _args, { requestId }) => {
      await ctx.observer('comment_activity').unsubscribe({ requestId })
      return { status: 204 }
    }
  })
})

// The streams of a multiplexed route, declared once: a value for the server, a type for clients.
export const streams = defineStreams({ users: userConsumer })

export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/users/', userConsumer)
  app.dcrf.multiplex('/ws/', streams)
}
