/**
 * Observers: rows of their table, messages of their serializer, payloads of declared signals,
 * callbacks with the consumer's context, names checked, events read back.
 */
import { Type } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import {
  defineConsumer,
  modelObserver,
  observer,
  type ActionArgs,
  type ConsumerContext,
  type inferEvents,
  type ObserverDefinition,
  type ObserverDelivery
} from 'fastify-dcrf'
import { comments, users } from './fixtures.js'

declare module 'fastify-dcrf' {
  interface DcrfSignals {
    user_logged_in: { id: number, username: string }
  }
}

test('a model observer: rows of its table', () => {
  modelObserver(comments, {
    serialize: (row, action) => {
      expect(row).type.toBe<typeof comments.$inferSelect>()
      expect(action).type.toBe<'create' | 'update' | 'delete'>()
      return { id: row.id }
    },
    groupsForSignal: (row) => [`user__${row.userId}`]
  })
  expect(modelObserver(users, { serialize: (row) => row.emial })).type.toRaiseError("Property 'emial' does not exist")
})

test('a signal observer: the payload DcrfSignals declares, unknown otherwise, or the first type argument', () => {
  observer('user_logged_in', { serialize: (user) => { expect(user).type.toBe<{ id: number, username: string }>(); return user.username } })
  observer('undeclared', { serialize: (payload) => { expect(payload).type.toBe<unknown>(); return null } })
  observer<{ name: string }>('explicit', { serialize: (payload) => { expect(payload).type.toBe<{ name: string }>(); return payload.name } })
})

export const commentConsumer = defineConsumer({
  table: comments,
  state: () => ({ watching: false }),
  observers: ({ modelObserver, observer }) => ({
    comment_activity: modelObserver(comments, {
      serialize: (row) => ({ id: row.id, text: row.text }),
      groupsForConsumer: (ctx, args) => {
        expect(ctx.state).type.toBe<{ watching: boolean }>()
        expect(args).type.toBe<ActionArgs>()
        return ['all']
      }
    }),
    // A custom handle sends frames of its own: what they are, it says, or nobody knows.
    comment_log: modelObserver(comments, {
      serialize: (row) => ({ id: row.id, text: row.text }),
      handle: (ctx, message, delivery) => {
        expect(ctx.state).type.toBe<{ watching: boolean }>()
        expect(message).type.toBe<{ id: number, text: string }>()
        expect(delivery).type.toBe<ObserverDelivery>()
        for (const requestId of delivery.requestIds) ctx.reply({ action: 'logged', data: message.id, requestId })
      }
    }),
    comment_feed: modelObserver(comments, {
      serialize: (row) => ({ id: row.id, text: row.text }),
      handle: (ctx, message, delivery: ObserverDelivery<{ action: 'comment', data: { text: string, mine: boolean } }>) => {
        expect(message).type.toBe<{ id: number, text: string }>()
        expect(delivery.requestIds).type.toBe<unknown[]>()
        for (const requestId of delivery.requestIds) ctx.reply({ action: 'comment', data: { text: message.text, mine: ctx.state.watching }, requestId })
      }
    }),
    logins: observer('user_logged_in', { serialize: (user) => ({ username: user.username }) }),
    greetings: observer('user_logged_in', {
      async handle (ctx, user, delivery: ObserverDelivery<{ action: 'hello', data: string }>) {
        expect(user).type.toBe<{ id: number, username: string }>()
        for (const requestId of delivery.requestIds) ctx.reply({ action: 'hello', data: user.username, requestId })
      }
    })
  }),
  actions: ({ action }) => ({
    subscribe_to_comment_activity: action({
      subscribes: 'comment_activity',
      async handler (ctx, args, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
    subscribe_to_comment_log: action({ subscribes: 'comment_log', handler: () => ({ status: 201 }) }),
    subscribe_to_comment_feed: action({ subscribes: 'comment_feed', handler: () => ({ status: 201 }) }),
    subscribe_to_greetings: action({ subscribes: 'greetings', handler: () => ({ status: 201 }) }),
    subscribe_to_logins: action({
      subscribes: 'logins',
      schema: Type.Object({}),
      handler: async (ctx, args, { requestId }) => { await ctx.observer('logins').subscribe({ requestId }); return { status: 201 } }
    })
  })
})

test('observer names are the consumer\'s', () => {
  expect(defineConsumer({
    observers: { logins: observer('user_logged_in') },
    actions: { a: async (ctx) => { await ctx.observer('typo').subscribe() } }
  })).type.toRaiseError("Argument of type '\"typo\"' is not assignable to parameter of type '\"logins\"'")
  expect(defineConsumer({
    observers: ({ observer }) => ({ logins: observer('user_logged_in') }),
    actions: ({ action }) => ({ a: action({ subscribes: 'typo', handler: () => undefined }) })
  })).type.toRaiseError("Type '\"typo\"' is not assignable to type '\"logins\"'")
})

test('inferEvents: a custom handle\'s events are what its delivery parameter declares, else unknown', () => {
  expect<inferEvents<typeof commentConsumer, 'subscribe_to_comment_feed'>>().type.toBe<{ action: 'comment', data: { text: string, mine: boolean } }>()
  expect<inferEvents<typeof commentConsumer, 'subscribe_to_greetings'>>().type.toBe<{ action: 'hello', data: string }>()
  expect<inferEvents<typeof commentConsumer, 'subscribe_to_comment_log'>>().type.toBe<unknown>()
  // Defined apart, the same.
  expect(modelObserver(comments, { handle: () => {} })).type.toBe<ObserverDefinition<unknown>>()
  expect(modelObserver(comments, { handle: (ctx, message, delivery: ObserverDelivery<{ action: 'x', data: null }>) => {} }))
    .type.toBe<ObserverDefinition<{ action: 'x', data: null }>>()
  expect(modelObserver(comments)).type.toBe<ObserverDefinition<{ action: 'create' | 'update' | 'delete', data: { pk: unknown } }>>()
  // What it declares is checked against the delivery it is given: an event is any type, a delivery is not.
  expect(modelObserver(comments, { handle: (ctx, message, delivery: { action: number }) => {} })).type.toRaiseError("Type 'string' is not assignable to type 'number'")
})

test('inferEvents: the events of the observer an action subscribes to', () => {
  expect<inferEvents<typeof commentConsumer, 'subscribe_to_comment_activity'>>().type.toBe<
    { action: 'create' | 'update' | 'delete', data: { id: number, text: string } }
  >()
  expect<inferEvents<typeof commentConsumer, 'subscribe_to_logins'>>().type.toBe<{ action: 'user_logged_in', data: { username: string } }>()
})

test('the context of an observer defined apart is any consumer\'s', () => {
  modelObserver(comments, { groupsForConsumer: (ctx) => { expect(ctx).type.toBe<ConsumerContext<any, any, any, any>>(); return [] } })
})

test('observers built after context-using settings still type the actions', () => {
  const late = defineConsumer({
    table: comments,
    queryset: () => undefined,
    onConnect: (ctx) => { expect(ctx.state).type.toBe<Record<never, never>>() },
    observers: ({ modelObserver }) => ({ activity: modelObserver(comments) }),
    actions: ({ action }) => ({
      watch: action({ subscribes: 'activity', handler: async (ctx) => { await ctx.observer('activity').subscribe(); return { status: 201 } } })
    })
  })
  expect(late.actions).type.toHaveProperty('watch')
  expect<inferEvents<typeof late, 'watch'>>().type.toBe<{ action: 'create' | 'update' | 'delete', data: { pk: unknown } }>()
})
