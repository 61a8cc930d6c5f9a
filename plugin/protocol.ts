/** The DCRF wire protocol: frames in, the reply envelope out, and the exception-to-reply mapping. */
import type { FastifyBaseLogger } from 'fastify'
import type { RawData } from 'ws'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ValidationErrorDetail } from '../types/index.js'
import { databaseValidationError, tableOfDatabaseError } from './db-errors.js'
import { errors } from './errors.js'

const SERVER_ERROR = 'A server error occurred.'

/** The size in bytes of a frame as `ws` hands it over. */
export function frameSize (data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** A reply in DCRF's envelope; the key order is part of the protocol. */
export function encodeReply (action: unknown, data: unknown, errs: unknown[], status: number, requestId: unknown): string {
  return JSON.stringify({
    errors: errs,
    data: data === undefined ? null : data,
    action: action === undefined ? null : action,
    response_status: status,
    request_id: requestId === undefined ? null : requestId
  })
}

/** `encodeReply`'s text up to `request_id`, so that a fan-out serializes its data once per event. */
export function rawReplyPrefix (action: string, dataJson: string, status: number): string {
  return `{"errors":[],"data":${dataJson},"action":${JSON.stringify(action)},"response_status":${status},"request_id":`
}

// Counted on the text, so that a too-deep frame is refused before anything parses or walks it.
function nestingDepth (text: string, limit: number): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return deepest
}

/** Reads one inbound frame into a JSON object, or throws the 400 to answer. */
export function parseFrame (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, maxDepth: number): Record<string, unknown> {
  if (isBinary) throw new errors.DCRF_ERR_NOT_AN_OBJECT()
  const text = Array.isArray(raw) ? Buffer.concat(raw).toString() : Buffer.isBuffer(raw) ? raw.toString() : Buffer.from(raw).toString()
  if (text.length === 0) throw new errors.DCRF_ERR_NOT_AN_OBJECT()
  if (nestingDepth(text, maxDepth) > maxDepth) throw new errors.DCRF_ERR_TOO_DEEP(maxDepth)
  let frame: unknown
  try {
    frame = JSON.parse(text)
  } catch (err) {
    throw new errors.DCRF_ERR_INVALID_JSON((err as Error).message)
  }
  if (!isPlainObject(frame)) throw new errors.DCRF_ERR_NOT_AN_OBJECT()
  return frame
}

/** Whether a JSON value is an object (not `null`, not an array): what DCRF calls a dictionary. */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `{"stream":…,"payload":`, so that a multiplexed payload is serialized only once. */
export function streamEnvelope (stream: string): string {
  return `{"stream":${JSON.stringify(stream)},"payload":`
}

/** The `Method "x" not allowed.` error; a name that is not a string is shown as its JSON. */
export function methodNotAllowed (action: unknown): Error {
  return new errors.DCRF_ERR_METHOD_NOT_ALLOWED(typeof action === 'string' ? action : JSON.stringify(action))
}

interface WireError {
  status: number
  errors: unknown[]
}

const NO_TABLES: ReadonlyMap<string, PgTable> = new Map()

/**
 * The one mapping from an exception to the wire: a 4xx `statusCode` is answered with its message or
 * field errors, a constraint violation on one of `tables` as a 400; anything else is logged and
 * answered as a 500 without internals.
 */
export function toWireError (err: unknown, log: FastifyBaseLogger, tables: ReadonlyMap<string, PgTable> = NO_TABLES): WireError {
  let e = err as Partial<ValidationErrorDetail> | null
  if (typeof e?.statusCode !== 'number' && tables.size > 0) {
    const tableName = tableOfDatabaseError(err)
    const table = tableName === undefined ? undefined : tables.get(tableName)
    if (table !== undefined) e = databaseValidationError(err, { table }) ?? e
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500
  if (status >= 400 && status < 500) {
    if (e?.detail !== undefined) {
      return { status, errors: Array.isArray(e.detail) ? e.detail : [e.detail] }
    }
    return { status, errors: [e?.message ?? ''] }
  }
  log.error({ err }, 'action failed')
  return { status: 500, errors: [SERVER_ERROR] }
}
