/**
 * `getSerializer`: what it answers types `ctx.serialize()`, the mixins' replies and their input.
 */
import { expect, test } from 'tstyche'
import { crud, defineConsumer, serializer, type ConsumerContext, type inferArgs, type inferInput, type inferReply, type ObserverMap } from 'fastify-dcrf'
import { commentSerializer, users, userSerializer, type UserOut } from './fixtures.js'

type User = typeof users.$inferSelect
const brief = serializer(users, { fields: ['id', 'username'] })
type Brief = { id: number, username: string }

test('ctx.serialize: any serializer getSerializer answers, and the consumer\'s own where it may answer none', () => {
  defineConsumer({
    table: users,
    serializer: userSerializer,
    getSerializer: (ctx, action) => {
      // Its own context serializes with `serializer`: the one being chosen is not known yet.
      expect(ctx).type.toBe<ConsumerContext<Record<never, never>, typeof users, UserOut, ObserverMap>>()
      return action === 'list' ? brief : undefined
    },
    async onConnect (ctx) { expect(await ctx.serialize({} as User)).type.toBe<UserOut | Brief>() },
    actions: ({ action }) => ({
      inline: async (ctx) => { expect(await ctx.serialize(await ctx.getObject(1), 'list')).type.toBe<UserOut | Brief>() },
      built: action({ handler: async (ctx) => { expect(await ctx.serialize(await ctx.getObject(1))).type.toBe<UserOut | Brief>() } })
    })
  })
  defineConsumer({
    table: users,
    serializer: userSerializer,
    getSerializer: () => brief,
    actions: { a: async (ctx) => { expect(await ctx.serialize(await ctx.getObject(1))).type.toBe<Brief>() } }
  })
  // Without a getSerializer, the serializer's output alone.
  defineConsumer({
    table: users,
    serializer: userSerializer,
    actions: { a: async (ctx) => { expect(await ctx.serialize(await ctx.getObject(1))).type.toBe<UserOut>() } }
  })
})

export const chooser = defineConsumer({
  table: users,
  serializer: userSerializer,
  getSerializer: (ctx, action) => action === 'list' ? brief : undefined,
  actions: { ...crud() }
})

test('the mixins reply with, and accept, what getSerializer\'s serializers do', () => {
  expect<inferReply<typeof chooser, 'list'>>().type.toBe<Array<UserOut | Brief>>()
  expect<inferReply<typeof chooser, 'retrieve'>>().type.toBe<UserOut | Brief>()
  expect<inferArgs<typeof chooser, 'create'>>().type.toBe<{ data: inferInput<typeof userSerializer> | inferInput<typeof brief> }>()
})

test('getSerializer answers serializers of the consumer\'s table only', () => {
  expect(defineConsumer({ table: users, getSerializer: () => commentSerializer, actions: {} })).type.toRaiseError("Type 'Serializer<PgTableWithColumns<{ name: \"comments\"")
})

test('a getSerializer reading its arguments goes before the hooks, observers and actions whose context it types', () => {
  // TypeScript types a definition's functions in order: a hook before it has fixed what it answers.
  expect(defineConsumer({
    table: users,
    onConnect: (ctx) => { ctx.log.info('open') },
    getSerializer: (ctx, action) => action === 'list' ? brief : undefined,
    actions: {}
  })).type.toRaiseError(/Type 'Serializer<[^']*' is not assignable to type 'undefined'/)
  expect(defineConsumer({
    table: users,
    getSerializer: (ctx, action) => action === 'list' ? brief : undefined,
    onConnect: (ctx) => { ctx.log.info('open') },
    actions: {}
  })).type.not.toRaiseError()
  expect(defineConsumer({
    table: users,
    observers: ({ modelObserver }) => ({ all: modelObserver(users) }),
    getSerializer: (ctx, action) => action === 'list' ? brief : undefined,
    actions: {}
  })).type.toRaiseError(/Type 'Serializer<[^']*' is not assignable to type 'undefined'/)
})
