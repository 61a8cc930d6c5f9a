/**
 * `/ws/chat/room/`: the room consumer of the DCRF chat tutorial, for signed-in users.
 *
 * - `join_room` / `leave_room` (`pk`): enter or leave a room; everyone in it receives the room's
 *   current users (`update_users`) through a channel-layer group, as the tutorial's
 *   `notify_users` does — also when a member disconnects.
 * - `create_message` (`message`): posts in the room joined.
 * - `subscribe_to_messages_in_room` (`pk`): a model observer on messages, one group per room; each
 *   new message arrives as `{"action": "create", "data": <message>, ...}`.
 * - `retrieve` and `subscribe_instance` (`pk`): the room with its host, current users and messages.
 *
 * A socket serves its user only while that user exists: `isCurrentUser` re-reads the user before
 * each action (401 once deleted), and the account observer closes the socket with 4401 when the
 * user is deleted, so that it stops receiving the room's messages too (see `auth.ts`).
 *
 * As in the tutorial, membership is per user, not per socket: a user with two tabs in a room leaves
 * it when either tab leaves. It is a factory because its serializers read related rows (authors,
 * members) and an observer's serializer runs outside any connection: they need the database itself.
 */
import { and, desc, eq } from 'drizzle-orm'
import { Type } from '@sinclair/typebox'
import {
  defineConsumer,
  modelObserver,
  serializer,
  validationError,
  type ConsumerContext,
  type Database
} from 'fastify-dcrf'
import { accountObserver, isCurrentUser, userOf } from '../auth.js'
import { messages, roomUsers, rooms, users, type Message } from '../schema.js'

/** How many of a room's latest messages `retrieve` sends. */
const MESSAGES_SHOWN = 50

/** The channel-layer group of a room's members (who receive `update_users`). */
const membersOf = (roomId: number): string => `chat.room.${roomId}`

/** The tutorial's `created_at.strftime("%d-%m-%Y %H:%M:%S")`, in UTC. */
function formatDate (date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${two(date.getUTCDate())}-${two(date.getUTCMonth() + 1)}-${date.getUTCFullYear()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`
}

/** The room consumer, reading related rows (hosts, authors, members) from `db`. */
export function roomConsumer (db: Database) {
  const userFields = { id: users.id, username: users.username }
  const loadUser = async (id: number) => (await db.select().from(users).where(eq(users.id, id)))[0] ?? null
  const membersQuery = (database: Database, roomId: number) => database.select(userFields).from(roomUsers)
    .innerJoin(users, eq(users.id, roomUsers.user)).where(eq(roomUsers.room, roomId)).orderBy(users.id)

  // The tutorial's UserSerializer, without the email: chat members see each other's names only.
  const publicUserSerializer = serializer(users, { fields: ['id', 'username'] })

  const messageSerializer = serializer(messages, {
    fields: ['id', 'room', 'user', 'text', 'created_at', 'created_at_formatted'],
    computed: {
      created_at: (message) => message.createdAt.toISOString(),
      created_at_formatted: (message) => formatDate(message.createdAt)
    },
    nested: { user: { serializer: publicUserSerializer, source: (message) => loadUser(message.user) } }
  })

  const roomSerializer = serializer(rooms, {
    fields: ['pk', 'name', 'host', 'messages', 'current_users', 'last_message'],
    nested: {
      host: { serializer: publicUserSerializer, source: (room) => loadUser(room.host) },
      messages: {
        serializer: messageSerializer,
        many: true,
        source: async (room) => (await db.select().from(messages).where(eq(messages.room, room.id))
          .orderBy(desc(messages.createdAt), desc(messages.id)).limit(MESSAGES_SHOWN)).reverse()
      },
      current_users: { serializer: publicUserSerializer, many: true, source: (room) => membersQuery(db, room.id) }
    },
    computed: {
      last_message: async (room) => {
        const [last] = await db.select().from(messages).where(eq(messages.room, room.id))
          .orderBy(desc(messages.createdAt), desc(messages.id)).limit(1)
        return last === undefined ? null : messageSerializer.toRepresentation(last)
      }
    }
  })

  type Ctx = ConsumerContext<{ room: number | null, requestId: unknown }, typeof rooms>

  /** Sends the room's current users to everyone in it (the tutorial's `notify_users`). */
  async function notifyUsers (ctx: Ctx, roomId: number): Promise<void> {
    await ctx.groupSend(membersOf(roomId), { type: 'update_users', users: await membersQuery(ctx.db, roomId) })
  }

  /** Takes the user out of a room, and tells the others. */
  async function leave (ctx: Ctx, roomId: number): Promise<void> {
    const user = userOf(ctx.request)!
    await ctx.db.delete(roomUsers).where(and(eq(roomUsers.room, roomId), eq(roomUsers.user, user.id)))
    if (ctx.state.room === roomId) {
      ctx.state.room = null
      if (!ctx.closed) await ctx.removeGroup(membersOf(roomId))
    }
    await notifyUsers(ctx, roomId)
  }

  return defineConsumer({
    table: rooms,
    serializer: roomSerializer,
    permissions: [isCurrentUser],
    state: () => ({ room: null as number | null, requestId: null as unknown }),
    observers: {
      account: accountObserver,
      message_activity: modelObserver(messages, {
        serialize: (message: Message) => messageSerializer.toRepresentation(message),
        groupsForSignal: (message) => [`messages.room.${message.room}`],
        groupsForConsumer: (_ctx, { room }) => [`messages.room.${String(room)}`]
      })
    },
    // `action` and the mixins handed in know this consumer: its state, rooms and observers.
    actions: ({ action, mixins, instanceSubscriptions }) => ({
      ...mixins.retrieve(),
      ...instanceSubscriptions(),

      async join_room (ctx, args, { requestId }) {
        const room = await ctx.getObject(args)
        if (ctx.state.room !== null && ctx.state.room !== room.id) await leave(ctx, ctx.state.room)
        ctx.state.room = room.id
        ctx.state.requestId = requestId
        await ctx.db.insert(roomUsers).values({ room: room.id, user: userOf(ctx.request)!.id }).onConflictDoNothing()
        await ctx.addGroup(membersOf(room.id))
        await notifyUsers(ctx, room.id)
        return { data: null, status: 200 }
      },

      async leave_room (ctx, args) {
        const room = await ctx.getObject(args)
        await leave(ctx, room.id)
        return { data: null, status: 200 }
      },

      create_message: action({
        schema: Type.Object({ message: Type.String({ minLength: 1, maxLength: 500 }) }),
        async handler (ctx, { message }) {
          if (ctx.state.room === null) throw validationError('Join a room before sending messages.')
          const [row] = await ctx.db.insert(messages)
            .values({ room: ctx.state.room, user: userOf(ctx.request)!.id, text: message }).returning()
          return { data: await messageSerializer.toRepresentation(row), status: 201 }
        }
      }),

      async subscribe_to_messages_in_room (ctx, args, { requestId }) {
        const room = await ctx.getObject(args)
        await ctx.observer('message_activity').subscribe({ requestId, room: room.id })
        return { data: null, status: 201 }
      },

      async unsubscribe_from_messages_in_room (ctx, args, { requestId }) {
        const room = await ctx.getObject(args)
        await ctx.observer('message_activity').unsubscribe({ requestId: requestId ?? undefined, room: room.id })
        return { data: null, status: 204 }
      }
    }),

    async onConnect (ctx) {
      await ctx.observer('account').subscribe()
    },

    groupHandlers: {
      // The tutorial's `update_users`, as a reply carrying the member's own `join_room` request id.
      update_users (ctx, message) {
        ctx.reply({ action: 'update_users', data: message.users, requestId: ctx.state.requestId })
      }
    },

    async onDisconnect (ctx) {
      if (ctx.state.room !== null) await leave(ctx, ctx.state.room)
    }
  })
}
