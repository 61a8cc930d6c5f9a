/**
 * Observers as definitions: `modelObserver(table, options)` (DCRF's `@model_observer`) and
 * `observer(signal, options)` (DCRF's `@observer`), placed in a consumer's `observers`.
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type {
  AnyContext,
  ModelObserverBuilder,
  ModelObserverOptions,
  ObserverDefinition,
  SignalObserverBuilder,
  SignalObserverOptions
} from '../../types/index.js'

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
export const modelObserver: ModelObserverBuilder = (table: PgTable, options: ModelObserverOptions<any, any, AnyContext, any, any> = {}): ObserverDefinition<any> =>
  ({ kind: 'model', table, options })

/**
 * Observes an application event, emitted with `app.dcrf.signal(name, payload)` from anywhere (DCRF
 * observes any Django signal, such as a user logging in). The payload has the type `DcrfSignals`
 * declares for the signal (`unknown` otherwise).
 *
 * @example
 * observers: { logins: observer('user_logged_in', { serialize: (user) => ({ username: user.username }) }) }
 * // elsewhere: await app.dcrf.signal('user_logged_in', user)
 */
export const observer: SignalObserverBuilder = (signal: string, options: SignalObserverOptions<any, any, AnyContext, any, any> = {}): ObserverDefinition<any> =>
  ({ kind: 'signal', signal, options })
