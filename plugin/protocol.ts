/**
 * The DCRF wire protocol: reading frames, writing the reply envelope, and the one function that
 * turns any exception into a reply.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ValidationErrorDetail } from '../types/index.js'
import { errors } from './errors.js'

/** The message of any unexpected exception; the exception itself is logged, never sent. */
export const SERVER_ERROR = 'A server error occurred.'

/**
 * Serializes a reply in DCRF's envelope. The key order is part of the protocol:
 * `errors`, `data`, `action`, `response_status`, `request_id`.
 */
export function encodeReply (action: unknown, data: unknown, errs: unknown[], status: number, requestId: unknown): string {
  return JSON.stringify({
    errors: errs,
    data: data === undefined ? null : data,
    action: action === undefined ? null : action,
    response_status: status,
    request_id: requestId === undefined ? null : requestId
  })
}

/**
 * A reply around data that is already JSON text, up to its `request_id`: a fan-out serializes its
 * data once, builds this once per event, and appends each subscriber's `request_id` as JSON and
 * the closing brace. Same envelope as `encodeReply`.
 */
export function rawReplyPrefix (action: string, dataJson: string, status: number): string {
  return `{"errors":[],"data":${dataJson},"action":${JSON.stringify(action)},"response_status":${status},"request_id":`
}

/**
 * The deepest nesting of arrays and objects in JSON text, counted in one pass without parsing; stops
 * counting once past `limit`. Brackets inside strings do not count.
 */
export function nestingDepth (text: string, limit: number): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash: skip the escaped character
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

/**
 * Reads one inbound frame into a JSON object. Throws the wire error to answer otherwise: 400
 * "Invalid JSON: …" for text that does not parse, 400 "Message must be a JSON object." for binary or
 * empty frames and for JSON that is not an object, 400 for frames nested deeper than `maxDepth`
 * (checked on the text, before anything parses, walks or echoes the frame).
 */
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

/** Whether a parsed JSON value is an object (not `null`, not an array): what DCRF calls a dictionary. */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The text a multiplexed frame of `stream` starts with, `{"stream":…,"payload":`; the frame is it,
 * the payload's text, and `}`, so that the payload is serialized only once.
 */
export function streamEnvelope (stream: string): string {
  return `{"stream":${JSON.stringify(stream)},"payload":`
}

/** The `Method "x" not allowed.` error; a name that is not a string is shown as its JSON. */
export function methodNotAllowed (action: unknown): Error {
  return new errors.DCRF_ERR_METHOD_NOT_ALLOWED(typeof action === 'string' ? action : JSON.stringify(action))
}

/** What a reply says about an error. */
export interface WireError {
  status: number
  errors: unknown[]
}

/**
 * The one mapping from an exception to the wire. Coded client errors (a 4xx `statusCode`, as every
 * `@fastify/error` and Fastify's own errors carry) are answered with their message, validation
 * errors with their field errors; anything else is logged with its stack and answered as a 500
 * without internals.
 */
export function toWireError (err: unknown, log: FastifyBaseLogger): WireError {
  const e = err as Partial<ValidationErrorDetail> | null
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
