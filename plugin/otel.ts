/** `fastify-dcrf/otel`: the only entry that needs `@opentelemetry/api` (an optional peer dependency). */
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { actionTracing } from './diagnostics.js'
import type { ActionTraceContext } from '../types/diagnostics.js'

export interface InstrumentActionsOptions {
  /** The tracer spans come from. Default: `trace.getTracer('fastify-dcrf')` of the global provider. */
  tracer?: Tracer
}

// The start channel calls `run(store, fn)` around the action, as it would an AsyncLocalStorage's.
const otelStore = {
  run<T> (ctx: Context, fn: () => T): T {
    return context.with(ctx, fn)
  }
}

/**
 * Every action as an OpenTelemetry SERVER span, `<action> <route> [stream]`, with attributes
 * `dcrf.route`, `dcrf.stream`, `dcrf.action`, `dcrf.detached`, `dcrf.response_status`; a thrown
 * exception is recorded, a status ≥ 500 marks it failed. The action runs in the span's context,
 * so its database queries are its children. Returns the function that stops it.
 *
 * @example
 * import { instrumentActions } from 'fastify-dcrf/otel'
 * // after the OpenTelemetry SDK started (its context manager must be AsyncLocalStorage-based, the default on Node)
 * const stop = instrumentActions()
 */
export function instrumentActions (options: InstrumentActionsOptions = {}): () => void {
  const tracer = options.tracer ?? trace.getTracer('fastify-dcrf')
  const spans = new WeakMap<ActionTraceContext, Span>()
  const transform = (message: ActionTraceContext): Context => {
    const name = `${message.action} ${message.route}${message.stream === null ? '' : ` ${message.stream}`}`
    const span = tracer.startSpan(name, {
      kind: SpanKind.SERVER,
      attributes: {
        'dcrf.route': message.route,
        'dcrf.action': message.action,
        ...(message.stream === null ? {} : { 'dcrf.stream': message.stream })
      }
    })
    spans.set(message, span)
    return trace.setSpan(context.active(), span)
  }
  // A Node.js whose channels take only AsyncLocalStorage stores gets the spans without their children.
  let bound = true
  try {
    actionTracing.start.bindStore(otelStore as never, transform as never)
  } catch {
    bound = false
  }
  const handlers = {
    start: (message: ActionTraceContext) => { if (!bound) transform(message) },
    end: () => {},
    asyncStart: () => {},
    error: (message: ActionTraceContext) => {
      const span = spans.get(message)
      if (span !== undefined && message.error instanceof Error) span.recordException(message.error)
    },
    asyncEnd: (message: ActionTraceContext) => {
      const span = spans.get(message)
      if (span === undefined) return
      spans.delete(message)
      // A custom getActionName names the action only once it ran.
      span.setAttribute('dcrf.action', message.action)
      span.setAttribute('dcrf.detached', message.detached)
      if (message.status !== null) span.setAttribute('dcrf.response_status', message.status)
      if (message.status !== null && message.status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: message.error instanceof Error ? message.error.message : undefined })
      }
      span.end()
    }
  }
  actionTracing.subscribe(handlers)
  return () => {
    actionTracing.unsubscribe(handlers)
    if (bound) actionTracing.start.unbindStore(otelStore as never)
  }
}
