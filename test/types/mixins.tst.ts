/**
 * The mixins' overridable steps, typed by the consumer when its builders hand them out.
 */
import { expect, test } from 'tstyche'
import { defineConsumer, mixins, type ActionArgs, type ConsumerContext, type ValidatedOf } from 'fastify-dcrf'
import { users, userSerializer, type UserOut } from './fixtures.js'

type User = typeof users.$inferSelect
type Ctx = ConsumerContext<{ n: number }, typeof users, UserOut, Record<never, never>>

test('builder mixins: the consumer context, the column values and the rows of its table', () => {
  defineConsumer({
    table: users,
    serializer: userSerializer,
    state: () => ({ n: 0 }),
    actions: ({ mixins, crud }) => ({
      ...mixins.create({
        async performCreate (ctx, values, args) {
          expect(ctx).type.toBe<Ctx>()
          expect(values).type.toBe<ValidatedOf<typeof users>>()
          expect(args).type.toBe<ActionArgs>()
          const [row] = await ctx.db.insert(users).values({ username: 'a', email: 'b', password: 'c', ...values }).returning()
          return row
        }
      }),
      ...mixins.patch({ performPatch: async (ctx, row, values) => { expect(row).type.toBe<User>(); expect(values).type.toBe<ValidatedOf<typeof users>>(); return row } }),
      ...mixins.update({ performUpdate: async (ctx, row) => { expect(ctx).type.toBe<Ctx>(); return row } }),
      ...mixins.delete({ performDelete: async (ctx, row) => { expect(row).type.toBe<User>() } }),
      ...crud({ performCreate: async (ctx, values) => { expect(values).type.toBe<ValidatedOf<typeof users>>(); return {} as User } })
    })
  })
})

test('a typo in a column of the values does not compile', () => {
  expect(defineConsumer({
    table: users,
    actions: ({ mixins }) => ({ ...mixins.create({ performCreate: async (ctx, values) => { values.usrname = 'x'; return {} as User } }) })
  })).type.toRaiseError("Property 'usrname' does not exist")
  expect(defineConsumer({
    table: users,
    actions: ({ mixins }) => ({ ...mixins.create({ performCreate: async () => ({ id: 'x' }) }) })
  })).type.toRaiseError()
})

test('the exported mixins do not know their consumer: values of any column', () => {
  mixins.create({
    async performCreate (ctx, values) {
      expect(values).type.toBe<Record<string, unknown>>()
      return values
    }
  })
})
