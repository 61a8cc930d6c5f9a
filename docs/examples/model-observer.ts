import type { FastifyInstance } from 'fastify'
import { sql } from 'drizzle-orm'
import { defineConsumer, modelObserver, serializer } from 'fastify-dcrf'
import { userSerializer } from './generic-api-consumer.js'
import { comments, users } from './schema.js'

// serializers.py
export const commentSerializer = serializer(comments, { fields: ['id', 'text', 'userId'] })

// consumers.py
export const myConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  observers: {
    comment_activity: modelObserver(comments, {
      // Once per change, however many consumers are subscribed.
      serialize: (comment) => commentSerializer.toRepresentationSync(comment)
      // The default handler replies to each subscribing request id with the action and the message.
    })
  },
  actions: {
    async subscribe_to_comment_activity (ctx, args, { requestId }) {
      await ctx.observer('comment_activity').subscribe({ requestId })
      return { status: 201 }
    }
  }
})

export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/', myConsumer)
}

export const steps = {
  async commentAsUser1 (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.insert(comments).values({ text: 'user 1 creates a new comment', userId: 1 })
  },
  async commentAsUser2 (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.insert(comments).values({ text: 'user 2 creates a new comment', userId: 2 })
  },
  // What psql does (raw SQL, which the application does not capture: the database reports it).
  async psqlComment (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.execute(sql`insert into comments (text, user_id) values ('written in psql', 1)`)
  }
}

// The tables whose changes the database itself reports, wherever they are made from.
export const externalChanges = { tables: [comments] }
