/** An action frame, from its name and arguments through permissions and validation to its reply. */
import type { ActionArgs, ActionCall, ActionReturn, ConsumerContext, Database } from '../types/index.js'
import type { ActionTraceContext } from '../types/diagnostics.js'
import { defaultGetActionName, type CompiledAction, type CompiledConsumer } from './consumer.js'
import { actionLabel, actionSettled, publishThrottled, throttled } from './diagnostics.js'
import { errors, validationError } from './errors.js'
import { checkAll } from './permissions.js'
import { methodNotAllowed } from './protocol.js'
import { databaseOf, type Runtime } from './runtime.js'
import type { SocketGuard } from './socket-guard.js'

/** The transaction of the atomic action running now: `ctx.db` meanwhile. */
export const kTransaction = Symbol('fastify-dcrf.transaction')
/** The detached actions running, each with its definition's name. */
export const kDetached = Symbol('fastify-dcrf.detached')

/** What dispatch needs of the consumer instance a frame reached. */
export interface ActionTarget extends ConsumerContext {
  readonly consumer: CompiledConsumer
  readonly stream: string | null
  [kTransaction]: Database | null
  [kDetached]: Map<AbortController, string> | null
  /** Both return the reply's status (`null`: no reply). */
  replyResult: (name: string, requestId: unknown, result: ActionReturn) => number | null
  replyError: (name: unknown, requestId: unknown, err: unknown) => number
}

// A class, so that the instance's abort signal is created only when an action reads it.
class Call implements ActionCall {
  readonly action: string
  readonly requestId: unknown
  readonly #target: ActionTarget

  constructor (action: string, requestId: unknown, target: ActionTarget) {
    this.action = action
    this.requestId = requestId
    this.#target = target
  }

  get signal (): AbortSignal {
    return this.#target.signal
  }
}

/**
 * Handles an action frame of `size` bytes and releases it from the guard (a detached one when the
 * action ends). Resolves to the reply's status (`null`: no reply; `undefined`: detached).
 */
export async function dispatch (target: ActionTarget, runtime: Runtime, frame: Record<string, unknown>, guard: SocketGuard, size: number, trace: ActionTraceContext | null = null): Promise<number | null | undefined> {
  let detached = false
  try {
    // A client is served no faster than it reads its replies.
    const congested = guard.congestion()
    if (congested !== null) await congested
    let name: unknown
    let args: ActionArgs
    const requestId = frame.request_id === undefined ? null : frame.request_id
    const consumer = target.consumer
    if (consumer.getActionName === defaultGetActionName) {
      const { action, request_id: _, ...rest } = frame
      name = action
      args = rest
    } else {
      const { request_id: _, ...rest } = frame
      try {
        ({ action: name, args } = consumer.getActionName(rest))
      } catch (err) {
        return target.replyError(null, requestId, err)
      }
    }
    if (name === undefined || name === null) {
      return target.replyError(null, requestId, new errors.DCRF_ERR_NO_ACTION())
    }
    if (trace !== null) {
      trace.rawAction = name
      trace.action = actionLabel(consumer.actions, name)
    }
    if (typeof name !== 'string') {
      return target.replyError(name, requestId, methodNotAllowed(name))
    }
    try {
      // Before the lookup: an unknown action under a denying permission is a 403 (DCRF).
      const allowed = checkAll(consumer.permissions ?? runtime.permissions, 'hasPermission', target, name, args)
      if (allowed !== true && !await allowed) throw new errors.DCRF_ERR_PERMISSION_DENIED()
      const compiled = consumer.actions.get(name)
      if (compiled === undefined) throw methodNotAllowed(name)
      if (compiled.permissions !== null) {
        const allowedHere = checkAll(compiled.permissions, 'hasPermission', target, name, args)
        if (allowedHere !== true && !await allowedHere) throw new errors.DCRF_ERR_PERMISSION_DENIED()
      }
      if (compiled.validate !== null) {
        const fieldErrors = compiled.validate(args)
        if (fieldErrors !== null) throw validationError(fieldErrors)
      }
      if (compiled.detached) {
        if (!guard.startDetached()) {
          if (throttled.hasSubscribers) publishThrottled(target, 'detached')
          throw new errors.DCRF_ERR_TOO_MANY_DETACHED(runtime.limits.maxDetachedActions)
        }
        detached = true
        if (trace !== null) trace.detached = true
        runDetached(target, compiled, name, requestId, args, trace, () => guard.endDetached(size))
        return
      }
      const call = new Call(name, requestId, target)
      const result = (compiled.atomic ?? runtime.atomicRequests)
        ? await atomically(target, runtime, () => compiled.handler(target, args, call))
        : await compiled.handler(target, args, call)
      return target.replyResult(name, requestId, result)
    } catch (err) {
      if (trace !== null) trace.error = err
      return target.replyError(name, requestId, err)
    }
  } finally {
    if (!detached) guard.release(size)
  }
}

async function atomically (target: ActionTarget, runtime: Runtime, run: () => ActionReturn | Promise<ActionReturn>): Promise<ActionReturn> {
  return databaseOf(runtime).transaction(async (tx) => {
    target[kTransaction] = tx as Database
    try {
      return await run()
    } finally {
      target[kTransaction] = null
    }
  })
}

// Cancelled on close: its signal aborted, its reply dropped.
function runDetached (target: ActionTarget, compiled: CompiledAction, name: string, requestId: unknown, args: ActionArgs, trace: ActionTraceContext | null, ended: () => void): void {
  const controller = new AbortController()
  ;(target[kDetached] ??= new Map()).set(controller, compiled.name)
  const call: ActionCall = { action: name, requestId, signal: controller.signal }
  const run = async (): Promise<void> => {
    let status: number | null = null
    try {
      const result = await compiled.handler(target, args, call)
      if (!controller.signal.aborted) status = target.replyResult(name, requestId, result)
    } catch (err) {
      if (trace !== null) trace.error = err
      if (!controller.signal.aborted) status = target.replyError(name, requestId, err)
    } finally {
      target[kDetached]?.delete(controller)
      ended()
      if (trace !== null) actionSettled(trace, status)
    }
  }
  run()
}
