/**
 * The mixins' overridable steps, typed by the consumer when its builders hand them out.
 */
import { expect, test } from 'tstyche'
import { crud, defineConsumer, instanceSubscriptions, mixins, type ActionArgs, type ConsumerContext, type inferArgs, type inferInput, type ValidatedOf } from 'fastify-dcrf'
import { connect } from 'fastify-dcrf/client'
import { users, userSerializer, type UserOut } from './fixtures.js'

type User = typeof users.$inferSelect
export const bare = defineConsumer({ table: users, actions: { ...mixins.retrieve() } })
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

export const byName = defineConsumer({
  table: users,
  serializer: userSerializer,
  lookupField: 'username',
  lookupKwarg: 'name',
  actions: { ...crud(), ...instanceSubscriptions() }
})
type Input = inferInput<typeof userSerializer>

test('the mixins look rows up by the consumer\'s lookupKwarg', () => {
  expect<inferArgs<typeof byName, 'retrieve'>>().type.toBe<{ name: number | string }>()
  expect<inferArgs<typeof byName, 'delete'>>().type.toBe<{ name: number | string }>()
  expect<inferArgs<typeof byName, 'update'>>().type.toBe<{ name: number | string, data: Input }>()
  expect<inferArgs<typeof byName, 'patch'>>().type.toBe<{ name: number | string, data: Partial<Input> }>()
  expect<inferArgs<typeof byName, 'subscribe_instance'>>().type.toBe<{ name: number | string }>()
  expect<inferArgs<typeof byName, 'unsubscribe_instance'>>().type.toBe<{ name: number | string }>()
  expect<inferArgs<typeof byName, 'create'>>().type.toBe<{ data: Input }>()
  // Without one, `pk`.
  expect<inferArgs<typeof bare, 'retrieve'>>().type.toBe<{ pk: number | string }>()
})

test('a client sends the lookup under that name, and not under pk', () => {
  const client = connect<typeof byName>('ws://localhost/ws/users/')
  expect(client.retrieve).type.toBeCallableWith({ name: 'ada' })
  expect(client.retrieve).type.not.toBeCallableWith({ pk: 1 })
  expect(client.retrieve({ pk: 1 })).type.toRaiseError("Object literal may only specify known properties, and 'pk' does not exist in type '{ name: Lookup; }'")
  expect(client.patch({ data: { email: 'x' } })).type.toRaiseError("Property 'name' is missing in type '{ data: { email: string; }; }' but required in type")
})
