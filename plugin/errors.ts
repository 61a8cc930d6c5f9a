import createError from '@fastify/error'
import type { FieldErrors, ValidationErrorDetail } from '../types/index.js'

/** Every error fastify-dcrf raises, keyed by code; a 4xx `statusCode` is answered with its message. */
export const errors = {
  // Configuration: thrown at register/ready.
  DCRF_ERR_INVALID_OPTION: createError('DCRF_ERR_INVALID_OPTION', 'Invalid fastify-dcrf option %s: %s', 500, TypeError),
  DCRF_ERR_INVALID_CONSUMER: createError('DCRF_ERR_INVALID_CONSUMER', 'Invalid consumer for %s: %s', 500, TypeError),
  DCRF_ERR_INVALID_SERIALIZER: createError('DCRF_ERR_INVALID_SERIALIZER', 'Invalid serializer for table %s: %s', 500, TypeError),

  // The wire: DCRF's messages, byte for byte.
  DCRF_ERR_NO_ACTION: createError('DCRF_ERR_NO_ACTION', 'Unable to find action in message body.', 405),
  DCRF_ERR_METHOD_NOT_ALLOWED: createError('DCRF_ERR_METHOD_NOT_ALLOWED', 'Method "%s" not allowed.', 405),
  DCRF_ERR_PERMISSION_DENIED: createError('DCRF_ERR_PERMISSION_DENIED', 'You do not have permission to perform this action.', 403),
  DCRF_ERR_NOT_AUTHENTICATED: createError('DCRF_ERR_NOT_AUTHENTICATED', 'Authentication credentials were not provided.', 401),
  DCRF_ERR_AUTHENTICATION_FAILED: createError('DCRF_ERR_AUTHENTICATION_FAILED', 'Incorrect authentication credentials.', 401),
  DCRF_ERR_VALIDATION: createError('DCRF_ERR_VALIDATION', 'Invalid input.', 400),
  DCRF_ERR_NOT_FOUND: createError('DCRF_ERR_NOT_FOUND', 'Not found', 404),
  DCRF_ERR_THROTTLED: createError('DCRF_ERR_THROTTLED', 'Request was throttled.', 429),
  DCRF_ERR_INVALID_JSON: createError('DCRF_ERR_INVALID_JSON', 'Invalid JSON: %s', 400),
  DCRF_ERR_NOT_AN_OBJECT: createError('DCRF_ERR_NOT_AN_OBJECT', 'Message must be a JSON object.', 400),
  DCRF_ERR_UNKNOWN_STREAM: createError('DCRF_ERR_UNKNOWN_STREAM', 'Unknown stream "%s".', 404),
  DCRF_ERR_TOO_MANY_SUBSCRIPTIONS: createError('DCRF_ERR_TOO_MANY_SUBSCRIPTIONS', 'Too many subscriptions on this connection (at most %s).', 429),
  DCRF_ERR_TOO_DEEP: createError('DCRF_ERR_TOO_DEEP', 'Message is nested too deeply (at most %s levels).', 400),
  DCRF_ERR_TOO_MANY_DETACHED: createError('DCRF_ERR_TOO_MANY_DETACHED', 'Too many detached actions running on this connection (at most %s).', 429),
  DCRF_ERR_BAD_STREAM_FRAME: createError('DCRF_ERR_BAD_STREAM_FRAME', 'Message must be a JSON object with a "stream" string and a "payload".', 400),

  // The plugin's own failures: logged, answered 500.
  DCRF_ERR_CHANNEL_LAYER_CLOSED: createError('DCRF_ERR_CHANNEL_LAYER_CLOSED', 'The channel layer is closed.', 500),
  DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE: createError('DCRF_ERR_CHANNEL_LAYER_UNAVAILABLE', 'The channel layer could not take the message (%s); it was dropped.', 500),
  DCRF_ERR_INVALID_GROUP_MESSAGE: createError('DCRF_ERR_INVALID_GROUP_MESSAGE', 'A group message needs a string "type".', 500, TypeError),
  DCRF_ERR_NO_DATABASE: createError('DCRF_ERR_NO_DATABASE', 'No database: pass `db` to fastify.register(dcrf, { db })', 500),
  DCRF_ERR_UNKNOWN_OBSERVER: createError('DCRF_ERR_UNKNOWN_OBSERVER', 'This consumer has no observer "%s"', 500),
  DCRF_ERR_NOT_GENERIC: createError('DCRF_ERR_NOT_GENERIC', 'This consumer has no table: generic actions need `table`', 500),
  DCRF_ERR_INVALID_ACTION_RESULT: createError('DCRF_ERR_INVALID_ACTION_RESULT', 'action "%s" must return { data, status } or nothing', 500, TypeError),
  DCRF_ERR_DRIZZLE_UNSUPPORTED: createError('DCRF_ERR_DRIZZLE_UNSUPPORTED', 'fastify-dcrf does not support drizzle-orm %s: it has no %s', 500)
} as const

export type DcrfErrorCode = keyof typeof errors

/** A 400: `validationError({ email: ['…'] })` answers `[{"email": ['…']}]`, `validationError('Full')` `["Full"]`. */
export function validationError (detail: FieldErrors | string | string[]): ValidationErrorDetail {
  const err = new errors.DCRF_ERR_VALIDATION() as ValidationErrorDetail
  err.detail = typeof detail === 'string' ? [detail] : detail
  return err
}

/** `throw notFound()` answers 404 `["Not found"]`. */
export const notFound = (): Error => new errors.DCRF_ERR_NOT_FOUND()

/** `throw permissionDenied()` answers 403. */
export const permissionDenied = (): Error => new errors.DCRF_ERR_PERMISSION_DENIED()

/** `throw notAuthenticated()` answers 401 `["Authentication credentials were not provided."]`. */
export const notAuthenticated = (): Error => new errors.DCRF_ERR_NOT_AUTHENTICATED()

/** `throw authenticationFailed()` answers 401 `["Incorrect authentication credentials."]`. */
export const authenticationFailed = (): Error => new errors.DCRF_ERR_AUTHENTICATION_FAILED()

/** `throw throttled()` answers 429 `["Request was throttled."]`. */
export const throttled = (): Error => new errors.DCRF_ERR_THROTTLED()
