/**
 * The tables of the documentation's examples: the `User` and `Comment` models of DCRF's docs.
 */
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  email: text('email').notNull().default(''),
  password: text('password').notNull().default('')
})

export const comments = pgTable('comments', {
  id: serial('id').primaryKey(),
  text: text('text').notNull(),
  userId: integer('user_id').notNull().references(() => users.id),
  date: timestamp('date', { withTimezone: true }).notNull().defaultNow()
})

/** The SQL creating them, with the two users the docs start with. */
export const DDL = `
  create table users (id serial primary key, username text not null unique, email text not null default '', password text not null default '');
  create table comments (id serial primary key, text text not null, user_id integer not null references users(id), date timestamptz not null default now());
  insert into users (username, email) values ('test1', '42@example.com'), ('test2', '45@example.com');
`
