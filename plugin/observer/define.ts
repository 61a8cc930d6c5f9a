/**
 * Observers as definitions: `modelObserver(table, options)` (DCRF's `@model_observer`) and
 * `observer(signal, options)` (DCRF's `@observer`), placed in a consumer's `observers`.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ModelObserverOptions, ObserverDefinition, SignalObserverOptions } from '../../types/index.js'

/**
 * Observes the rows of a table: every create, update and delete written through `app.dcrf.db`,
 * sent after its transaction commits to the groups `groupsForSignal` names.
 *
 * @example
 * observers: {
 *   comment_activity: modelObserver(comments, {
 *     serialize: (row) => ({ id: row.id, text: row.text, user: row.userId }),
 *     groupsForSignal: (row) => [`user__${row.userId}`],
 *     groupsForConsumer: (ctx, { user_pk }) => [`user__${user_pk}`]
 *   })
 * }
 */
export function modelObserver<TTable extends PgTable, TMessage = unknown> (table: TTable, options: ModelObserverOptions<TTable, TMessage> = {}): ObserverDefinition {
  return { kind: 'model', table, options: options as ModelObserverOptions<any, any> }
}

/**
 * Observes an application event, emitted with `app.dcrf.signal(name, payload)` from anywhere (DCRF
 * observes any Django signal, such as a user logging in).
 *
 * @example
 * observers: { logins: observer('user_logged_in', { serialize: (user) => ({ username: user.username }) }) }
 * // elsewhere: await app.dcrf.signal('user_logged_in', user)
 */
export function observer<TPayload = any, TMessage = unknown> (signal: string, options: SignalObserverOptions<TPayload, TMessage> = {}): ObserverDefinition {
  return { kind: 'signal', signal, options: options as SignalObserverOptions<any, any> }
}
