/**
 * Options of `fastify.register(dcrf, options)`, checked at `register`: a mistake fails the boot with
 * `DCRF_ERR_INVALID_OPTION`, never the first message.
 */
import type { Database, DcrfOptions, ExternalChangesOptions, Permission } from '../types/index.js'
import { is } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { checkChannel, keyedTableInfo } from './observer/external-sql.js'
import { errors } from './errors.js'
import { isPermissionList } from './permissions.js'

const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024

interface ResolvedOptions {
  channelLayer: NonNullable<DcrfOptions['channelLayer']>
  permissions: readonly Permission[]
  maxFrameSize: number
  websocket: NonNullable<DcrfOptions['websocket']>
  db: Database | null
  atomicRequests: boolean
  limits: Limits
  externalChanges: ExternalChangesOptions | null
}

/** The protections every socket gets. */
export interface Limits {
  maxDepth: number
  maxQueuedFrames: number
  maxQueuedBytes: number
  maxDetachedActions: number
  maxBufferedBytes: number
  maxSubscriptions: number
  rateLimit: { max: number, timeWindow: number } | null
  handshakeTimeout: number
  heartbeatInterval: number
}

const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDepth: 32,
  maxQueuedFrames: 1000,
  maxQueuedBytes: 1024 * 1024,
  maxDetachedActions: 10,
  maxBufferedBytes: 256 * 1024,
  maxSubscriptions: 1000,
  rateLimit: null,
  handshakeTimeout: 10_000,
  heartbeatInterval: 30_000
})

const KNOWN = new Set(['channelLayer', 'permissions', 'maxFrameSize', 'websocket', 'db', 'atomicRequests', 'externalChanges', 'asyncapi', ...Object.keys(DEFAULT_LIMITS)])

function fail (option: string, why: string): never {
  throw new errors.DCRF_ERR_INVALID_OPTION(option, why)
}

export function resolveOptions (options: DcrfOptions): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) fail(key, 'unknown option')
  }
  const { channelLayer = {}, permissions = [], maxFrameSize = DEFAULT_MAX_FRAME_SIZE, websocket = {}, db = null, atomicRequests = false } = options

  if (typeof channelLayer !== 'object' || channelLayer === null) fail('channelLayer', 'must be an object')
  if (channelLayer.redis !== undefined && (typeof channelLayer.redis !== 'string' || !/^rediss?:\/\//.test(channelLayer.redis))) {
    fail('channelLayer.redis', 'must be a redis:// or rediss:// URL')
  }
  if (channelLayer.emitter !== undefined) {
    const emitter = channelLayer.emitter as unknown as Record<string, unknown>
    if (typeof emitter !== 'object' || emitter === null || !['on', 'emit', 'removeListener', 'close'].every((m) => typeof emitter[m] === 'function')) {
      fail('channelLayer.emitter', 'must be an mqemitter (on, emit, removeListener, close)')
    }
    if (channelLayer.redis !== undefined) fail('channelLayer', 'give either redis or emitter, not both')
  }
  for (const key of ['closeTimeout', 'subscribeTimeout', 'sendTimeout'] as const) {
    const value = channelLayer[key]
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) fail(`channelLayer.${key}`, 'must be a number of milliseconds')
  }
  if (!isPermissionList(permissions)) {
    fail('permissions', 'must be an array of permissions (objects with hasPermission or canConnect)')
  }
  if (!Number.isInteger(maxFrameSize) || maxFrameSize <= 0) fail('maxFrameSize', 'must be a positive integer of bytes')
  if (typeof websocket !== 'object' || websocket === null) fail('websocket', 'must be an object')
  if (db !== null) {
    const candidate = db as unknown as Record<string, unknown>
    if (typeof candidate !== 'object' || !['select', 'insert', 'update', 'delete', 'transaction'].every((m) => typeof candidate[m] === 'function')) {
      fail('db', 'must be a Drizzle PostgreSQL database (drizzle-orm/postgres-js or drizzle-orm/pglite)')
    }
  }
  if (typeof atomicRequests !== 'boolean') fail('atomicRequests', 'must be a boolean')
  if (atomicRequests && db === null) fail('atomicRequests', 'needs the db option')
  const externalChanges = options.externalChanges ?? null
  if (externalChanges !== null) checkExternalChanges(externalChanges, db)

  const limits: Limits = { ...DEFAULT_LIMITS }
  for (const key of ['maxDepth', 'maxQueuedFrames', 'maxQueuedBytes', 'maxDetachedActions', 'maxBufferedBytes', 'maxSubscriptions'] as const) {
    const value = options[key] ?? DEFAULT_LIMITS[key]
    if (!Number.isInteger(value) || value <= 0) fail(key, 'must be a positive integer')
    limits[key] = value
  }
  for (const key of ['handshakeTimeout', 'heartbeatInterval'] as const) {
    const value = options[key] ?? DEFAULT_LIMITS[key]
    if (!Number.isInteger(value) || value < 0) fail(key, 'must be a number of milliseconds (0 disables)')
    limits[key] = value
  }
  const { rateLimit = null } = options
  if (rateLimit !== null) {
    if (typeof rateLimit !== 'object' || !Number.isInteger(rateLimit.max) || rateLimit.max <= 0 || !Number.isInteger(rateLimit.timeWindow) || rateLimit.timeWindow <= 0) {
      fail('rateLimit', 'must be { max, timeWindow } with positive integers')
    }
    limits.rateLimit = { max: rateLimit.max, timeWindow: rateLimit.timeWindow }
  }

  return { channelLayer, permissions, maxFrameSize, websocket, db, atomicRequests, limits, externalChanges }
}

function checkExternalChanges (options: ExternalChangesOptions, db: Database | null): void {
  if (typeof options !== 'object') fail('externalChanges', 'must be an object')
  if (db === null) fail('externalChanges', 'needs the db option')
  const { tables, channel, listener, onGap } = options
  if (!Array.isArray(tables) || tables.length === 0 || !tables.every((table) => is(table, PgTable))) {
    fail('externalChanges.tables', 'must be a non-empty array of Drizzle tables')
  }
  // Rows are read back by key.
  for (const table of tables) keyedTableInfo(table)
  if (channel !== undefined) checkChannel(channel)
  if (listener !== undefined && (typeof listener !== 'function' && (typeof listener !== 'object' || listener === null || typeof (listener as { listen?: unknown }).listen !== 'function'))) {
    fail('externalChanges.listener', 'must be a postgres.js client, a PGlite database or a listen function')
  }
  if (onGap !== undefined && typeof onGap !== 'function') fail('externalChanges.onGap', 'must be a function')
}
