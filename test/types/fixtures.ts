/**
 * Tables and serializers the type tests share.
 */
import { Type } from '@sinclair/typebox'
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import { serializer } from 'fastify-dcrf'

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull(),
  email: text('email').notNull(),
  password: text('password').notNull(),
  joinedAt: timestamp('joined_at').notNull().defaultNow()
})

export const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  userId: integer('user_id').notNull()
})

export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password', 'joinedAt'],
  writeOnly: ['password'],
  readOnly: ['joinedAt'],
  schema: { email: Type.String({ format: 'email' }) }
})

export const commentSerializer = serializer(comments, { fields: ['id', 'text'] })

/** A user as the user serializer sends it. */
export interface UserOut { id: number, username: string, email: string, joinedAt: string }
