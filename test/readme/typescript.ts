import { Type } from '@sinclair/typebox'
import { eq } from 'drizzle-orm'
import {
  defineConsumer,
  serializer,
  type inferActions,
  type inferArgs,
  type inferEvents,
  type inferReply,
  type ObserverDelivery
} from 'fastify-dcrf'
import { comments, users } from './schema.js'

const userSerializer = serializer(users, { fields: ['id', 'username', 'email', 'password'], writeOnly: ['password'] })

export const userConsumer = defineConsumer({
  table: users,                                   // ctx.getObject() → a users row
  serializer: userSerializer,                     // must be of `users`; ctx.serialize() → its output
  state: () => ({ watching: 0 }),                 // ctx.state → { watching: number }
  queryset: (ctx) => eq(users.id, ctx.state.watching),
  observers: ({ modelObserver }) => ({            // names checked by ctx.observer() and `subscribes`
    comments: modelObserver(comments, { serialize: (row) => ({ id: row.id, text: row.text }) }),
    // A handle of your own sends what it declares: its events are ObserverDelivery's type argument.
    mentions: modelObserver(comments, {
      serialize: (row) => ({ id: row.id }),
      handle (ctx, message, delivery: ObserverDelivery<{ action: 'mention', data: { id: number } }>) {
        for (const requestId of delivery.requestIds) ctx.reply({ action: 'mention', data: message, requestId })
      }
    })
  }),
  async onConnect (ctx) { ctx.state.watching = 1 },
  actions: ({ action, crud, mixins }) => ({
    ...crud(),                                    // replies: the serializer's output
    ...mixins.instanceSubscriptions(),
    echo: (ctx, args) => ({ data: args }),        // args: Record<string, unknown>
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
    }),
    watch_mentions: action({ subscribes: 'mentions', handler: () => ({ status: 201 }) })
  })
})

type Names = inferActions<typeof userConsumer>               // 'list' | … | 'rename' | 'set_name' | 'watch_comments' | …
type RenameArgs = inferArgs<typeof userConsumer, 'rename'>   // { pk: number, username: string }
type Renamed = inferReply<typeof userConsumer, 'set_name'>   // { was: string, now: string }
type Listed = inferReply<typeof userConsumer, 'list'>        // Array<{ id: number, username: string, email: string }>
type Comment = inferEvents<typeof userConsumer, 'watch_comments'> // { action: 'create' | 'update' | 'delete', data: { id: number, text: string } }
type Mention = inferEvents<typeof userConsumer, 'watch_mentions'> // { action: 'mention', data: { id: number } }

const summary = serializer(users, { fields: ['id', 'username'] })

export const byName = defineConsumer({
  table: users,
  serializer: userSerializer,
  getSerializer: (ctx, action) => action === 'list' ? summary : undefined,   // before the hooks and actions
  lookupField: 'username',                        // a column key
  lookupKwarg: 'name',                            // the mixins look rows up by `name`
  actions: ({ mixins }) => ({ ...mixins.list(), ...mixins.retrieve() })
})

type Found = inferArgs<typeof byName, 'retrieve'>            // { name: number | string }
type Summaries = inferReply<typeof byName, 'list'>           // Array<{ id: number, username: string } | { id: number, username: string, email: string }>

export type { Comment, Found, Listed, Mention, Names, RenameArgs, Renamed, Summaries }
