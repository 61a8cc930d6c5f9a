import { Type } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import { defineConsumer, defineStreams, paginatedList, streamedList, type Page } from 'fastify-dcrf'
import { connect, type Subscription } from 'fastify-dcrf/client'
import { comments, commentSerializer, users, userSerializer, type UserOut } from './fixtures.js'

const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  observers: ({ modelObserver, observer }) => ({
    activity: modelObserver(users, { serialize: (row) => ({ id: row.id, username: row.username }) }),
    notes: observer('note', { serialize: (payload: { text: string }) => payload })
  }),
  actions: ({ action, crud, instanceSubscriptions }) => ({
    ...crud(),
    ...instanceSubscriptions(),
    send_email: action({
      schema: Type.Object({ pk: Type.Integer(), to: Type.String() }),
      aliases: ['mail'],
      handler: () => ({ data: { sent: true, at: new Date() } })
    }),
    silent: () => undefined,
    subscribe_activity: action({ subscribes: 'activity', handler: () => ({ status: 201 }) }),
    subscribe_notes: action({ subscribes: 'notes', handler: () => ({ status: 201 }) })
  })
})

// A value, as on a server; the client takes only its type.
export const streams = defineStreams({
  users: userConsumer,
  comments: defineConsumer({ table: comments, serializer: commentSerializer, actions: { ...streamedList() } }),
  paged: defineConsumer({ table: comments, serializer: commentSerializer, actions: { ...paginatedList() } })
})

const client = connect<typeof userConsumer>('ws://localhost/ws/users/')

test('replies are the data of the reply, as JSON', async () => {
  expect(await client.retrieve({ pk: 1 })).type.toBe<UserOut>()
  expect(await client.list()).type.toBe<UserOut[]>()
  expect(await client.delete({ pk: 1 })).type.toBe<null>()
  expect(await client.send_email({ pk: 1, to: 'a@example.com' })).type.toBe<{ sent: boolean, at: string }>()
  expect(await client.mail({ pk: 1, to: 'a@example.com' })).type.toBe<{ sent: boolean, at: string }>()
  expect(await client.$call('retrieve', { pk: 1 }, { timeout: 10 })).type.toBe<UserOut>()
  expect(client.state).type.toBe<'connecting' | 'open' | 'reconnecting' | 'closed'>()
})

test('arguments come from the schema and the serializer input', () => {
  expect(client.create({ data: { username: 'a', email: 'a@example.com', password: 'x' } })).type.not.toRaiseError()
  expect(client.patch({ pk: 1, data: { email: 'b@example.com' } })).type.not.toRaiseError()
  expect(client.retrieve).type.not.toBeCallableWith()
  expect(client.retrieve).type.not.toBeCallableWith({ pk: true })
  expect(client.send_email).type.not.toBeCallableWith({ pk: 1 })
  expect(client.send_email).type.not.toBeCallableWith({ pk: '1', to: 'x' })
  expect(client.create).type.not.toBeCallableWith({ data: { username: 'a', emial: 'a@example.com', password: 'x' } })
  expect(client.patch).type.not.toBeCallableWith({ pk: 1, data: { id: 'x' } })
  // Read-only fields are not input.
  expect(client.patch).type.not.toBeCallableWith({ pk: 1, data: { joinedAt: 'now' } })
})

test('wrong action names fail', () => {
  expect(client).type.not.toHaveProperty('nope')
  expect(client.$call).type.not.toBeCallableWith('nope')
  expect(client).type.not.toHaveProperty('stream')
})

test('subscriptions deliver the typed events of the action', async () => {
  const row = await client.$subscribe('subscribe_instance', { pk: 1 })
  expect(row).type.toBe<Subscription<{ action: 'update', data: UserOut } | { action: 'delete', data: { pk: unknown } }>>()
  await client.$subscribe('subscribe_activity', {}, {
    onEvent: (event) => {
      expect(event).type.toBe<{ action: 'create' | 'update' | 'delete', data: { id: number, username: string } }>()
    },
    unsubscribe: 'delete'
  })
  for await (const event of await client.$subscribe('subscribe_notes')) {
    expect(event).type.toBe<{ action: 'note', data: { text: string } }>()
  }
  // An action that declares no observer: events of any action and data.
  expect(await client.$subscribe('silent')).type.toBe<Subscription<{ action: string, data: unknown }>>()
  expect(client.$subscribe).type.not.toBeCallableWith('subscribe_activity', {}, { unsubscribe: 'nope' })
  expect(client.$subscribe).type.not.toBeCallableWith('subscribe_instance', {})
})

test('streams of a multiplexed route, each its consumer', async () => {
  const mux = connect<typeof streams>('ws://localhost/ws')
  expect(await mux.stream('users').retrieve({ pk: 1 })).type.toBe<UserOut>()
  expect(mux.stream).type.not.toBeCallableWith('nope')
  expect(mux).type.not.toHaveProperty('retrieve')
  for await (const page of mux.stream('comments').$stream('list', { limit: 10 })) {
    expect(page).type.toBe<Page<{ id: number, text: string }>>()
  }
  for await (const page of mux.stream('paged').$pages('list')) {
    expect(page).type.toBe<Page<{ id: number, text: string }>>()
  }
  // Only lists of pages stream.
  expect(mux.stream('users').$stream).type.not.toBeCallableWith('retrieve', { pk: 1 })
  expect(mux.stream('comments').$stream).type.not.toBeCallableWith('list', { limit: 'ten' })
})
