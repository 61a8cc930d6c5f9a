/**
 * Subscriptions to single rows (DCRF's `ObserverModelInstanceMixin`): every change of a subscribed
 * row reaches the subscriber once per subscribing `request_id`, re-read through its own queryset.
 */
import type { ActionHandler, MixinAction } from '../../types/index.js'
import { validationError } from '../errors.js'
import { genericOf } from '../generic-consumer.js'
import type { Subscriptions } from '../observer/subscriptions.js'

function subscriptionsOf (ctx: unknown): Subscriptions {
  return (ctx as { subscriptions: Subscriptions }).subscriptions
}

/** `subscribe_instance`: 201 once subscribed; 404 for a row the connection cannot see. */
export const subscribeInstance: ActionHandler = async (ctx, args, { requestId }) => {
  if (requestId === null || requestId === undefined) throw validationError({ request_id: ['This field is required.'] })
  const row = await ctx.getObject(args)
  await subscriptionsOf(ctx).subscribeInstance(row, args[genericOf(ctx).lookupKwarg], requestId)
  return { data: null, status: 201 }
}

/** `unsubscribe_instance`: 204; with a `request_id`, only that subscription stops. */
const unsubscribeInstance: ActionHandler = async (ctx, args, { requestId }) => {
  const { lookupKwarg } = genericOf(ctx)
  const lookup = args[lookupKwarg]
  if (lookup === undefined || lookup === null) throw validationError({ [lookupKwarg]: ['This field is required.'] })
  await subscriptionsOf(ctx).unsubscribeInstance(lookup, requestId)
  return { data: null, status: 204 }
}

/**
 * The two actions of instance subscriptions.
 *
 * @example
 * actions: { ...mixins.retrieve(), ...instanceSubscriptions() }
 * // → {"action": "subscribe_instance", "pk": 7, "request_id": "a"}
 * // ← {"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": "a"}
 */
export function instanceSubscriptions (): {
  subscribe_instance: MixinAction<'subscribe_instance'>
  unsubscribe_instance: MixinAction<'unsubscribe_instance'>
} {
  return {
    subscribe_instance: { handler: subscribeInstance },
    unsubscribe_instance: { handler: unsubscribeInstance }
  }
}
