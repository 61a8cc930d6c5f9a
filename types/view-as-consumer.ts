/**
 * The public types of `viewAsConsumer` (DCRF's `view_as_consumer`): HTTP routes served over a
 * socket. No runtime code lives here; `plugin/view-as-consumer.ts` builds the consumer.
 */
import type { HTTPMethods } from 'fastify'
import type { AnyContext } from './context.js'
import type { Permission } from './permission.js'

/** Options of `viewAsConsumer(options)`. */
export interface ViewAsConsumerOptions {
  /**
   * The route's URL. `:name` placeholders are filled from the frame's `parameters`; `:name?` may
   * be left out (`/api/users/:id?` serves both `/api/users/` and `/api/users/7`).
   */
  url: string
  /** Actions and their HTTP methods. Default: DCRF's (`create` PUT, `update` PATCH, `list` and `retrieve` GET). */
  actions?: Record<string, HTTPMethods>
  /** Headers to add to every request, e.g. an `authorization` derived from the connection. */
  headers?: (ctx: AnyContext) => Record<string, string | undefined>
  permissions?: readonly Permission[]
}
