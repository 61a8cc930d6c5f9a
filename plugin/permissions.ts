/** Permissions, DCRF's `permission_classes`: objects with an action check and a connect check. */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ActionArgs, AnyContext, FastifyAuthHook, Permission } from '../types/index.js'
import { errors } from './errors.js'

type Check = 'hasPermission' | 'canConnect'

/** What the plugin's and consumers' `permissions` must be: objects with `hasPermission` or `canConnect`. */
export function isPermissionList (value: unknown): value is readonly Permission[] {
  return Array.isArray(value) && value.every((p) => typeof p === 'object' && p !== null && (typeof p.hasPermission === 'function' || typeof p.canConnect === 'function'))
}

/** Allows everything (DCRF's `AllowAny`). */
export const allowAny: Permission = Object.freeze({
  hasPermission: () => true
})

/**
 * Allows actions of connections whose `request.user` is set (DCRF's `IsAuthenticated`), others 403
 * action by action; the connection itself is not refused (that is the route's hook's job).
 */
export const isAuthenticated: Permission = Object.freeze({
  hasPermission: (ctx: AnyContext) => ctx.user !== null && ctx.user !== undefined
})

function run (permission: Permission, check: Check, ctx: AnyContext, action: string, args: ActionArgs): boolean | Promise<boolean> {
  return check === 'canConnect' ? permission.canConnect!(ctx) : permission.hasPermission!(ctx, action, args)
}

/** Every permission with that check must allow; synchronous while the checks are, so the common case costs no promise. */
export function checkAll (
  permissions: readonly Permission[],
  check: Check,
  ctx: AnyContext,
  action: string,
  args: ActionArgs
): boolean | Promise<boolean> {
  for (let i = 0; i < permissions.length; i++) {
    const permission = permissions[i]
    if (permission[check] === undefined) continue
    const allowed = run(permission, check, ctx, action, args)
    if (allowed instanceof Promise) {
      return allowed.then(async (ok) => ok && await checkAll(permissions.slice(i + 1), check, ctx, action, args))
    }
    if (!allowed) return false
  }
  return true
}

function compose (operands: readonly Permission[], all: boolean): Permission {
  const composed: Permission = {}
  for (const check of ['hasPermission', 'canConnect'] as const) {
    const relevant = operands.filter((p) => p[check] !== undefined)
    if (relevant.length === 0) continue
    composed[check] = async (ctx: AnyContext, action?: string, args?: ActionArgs) => {
      for (const permission of relevant) {
        const allowed = await run(permission, check, ctx, action ?? '', args ?? {})
        if (all ? !allowed : allowed) return !all
      }
      return all
    }
  }
  return composed
}

/** Allows only when every permission allows (DRF's `A & B`), checked in order, stopping at the first no. */
export function and (...permissions: Permission[]): Permission {
  return compose(permissions, true)
}

/** Allows when any permission allows (DRF's `A | B`), stopping at the first yes. */
export function or (...permissions: Permission[]): Permission {
  return compose(permissions, false)
}

/** Inverts a permission (DRF's `~A`) in the checks it defines only: without a connect check it refuses no connection. */
export function not (permission: Permission): Permission {
  const inverted: Permission = {}
  if (permission.hasPermission) {
    const check = permission.hasPermission
    inverted.hasPermission = async (ctx, action, args) => !(await check(ctx, action, args))
  }
  if (permission.canConnect) {
    const check = permission.canConnect
    inverted.canConnect = async (ctx) => !(await check(ctx))
  }
  return inverted
}

// Lets a `(request, reply)` hook run for each action on an open socket; nothing reaches the network.
class RecordingReply {
  statusCode = 200
  sent = false
  payload: unknown = undefined
  // A callback-style hook that answers does not call `done`.
  onSend: () => void = () => {}
  code (status: number): this { this.statusCode = status; return this }
  status (status: number): this { return this.code(status) }
  header (): this { return this }
  headers (): this { return this }
  type (): this { return this }
  send (payload?: unknown): this {
    this.sent = true
    this.payload = payload
    const status = (payload as { statusCode?: unknown } | undefined)?.statusCode
    if (payload instanceof Error && typeof status === 'number') this.statusCode = status
    else if (payload instanceof Error && this.statusCode < 400) this.statusCode = 500
    this.onSend()
    return this
  }
}

function refusal (status: number, payload: unknown): Error {
  if (status === 401) return new errors.DCRF_ERR_NOT_AUTHENTICATED()
  if (status === 403) return new errors.DCRF_ERR_PERMISSION_DENIED()
  const message = payload instanceof Error ? payload.message : typeof payload === 'string' ? payload : 'Request refused.'
  return Object.assign(new Error(message), { statusCode: status })
}

async function runHook (hook: FastifyAuthHook, request: FastifyRequest): Promise<boolean> {
  const reply = new RecordingReply()
  const asReply = reply as unknown as FastifyReply
  try {
    if (hook.length >= 3) {
      await new Promise<void>((resolve, reject) => {
        reply.onSend = resolve
        ;(hook as (r: FastifyRequest, p: FastifyReply, d: (err?: Error) => void) => void)(request, asReply, (err) => err ? reject(err) : resolve())
      })
    } else {
      await (hook as (r: FastifyRequest, p: FastifyReply) => unknown)(request, asReply)
    }
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode
    throw refusal(typeof status === 'number' && status >= 400 && status < 500 ? status : 401, err)
  }
  if (reply.sent || reply.statusCode >= 400) {
    throw refusal(reply.statusCode >= 400 ? reply.statusCode : 403, reply.payload)
  }
  return true
}

/**
 * Uses an existing Fastify hook as a permission, e.g. `fromHook(app.authenticate)`. It runs against
 * the upgrade request at the handshake and before every action (an expired token stops working on
 * an open socket). A hook that throws or answers 401 denies with DCRF's 401, 403 with its 403, any
 * other 4xx with its own message.
 */
export function fromHook (hook: FastifyAuthHook, { onConnect = true, onAction = true } = {}): Permission {
  const permission: Permission = {}
  if (onConnect) permission.canConnect = (ctx) => runHook(hook, ctx.request)
  if (onAction) permission.hasPermission = (ctx) => runHook(hook, ctx.request)
  return permission
}
