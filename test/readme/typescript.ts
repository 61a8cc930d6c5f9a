import { Type } from '@sinclair/typebox'
import { eq } from 'drizzle-orm'
import {
  defineConsumer,
  serializer,
  type inferActions,
  type inferArgs,
  type inferEvents,
  type inferReply
} from 'fastify-dcrf'
import { comments, users } from './schema.js'

const userSerializer = serializer(users, { fields: ['id', 'username', 'email', 'password'], writeOnly: ['password'] })

export const userConsumer = defineConsumer({
  table: users,                                   // ctx.getObject() → a users row
  serializer: userSerializer,                     // must be of `users`; ctx.serialize() → its output
  state: () => ({ watching: 0 }),                 // ctx.state → { watching: number }
  queryset: (ctx) => eq(users.id, ctx.state.watching),
  observers: ({ modelObserver }) => ({            // names checked by ctx.observer() and `subscribes`
    comments: modelObserver(comments, { serialize: (row) => ({ id: row.id, text: row.text }) })
  }),
  async onConnect (ctx) { ctx.state.watching = 1 },
  actions: ({ action, crud, mixins }) => ({
    ...crud(),                                    // replies: the serializer's output
    ...mixins.instanceSubscriptions(),
    rename: action({
      schema: Type.Object({ pk: Type.Integer(), username: Type.String() }),
      aliases: ['set_name'],
      async handler (ctx, { pk, username }) {     // pk: number, username: string
        const user = await ctx.getObject(pk)      // { id: number, username: string, … }
        return { data: { was: user.username, now: username } }
      }
    }),
    watch_comments: action({
      subscribes: 'comments',
      async handler (ctx, args, { requestId }) {
        await ctx.observer('comments').subscribe({ requestId })
        return { status: 201 }
      }
    })
  })
})

type Names = inferActions<typeof userConsumer>               // 'list' | … | 'rename' | 'set_name' | 'watch_comments' | …
type RenameArgs = inferArgs<typeof userConsumer, 'rename'>   // { pk: number, username: string }
type Renamed = inferReply<typeof userConsumer, 'set_name'>   // { was: string, now: string }
type Listed = inferReply<typeof userConsumer, 'list'>        // Array<{ id: number, username: string, email: string }>
type Comment = inferEvents<typeof userConsumer, 'watch_comments'> // { action: 'create' | 'update' | 'delete', data: { id: number, text: string } }

export type { Comment, Listed, Names, RenameArgs, Renamed }
