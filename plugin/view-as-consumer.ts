import type { HTTPMethods } from 'fastify'
import type { ActionDefinition, AnyContext, AnyConsumer, ViewAsConsumerOptions } from '../types/index.js'
import { validationError } from './errors.js'
import { isPlainObject } from './protocol.js'

/** DCRF's default mapping of actions to methods. */
export const DEFAULT_VIEW_ACTIONS: Readonly<Record<string, HTTPMethods>> = Object.freeze({
  create: 'PUT',
  update: 'PATCH',
  list: 'GET',
  retrieve: 'GET'
})

// Headers of the upgrade request that describe that request, not the one made on its behalf.
const NOT_FORWARDED = new Set(['host', 'connection', 'upgrade', 'content-length', 'content-type', 'transfer-encoding', 'accept-encoding'])

function forwardedHeaders (ctx: AnyContext): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(ctx.request.headers)) {
    if (NOT_FORWARDED.has(name) || name.startsWith('sec-websocket-') || value === undefined) continue
    headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}

function fillUrl (template: string, parameters: Record<string, unknown>): string {
  const missing: string[] = []
  const url = template.replace(/\/:(\w+)(\?)?/g, (_match, name: string, optional: string | undefined) => {
    const value = Object.hasOwn(parameters, name) ? parameters[name] : undefined
    if (value === undefined || value === null || value === '') {
      if (optional === undefined) missing.push(name)
      return optional === undefined ? '' : '/'
    }
    try {
      return '/' + encodeURIComponent(String(value))
    } catch {
      // A lone surrogate cannot be percent-encoded.
      throw validationError({ parameters: [`"${name}" is not a valid string.`] })
    }
  })
  if (missing.length > 0) throw validationError({ parameters: missing.map((name) => `Missing "${name}".`) })
  return url.replace(/\/{2,}/g, '/')
}

function definedOnly (headers: Record<string, string | undefined> | undefined): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) result[name] = value
  return result
}

function queryOf (query: unknown): Record<string, string | string[]> {
  if (query === undefined || query === null) return {}
  if (!isPlainObject(query)) throw validationError({ query: ['Expected a dictionary of items.'] })
  const result: Record<string, string | string[]> = {}
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue
    result[key] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return result
}

/**
 * A consumer serving an HTTP route (DCRF's `view_as_consumer`) through `app.inject()` with the
 * connection's headers, so the route's own validation and authentication apply. `query`,
 * `parameters` and `data` become the query string, route parameters and JSON body; the reply is
 * the route's body and status code.
 *
 * @example
 * app.dcrf.consumer('/ws/rest/users/', viewAsConsumer({
 *   url: '/api/users/:id?',
 *   actions: { list: 'GET', retrieve: 'GET', create: 'POST', patch: 'PATCH' }
 * }))
 * // → {"action": "retrieve", "parameters": {"id": 7}, "request_id": 1}
 */
export function viewAsConsumer (options: ViewAsConsumerOptions): AnyConsumer {
  const actions: Record<string, ActionDefinition<AnyContext, undefined>> = {}
  for (const [name, method] of Object.entries(options.actions ?? DEFAULT_VIEW_ACTIONS)) {
    actions[name] = {
      async handler (ctx, args) {
        const parameters = args.parameters ?? {}
        if (!isPlainObject(parameters)) throw validationError({ parameters: ['Expected a dictionary of items.'] })
        const url = fillUrl(options.url, parameters)
        const hasBody = args.data !== undefined && method !== 'GET' && method !== 'HEAD'
        const response = await ctx.app.inject({
          method,
          url,
          query: queryOf(args.query),
          headers: {
            ...forwardedHeaders(ctx),
            ...definedOnly(options.headers?.(ctx)),
            ...(hasBody ? { 'content-type': 'application/json' } : {})
          },
          ...(hasBody ? { payload: JSON.stringify(args.data) } : {})
        })
        const type = String(response.headers['content-type'] ?? '')
        let data: unknown = response.body === '' ? null : response.body
        if (type.includes('json') && response.body !== '') data = response.json()
        return { data, status: response.statusCode }
      }
    }
  }
  return { actions, ...(options.permissions ? { permissions: options.permissions } : {}) }
}
