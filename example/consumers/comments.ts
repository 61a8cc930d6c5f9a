/**
 * `/ws/comments/`: comments (create, patch, delete, list) and DCRF's model observer on them —
 * every comment (`subscribe_to_comment_activity`), or one user's only
 * (`subscribe_to_user_comments` with `user_pk`: DCRF's "Filtered model observer").
 *
 * Each event is a reply with `action` create/update/delete, `data` = `{id, text, user}` and the
 * subscribing request's `request_id`.
 *
 * Like DCRF's examples it is open: anyone may write a comment in any user's name. A real app takes
 * the author from `ctx.user` (a `performCreate` setting `user`) and lets only authors change theirs
 * (a `queryset` of their own comments).
 */
import { Type } from '@sinclair/typebox'
import { defineConsumer, mixins, modelObserver, serializer } from 'fastify-dcrf'
import { comments } from '../schema.js'

export const commentSerializer = serializer(comments, { fields: ['id', 'text', 'user'] })

/** Every comment goes to the group of all comments and to its author's group. */
const ALL = 'comments'
const byUser = (userPk: unknown): string => `comments.by.${String(userPk)}`

export const commentConsumer = defineConsumer({
  table: comments,
  serializer: commentSerializer,
  observers: {
    comment_activity: modelObserver(comments, {
      // Once per change, in the process that made it; every subscriber receives the same message.
      serialize: (row) => commentSerializer.toRepresentationSync(row),
      groupsForSignal: (row) => [ALL, byUser(row.user)],
      groupsForConsumer: (_ctx, { user_pk: userPk }) => [userPk === undefined ? ALL : byUser(userPk)]
    })
  },
  actions: ({ action }) => ({
    ...mixins.list(),
    ...mixins.create(),
    ...mixins.patch(),
    ...mixins.delete(),
    subscribe_to_comment_activity: async (ctx, _args, { requestId }) => {
      await ctx.observer('comment_activity').subscribe({ requestId })
      return { status: 201 }
    },
    subscribe_to_user_comments: action({
      schema: Type.Object({ user_pk: Type.Integer() }),
      async handler (ctx, { user_pk: userPk }, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId, user_pk: userPk })
        return { status: 201 }
      }
    }),
    // With `user_pk`, leaves that user's comments; without, all comments. With a `request_id`, only
    // that subscription stops.
    unsubscribe_from_comment_activity: action({
      schema: Type.Object({ user_pk: Type.Optional(Type.Integer()) }),
      async handler (ctx, { user_pk: userPk }, { requestId }) {
        await ctx.observer('comment_activity').unsubscribe({ requestId: requestId ?? undefined, user_pk: userPk })
        return { status: 204 }
      }
    })
  })
})
