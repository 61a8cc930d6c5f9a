/**
 * The tables the README's examples use.
 */
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  email: text('email').notNull(),
  password: text('password').notNull()
})

export const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  userId: integer('user_id').notNull().references(() => users.id)
})

export const rooms = pgTable('rooms', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  hostId: integer('host_id').notNull()
})

export const messages = pgTable('messages', {
  id: serial('id').primaryKey(),
  roomId: integer('room_id').notNull(),
  userId: integer('user_id').notNull(),
  text: text('text').notNull(),
  createdAt: timestamp('created_at').notNull().defaultNow()
})
