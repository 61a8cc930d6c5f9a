import { Type } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import { defineConsumer, type ActionArgs, type inferActions } from 'fastify-dcrf'
import { commentSerializer, users, userSerializer } from './fixtures.js'

type User = typeof users.$inferSelect

test('an inline handler: the state of the factory, the table rows, arguments of any value', () => {
  defineConsumer({
    table: users,
    state: () => ({ room: null as string | null }),
    actions: {
      async join (ctx, args) {
        expect(args).type.toBe<ActionArgs>()
        expect(ctx.state).type.toBe<{ room: string | null }>()
        expect(await ctx.getObject(1)).type.toBe<User>()
        expect(ctx.state).type.not.toHaveProperty('nope')
      }
    }
  })
})

test('a builder action: arguments from the schema, the consumer state and rows', () => {
  defineConsumer({
    table: users,
    serializer: userSerializer,
    state: () => ({ room: null as string | null }),
    actions: ({ action }) => ({
      send_email: action({
        schema: Type.Object({ pk: Type.Integer(), to: Type.String() }),
        async handler (ctx, args) {
          expect(args).type.toBe<{ pk: number, to: string }>()
          expect(ctx.state).type.toBe<{ room: string | null }>()
          const user = await ctx.getObject(args.pk)
          expect(user).type.toBe<User>()
          expect(await ctx.serialize(user)).type.toBe<{ id: number, username: string, email: string, joinedAt: string }>()
          return { data: user.email }
        }
      })
    })
  })
})

test('a serializer of another table is refused', () => {
  expect(defineConsumer({ table: users, serializer: commentSerializer, actions: {} })).type.toRaiseError('is not assignable to')
})

test('unknown keys in a result are refused', () => {
  expect(defineConsumer({ actions: { bad: () => ({ data: 1, statsu: 201 }) } })).type.toRaiseError('an action returns { data, status } or nothing')
})

test('a bare value is not a result', () => {
  expect(defineConsumer({ actions: { bad: () => 'text' } })).type.toRaiseError()
})

test('inferActions', () => {
  const c = defineConsumer({
    actions: ({ action }) => ({
      ping: () => ({ data: 'pong' }),
      join: action({ aliases: ['enter'], handler: () => ({ data: 1 }) })
    })
  })
  expect<inferActions<typeof c>>().type.toBe<'ping' | 'join' | 'enter'>()
})
