import type { FastifyInstance } from 'fastify'
import { defineConsumer, modelObserver } from 'fastify-dcrf'
import { userSerializer } from './generic-api-consumer.js'
import { commentSerializer } from './model-observer.js'
import { comments, users } from './schema.js'

export const myConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  observers: {
    comment_activity: modelObserver(comments, {
      serialize: (comment) => commentSerializer.toRepresentationSync(comment),
      // The groups a comment is sent to: its author's.
      groupsForSignal: (comment) => [`user__${comment.userId}`],
      // The groups a consumer joins: the user it asks for.
      groupsForConsumer: (ctx, { user }) => [`user__${String(user)}`]
    })
  },
  actions: {
    async subscribe_to_comment_activity (ctx, { user_pk: userPk }, { requestId }) {
      await ctx.observer('comment_activity').subscribe({ requestId, user: userPk })
      return { status: 201 }
    }
  }
})

export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/', myConsumer)
}

export { steps } from './model-observer.js'
