/**
 * The example's tables (Drizzle, PostgreSQL). `db.ts` creates them with the same columns.
 *
 * Foreign keys are named the way Django names them and DRF serializes them — a `user` field stored
 * in a `user_id` column — so that serializers send `"user": 1` as DCRF clients expect.
 */
import { integer, pgTable, primaryKey, serial, text, timestamp } from 'drizzle-orm/pg-core'

/** Users; `password` holds a scrypt hash (`passwords.ts`) and is never sent to clients. */
export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  email: text('email').notNull(),
  password: text('password').notNull()
})

/** The rows of the multiplexed `/ws` socket's two streams. */
export const things = pgTable('things', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  counter: integer('counter').notNull().default(0)
})

/** Comments of DCRF's "Model observer" examples. */
export const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  user: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  date: timestamp('date', { withTimezone: true }).notNull().defaultNow()
})

/** Chat rooms of the DCRF tutorial: a unique name and the user who opened it. */
export const rooms = pgTable('rooms', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  host: integer('host_id').notNull().references(() => users.id, { onDelete: 'cascade' })
})

/** Who is in a room right now (the tutorial's `Room.current_users`, a many-to-many). */
export const roomUsers = pgTable('room_users', {
  room: integer('room_id').notNull().references(() => rooms.id, { onDelete: 'cascade' }),
  user: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' })
}, (table) => [primaryKey({ columns: [table.room, table.user] })])

/** Messages posted in a room. */
export const messages = pgTable('messages', {
  id: serial('id').primaryKey(),
  room: integer('room_id').notNull().references(() => rooms.id, { onDelete: 'cascade' }),
  user: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  text: text('text').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
})

export type User = typeof users.$inferSelect
export type Room = typeof rooms.$inferSelect
export type Message = typeof messages.$inferSelect
