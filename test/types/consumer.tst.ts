/**
 * One definition types every context it hands out: inline handlers, builder actions, hooks,
 * group handlers, permissions, querysets and serializer hooks.
 */
import { Type } from '@sinclair/typebox'
import { eq, type SQL } from 'drizzle-orm'
import type { FastifyRequest } from 'fastify'
import { expect, test } from 'tstyche'
import { action, defineConsumer, type ActionArgs, type ConsumerContext, type ObserverMap, type Permission } from 'fastify-dcrf'
import { commentSerializer, users, userSerializer, type UserOut } from './fixtures.js'

type User = typeof users.$inferSelect
type State = { room: string | null }

test('an inline handler: the state of the factory, the rows of the table, arguments of unknown values', () => {
  defineConsumer({
    table: users,
    state: () => ({ room: null as string | null }),
    actions: {
      async join (ctx, args, call) {
        expect(args).type.toBe<ActionArgs>()
        expect(call.requestId).type.toBe<unknown>()
        expect(ctx.state).type.toBe<State>()
        expect(await ctx.getObject(1)).type.toBe<User>()
        expect(await ctx.serialize(await ctx.getObject(1))).type.toBe<{ id: number, username: string, email: string, password: string, joinedAt: string }>()
      }
    }
  })
  expect(defineConsumer({ state: () => ({ room: '' }), actions: { join: (ctx) => { ctx.state.nope = 1 } } })).type.toRaiseError("Property 'nope' does not exist")
})

test('a consumer without a state factory has no state to write to', () => {
  expect(defineConsumer({ actions: { a: (ctx) => { ctx.state.x = 1 } } })).type.toRaiseError("Property 'x' does not exist on type 'Record<never, never>'")
})

test('a builder action: arguments from the schema, the consumer state, rows and serializer', () => {
  defineConsumer({
    table: users,
    serializer: userSerializer,
    state: () => ({ room: null as string | null }),
    actions: ({ action }) => ({
      send_email: action({
        schema: Type.Object({ pk: Type.Integer(), to: Type.String() }),
        async handler (ctx, args) {
          expect(args).type.toBe<{ pk: number, to: string }>()
          expect(ctx.state).type.toBe<State>()
          const user = await ctx.getObject(args.pk)
          expect(user).type.toBe<User>()
          expect(await ctx.serialize(user)).type.toBe<UserOut>()
          return { data: user.email }
        }
      })
    })
  })
  expect(defineConsumer({
    table: users,
    state: () => ({ room: '' }),
    actions: ({ action }) => ({ a: action({ handler: (ctx) => { ctx.state.nope = 1 } }) })
  })).type.toRaiseError("Property 'nope' does not exist")
  expect(defineConsumer({
    table: users,
    actions: ({ action }) => ({ a: action({ handler: async (ctx) => { const name: number = (await ctx.getObject(1)).username; return { data: name } } }) })
  })).type.toRaiseError("Type 'string' is not assignable to type 'number'")
})

test('the standalone action() types its arguments but not its consumer', () => {
  action({
    schema: Type.Object({ pk: Type.Integer() }),
    handler (ctx, args) {
      expect(args).type.toBe<{ pk: number }>()
      expect(ctx).type.toBe<ConsumerContext<Record<string, any>, any, any, any>>()
    }
  })
})

test('hooks, group handlers, permissions, querysets and serializer hooks get the consumer context', () => {
  // Observer names are checked in actions only: see ConsumerInput.
  type Ctx = ConsumerContext<State, typeof users, UserOut, ObserverMap>
  type ActionCtx = ConsumerContext<State, typeof users, UserOut, Record<never, never>>
  defineConsumer({
    table: users,
    serializer: userSerializer,
    state: () => ({ room: null as string | null }),
    async onConnect (ctx) {
      expect(ctx).type.toBe<Ctx>()
      expect(await ctx.getObject(1)).type.toBe<User>()
    },
    onDisconnect (ctx, code) {
      expect(ctx).type.toBe<Ctx>()
      expect(code).type.toBe<number>()
    },
    groupHandlers: {
      chat_message: (ctx) => { expect(ctx).type.toBe<Ctx>() }
    },
    permissions: [{
      hasPermission: (ctx, action, args) => {
        expect(ctx).type.toBe<Ctx>()
        expect(action).type.toBe<string>()
        expect(args).type.toBe<ActionArgs>()
        return true
      },
      canConnect: (ctx) => { expect(ctx).type.toBe<Ctx>(); return true }
    }],
    queryset: (ctx, args): SQL | undefined => { expect(ctx).type.toBe<Ctx>(); expect(args).type.toBe<ActionArgs>(); return eq(users.id, 1) },
    filterQueryset: (ctx) => { expect(ctx).type.toBe<Ctx>(); return undefined },
    getSerializer: (ctx) => { expect(ctx).type.toBe<Ctx>(); return undefined },
    serializerContext: (ctx) => { expect(ctx).type.toBe<Ctx>(); return {} },
    orderBy: (table) => { expect(table).type.toBe<typeof users>(); return table.username },
    actions: ({ action }) => ({
      a: action({
        permissions: [{ hasPermission: (ctx) => { expect(ctx).type.toBe<ActionCtx>(); return true } }],
        handler: () => undefined
      })
    })
  })
})

test('a permission declared apart fits every consumer', () => {
  const isOwner: Permission = { hasPermission: (ctx, action, args) => args.user_pk === ctx.user }
  expect(defineConsumer({ table: users, state: () => ({ a: 1 }), permissions: [isOwner], actions: {} })).type.not.toRaiseError()
})

test('a helper typed ConsumerContext<State, typeof table> accepts the consumer context', () => {
  const join = (ctx: ConsumerContext<State, typeof users>): string | null => ctx.state.room
  expect(defineConsumer({
    table: users,
    serializer: userSerializer,
    state: () => ({ room: null as string | null }),
    actions: { a: (ctx) => ({ data: join(ctx) }) }
  })).type.not.toRaiseError()
})

test('column keys: lookupField and orderBy refuse typos', () => {
  expect(defineConsumer({ table: users, lookupField: 'usernme', actions: {} })).type.toRaiseError("Type '\"usernme\"' is not assignable to type")
})

test('a serializer of another table is refused', () => {
  expect(defineConsumer({ table: users, serializer: commentSerializer, actions: {} })).type.toRaiseError("Type 'Serializer<PgTableWithColumns<{ name: \"comments\"")
})

test('results: unknown keys and bare values are refused, inline and in the builder', () => {
  expect(defineConsumer({ actions: { bad: () => ({ data: 1, statsu: 201 }) } })).type.toRaiseError("Type 'number' is not assignable to type '\"an action returns { data, status } or nothing\"'")
  expect(defineConsumer({ actions: { bad: async () => ({ data: 1, statsu: 201 }) } })).type.toRaiseError('an action returns { data, status } or nothing')
  expect(defineConsumer({ actions: ({ action }) => ({ bad: action({ handler: () => ({ data: 1, statsu: 201 }) }) }) })).type.toRaiseError(/is not assignable to type/)
  expect(defineConsumer({ actions: { bad: () => 'text' } })).type.toRaiseError("Type '() => string' is not assignable to type 'ActionEntry")
  expect(defineConsumer({ actions: { good: () => ({ data: 1, status: 201 }), none: () => {}, nothing: async () => undefined } })).type.not.toRaiseError()
})

test('a builder action\'s unknown result key is an error at that key, not on the whole builder', () => {
  // The only error is the key's own: one line, nothing about the builder function.
  expect(defineConsumer({
    actions: ({ action }) => ({ bad: action({ handler: () => ({ data: 1, statsu: 201 }) }) })
  })).type.toRaiseError(/^Type 'number' is not assignable to type '"an action returns \{ data, status \} or nothing"'\.$/)
  // A block body's result is checked on its handler, naming the key.
  expect(defineConsumer({
    actions: ({ action }) => ({ bad: action({ async handler () { return { data: 1, statsu: 201 } } }) })
  })).type.toRaiseError(/^Type '\(\) => Promise<\{ data: number; statsu: number; \}>' is not assignable[\s\S]*Types of property 'statsu' are incompatible/)
  defineConsumer({
    actions: ({ action }) => {
      expect(action({ handler: () => ({ data: 1, statsu: 201 }) })).type.toRaiseError("Type 'number' is not assignable to type '\"an action returns { data, status } or nothing\"'")
      expect(action({ handler: () => 'text' })).type.toRaiseError("Type 'string' is not assignable to type")
      return {}
    }
  })
})

test('request.dcrf: the context of a consumer not known', () => {
  const request = {} as FastifyRequest
  expect(request.dcrf).type.toBe<ConsumerContext<Record<string, unknown>> | null>()
  expect(request.dcrf!.state.room).type.toBe<unknown>()
})
