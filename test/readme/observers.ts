/* eslint-disable camelcase -- DCRF's argument names */
import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import { defineConsumer } from 'fastify-dcrf'
import { comments } from './schema.js'

declare module 'fastify-dcrf' {
  interface DcrfSignals {
    user_signed_in: { id: number, username: string }
  }
}

const user = { id: 1, username: 'test1' }

/** The writes of the README's Observers section (a step of its replay, `test/readme.test.ts`). */
export async function write (app: FastifyInstance): Promise<void> {
  const db = app.dcrf.db                                          // write through this
  await db.insert(comments).values({ text: 'hi', userId: 1 })     // observed
  await db.transaction(async (tx) => { await tx.update(comments).set({ text: 'hello' }).where(eq(comments.id, 1)) })  // observed on commit
}

export const commentConsumer = defineConsumer({
  observers: ({ modelObserver }) => ({
    comment_activity: modelObserver(comments, {
      // Once per change, in the writing process (never per subscriber). Default: {"pk": ...}.
      serialize: (row, action) => ({ id: row.id, text: row.text, user: row.userId }),
      // From the row alone: which groups hear of it. Default: one group for everyone.
      groupsForSignal: (row) => ['all', `user__${row.userId}`],
      // From the subscribe arguments and the connection: which groups a subscriber joins.
      groupsForConsumer: (ctx, { user_pk }) => [user_pk === undefined ? 'all' : `user__${user_pk}`]
      // handle: (ctx, message, { action, requestIds, group }) => ...  (default below)
    })
  }),
  actions: ({ action }) => ({
    subscribe_to_comment_activity: action({
      subscribes: 'comment_activity',   // for types: its request id receives that observer's events
      async handler (ctx, args, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
    subscribe_to_user_comments: action({
      subscribes: 'comment_activity',
      async handler (ctx, { user_pk }, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId, user_pk })
        return { status: 201 }
      }
    }),
    unsubscribe_from_comment_activity: async (ctx, args, { requestId }) => {
      await ctx.observer('comment_activity').unsubscribe({ requestId })   // only that id; none given: all
      return { status: 204 }
    }
  })
})

export const logins = defineConsumer({
  observers: ({ observer }) => ({
    logins: observer('user_signed_in', { serialize: (user) => ({ username: user.username }) })
  }),
  actions: ({ action }) => ({
    subscribe_to_logins: action({
      subscribes: 'logins',
      async handler (ctx, args, { requestId }) {
        await ctx.observer('logins').subscribe({ requestId })
        return { status: 201 }
      }
    })
  })
})

/** The routes of the README's Observers section, and the signal it emits. */
export function serve (app: FastifyInstance): { signIn: () => Promise<void> } {
  app.dcrf.consumer('/ws/comments/', commentConsumer)
  app.dcrf.consumer('/ws/logins/', logins)
  return {
    async signIn () {
      // anywhere: the payload has the type DcrfSignals declares
      await app.dcrf.signal('user_signed_in', user)
    }
  }
}
