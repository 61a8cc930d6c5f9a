/**
 * What a client reads back from a consumer's type: its wire names (aliases included), the
 * arguments and the reply of one action, and the events of a subscription.
 */
import { Type } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import {
  crud,
  defineConsumer,
  instanceSubscriptions,
  mixins,
  paginatedList,
  streamedList,
  type ActionArgs,
  type inferActions,
  type inferArgs,
  type inferEvents,
  type inferInput,
  type inferReply,
  type Page
} from 'fastify-dcrf'
import { users, userSerializer, type UserOut } from './fixtures.js'

export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: ({ action }) => ({
    ...crud(),
    ...instanceSubscriptions(),
    ping: () => ({ data: 'pong' }),
    stamp: async () => ({ data: { at: new Date(), n: 1n }, status: 201 }),
    silent: () => {},
    join: action({
      schema: Type.Object({ room: Type.String() }),
      aliases: ['enter', 'come_in'],
      handler: (ctx, { room }) => ({ data: { room } })
    })
  })
})

export const pages = defineConsumer({ table: users, serializer: userSerializer, actions: { ...paginatedList() } })
export const streams = defineConsumer({ table: users, actions: { ...streamedList() } })
export const bare = defineConsumer({ table: users, actions: { ...mixins.list(), ...mixins.retrieve() } })

test('inferActions: every wire name, aliases included', () => {
  expect<inferActions<typeof userConsumer>>().type.toBe<
    'list' | 'retrieve' | 'create' | 'update' | 'patch' | 'delete' | 'subscribe_instance' | 'unsubscribe_instance' |
    'ping' | 'stamp' | 'silent' | 'join' | 'enter' | 'come_in'
  >()
  expect<inferActions<typeof streams>>().type.toBe<'list' | 'list_cancel'>()
})

test('inferReply: the data a custom handler returns, as JSON', () => {
  expect<inferReply<typeof userConsumer, 'ping'>>().type.toBe<string>()
  expect<inferReply<typeof userConsumer, 'stamp'>>().type.toBe<{ at: string, n: number | string }>()
  expect<inferReply<typeof userConsumer, 'join'>>().type.toBe<{ room: string }>()
  expect<inferReply<typeof userConsumer, 'enter'>>().type.toBe<{ room: string }>()
  expect<inferReply<typeof userConsumer, 'silent'>>().type.toBe<never>()
})

test('inferReply: the mixins reply with the serializer output', () => {
  expect<inferReply<typeof userConsumer, 'list'>>().type.toBe<UserOut[]>()
  expect<inferReply<typeof userConsumer, 'retrieve'>>().type.toBe<UserOut>()
  expect<inferReply<typeof userConsumer, 'create'>>().type.toBe<UserOut>()
  expect<inferReply<typeof userConsumer, 'update'>>().type.toBe<UserOut>()
  expect<inferReply<typeof userConsumer, 'patch'>>().type.toBe<UserOut>()
  expect<inferReply<typeof userConsumer, 'delete'>>().type.toBe<null>()
  expect<inferReply<typeof userConsumer, 'subscribe_instance'>>().type.toBe<null>()
  expect<inferReply<typeof pages, 'list'>>().type.toBe<Page<UserOut>>()
  // Without a serializer: every column, as JSON.
  expect<inferReply<typeof streams, 'list'>>().type.toBe<Page<{ id: number, username: string, email: string, password: string, joinedAt: string }>>()
  expect<inferReply<typeof streams, 'list_cancel'>>().type.toBe<null>()
  expect<inferReply<typeof bare, 'retrieve'>>().type.toBe<{ id: number, username: string, email: string, password: string, joinedAt: string }>()
})

test('inferArgs: the schema, the mixins\' pk and data from the serializer input', () => {
  // The database fills the key and joinedAt is read-only: neither is input.
  expect<inferInput<typeof userSerializer>>().type.toBe<{ username: string, email: string, password: string }>()
  expect<inferArgs<typeof userConsumer, 'join'>>().type.toBe<{ room: string }>()
  expect<inferArgs<typeof userConsumer, 'come_in'>>().type.toBe<{ room: string }>()
  expect<inferArgs<typeof userConsumer, 'ping'>>().type.toBe<ActionArgs>()
  expect<inferArgs<typeof userConsumer, 'create'>>().type.toBe<{ data: inferInput<typeof userSerializer> }>()
  expect<inferArgs<typeof userConsumer, 'patch'>>().type.toBe<{ pk: number | string, data: Partial<inferInput<typeof userSerializer>> }>()
  expect<inferArgs<typeof userConsumer, 'retrieve'>>().type.toBe<{ pk: number | string }>()
  expect<inferArgs<typeof pages, 'list'>>().type.toBe<{ limit?: number, offset?: number, [key: string]: unknown }>()
})

test('a wrong action name does not compile', () => {
  expect<inferReply<typeof userConsumer, 'lst'>>().type.toRaiseError("Type '\"lst\"' does not satisfy the constraint")
})

test('inferEvents: a row subscription sends the serialized row, then its key', () => {
  expect<inferEvents<typeof userConsumer, 'subscribe_instance'>>().type.toBe<
    { action: 'update', data: UserOut } | { action: 'delete', data: { pk: unknown } }
  >()
  expect<inferEvents<typeof userConsumer, 'retrieve'>>().type.toBe<never>()
})
