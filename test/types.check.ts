/**
 * Type tests, checked by `tsc --noEmit` (part of `npm test`): each `@ts-expect-error` must meet an
 * error, so a type that got looser fails the build.
 */
import { Type } from '@sinclair/typebox'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { action, defineConsumer, modelObserver, serializer, type inferActions } from 'fastify-dcrf'

const users = pgTable('users', { id: serial('id').primaryKey(), username: text('username').notNull() })

// An action's arguments are inferred from its schema.
export const typed = action({
  schema: Type.Object({ pk: Type.Integer(), to: Type.String() }),
  handler (_ctx, { pk, to }) {
    const n: number = pk
    const s: string = to
    // @ts-expect-error: pk is a number
    const wrong: string = pk
    return { data: { n, s, wrong } }
  }
})

// A consumer's state is inferred from its factory and types every inline handler's context.
export const stateful = defineConsumer({
  state: () => ({ room: null as string | null }),
  actions: {
    join (ctx, { room }) {
      ctx.state.room = String(room)
      // @ts-expect-error: no such state
      ctx.state.nope = 1
    },
    typed
  }
})

// The wire action names of a consumer are visible in its type.
export const names: Array<inferActions<typeof stateful>> = ['join', 'typed']
// @ts-expect-error: not an action of the consumer
export const notAName: inferActions<typeof stateful> = 'leave'

// A generic consumer's rows are typed from its table.
export const generic = defineConsumer({
  table: users,
  lookupField: 'username',
  actions: {
    async rename (ctx, { pk }) {
      const row = await ctx.getObject(pk)
      const name: string = row.username
      // @ts-expect-error: no such column
      return { data: row.email ?? name }
    }
  }
})

// @ts-expect-error: a typo in a column name does not compile
defineConsumer({ table: users, lookupField: 'usernme', actions: {} })

// @ts-expect-error: a typo in a serializer field does not compile
serializer(users, { fields: ['id', 'usrname'] })

// Observers get the table's rows.
export const observed = modelObserver(users, {
  groupsForSignal: (row) => [`user__${row.id}`],
  // @ts-expect-error: no such column
  serialize: (row) => row.email
})

// Action results must be { data, status } or nothing.
// @ts-expect-error: a bare value is not a result
defineConsumer({ actions: { bad: () => 'text' } })
