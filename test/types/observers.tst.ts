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
      },
      handle: (ctx, message, delivery) => {
        expect(ctx.state).type.toBe<{ watching: boolean }>()
        expect(message).type.toBe<{ id: number, text: string }>()
        expect(delivery).type.toBe<ObserverDelivery>()
      }
    }),
    logins: observer('user_logged_in', { serialize: (user) => ({ username: user.username }) })
  }),
  actions: ({ action }) => ({
    subscribe_to_comment_activity: action({
      subscribes: 'comment_activity',
      async handler (ctx, args, { requestId }) {
        await ctx.observer('comment_activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
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
