/**
 * Sample data, so that the pages and the tests have something to show: three users with known
 * passwords, two things and a chat room. Seeding is idempotent (it only adds what is missing), so
 * it can run at every start, by several processes sharing a database.
 *
 * | username | password    | email             |
 * |----------|-------------|-------------------|
 * | test1    | password1   | test1@example.com |
 * | test2    | password2   | test2@example.com |
 * | test3    | password3   | test3@example.com |
 *
 * Things: "first" and "second" (counter 0). Room: "general", hosted by test1.
 */
import { count, eq, inArray } from 'drizzle-orm'
import type { Database } from 'fastify-dcrf'
import { hashPassword } from './passwords.js'
import { rooms, things, users } from './schema.js'

export const SEED_USERS = [
  { username: 'test1', password: 'password1', email: 'test1@example.com' },
  { username: 'test2', password: 'password2', email: 'test2@example.com' },
  { username: 'test3', password: 'password3', email: 'test3@example.com' }
] as const

export const SEED_THINGS = [{ name: 'first' }, { name: 'second' }] as const

export const SEED_ROOM = 'general'

export async function seed (db: Database): Promise<void> {
  const usernames = SEED_USERS.map((user) => user.username)
  const existing = new Set((await db.select({ username: users.username }).from(users).where(inArray(users.username, usernames))).map((row) => row.username))
  for (const user of SEED_USERS) {
    if (existing.has(user.username)) continue
    await db.insert(users).values({ ...user, password: await hashPassword(user.password) }).onConflictDoNothing()
  }

  const [{ total }] = await db.select({ total: count() }).from(things)
  if (total === 0) await db.insert(things).values([...SEED_THINGS])

  const [host] = await db.select({ id: users.id }).from(users).where(eq(users.username, SEED_USERS[0].username))
  await db.insert(rooms).values({ name: SEED_ROOM, host: host.id }).onConflictDoNothing()
}
