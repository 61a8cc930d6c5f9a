import { and, eq } from 'drizzle-orm'
import type { Database } from 'fastify-dcrf'
import { serializer } from 'fastify-dcrf'
import { messages, rooms, users } from './schema.js'

const formatDate = (date: Date): string => date.toISOString().slice(0, 19)
const userSerializer = serializer(users, { fields: ['id', 'username'] })
async function loadUser (db: Database | undefined, id: number) { return (await db!.select().from(users).where(and(eq(users.id, id))))[0] }
async function messagesOf (db: Database | undefined, roomId: number) { return db!.select().from(messages).where(eq(messages.roomId, roomId)) }

const messageSerializer = serializer(messages, {
  exclude: [],
  computed: {                                   // DRF's SerializerMethodField
    created_at_formatted: (row) => formatDate(row.createdAt)
  },
  nested: {                                     // nested serializers, one or many
    user: { serializer: userSerializer, source: (row, { db }) => loadUser(db, row.userId) }
  }
})
export const roomSerializer = serializer(rooms, {
  fields: ['pk', 'name', 'hostId', 'messages'],  // 'pk': the primary key under DRF's alias
  nested: { messages: { serializer: messageSerializer, many: true, source: (room, { db }) => messagesOf(db, room.id) } }
})
