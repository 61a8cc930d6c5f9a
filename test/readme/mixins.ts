import { scrypt } from 'node:crypto'
import { promisify } from 'node:util'
import { eq } from 'drizzle-orm'
import { defineConsumer } from 'fastify-dcrf'
import { users } from './schema.js'

const derive = promisify(scrypt) as (password: string, salt: string, length: number) => Promise<Buffer>
async function hash (password: string): Promise<string> { return (await derive(password, 'salt', 32)).toString('hex') }

export const withSteps = defineConsumer({
  table: users,
  actions: ({ mixins }) => ({
    ...mixins.create({
      async performCreate (ctx, values) {            // DCRF's perform_create; values: users' columns
        const [row] = await ctx.db.insert(users).values({ username: '', email: '', ...values, password: await hash(values.password ?? '') }).returning()
        return row
      }
    }),
    ...mixins.patch({ performPatch: async (ctx, row, values) => { /* ... */ return row } }),
    ...mixins.delete({ performDelete: async (ctx, row) => { /* soft delete... */ await ctx.db.update(users).set({ email: '' }).where(eq(users.id, row.id)) } })
  })
})
