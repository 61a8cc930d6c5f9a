/**
 * fastify-dcrf's diagnostics channels, as Fastify core and undici publish theirs. Call sites guard
 * each publish with `hasSubscribers`, so that nobody listening costs a property read.
 */
import dc from 'node:diagnostics_channel'
import type { FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import type {
  ActionTraceContext,
  ChannelLayerStateMessage,
  ConnectionCloseMessage,
  ConnectionOpenMessage,
  ConnectionRefusedMessage,
  FrameMessage,
  ObserverDeliverMessage,
  ObserverPublishMessage,
  PausedMessage,
  SlowCloseMessage,
  SubscriptionMessage,
  ThrottledMessage,
  TooBigMessage
} from '../types/diagnostics.js'
import type { ConsumerContext } from '../types/index.js'

/** The channels' names: public API. */
export const channelNames = {
  /** A TracingChannel: `tracing:fastify-dcrf:action:start|end|asyncStart|asyncEnd|error`. */
  action: 'fastify-dcrf:action',
  connectionOpen: 'fastify-dcrf:connection:open',
  connectionClose: 'fastify-dcrf:connection:close',
  connectionRefused: 'fastify-dcrf:connection:refused',
  frameIn: 'fastify-dcrf:frame:in',
  frameOut: 'fastify-dcrf:frame:out',
  observerPublish: 'fastify-dcrf:observer:publish',
  observerDeliver: 'fastify-dcrf:observer:deliver',
  subscription: 'fastify-dcrf:subscription',
  slowClose: 'fastify-dcrf:socket:slow-close',
  throttled: 'fastify-dcrf:socket:throttled',
  tooBig: 'fastify-dcrf:socket:too-big',
  paused: 'fastify-dcrf:socket:paused',
  channelLayerState: 'fastify-dcrf:channel-layer:state',
  externalChangesGap: 'fastify-dcrf:external-changes:gap'
} as const

export const actionTracing = dc.tracingChannel<unknown, ActionTraceContext>(channelNames.action)
export const connectionOpen = dc.channel(channelNames.connectionOpen)
export const connectionClose = dc.channel(channelNames.connectionClose)
const connectionRefused = dc.channel(channelNames.connectionRefused)
export const frameIn = dc.channel(channelNames.frameIn)
export const frameOut = dc.channel(channelNames.frameOut)
export const observerPublish = dc.channel(channelNames.observerPublish)
export const observerDeliver = dc.channel(channelNames.observerDeliver)
export const subscription = dc.channel(channelNames.subscription)
export const slowClose = dc.channel(channelNames.slowClose)
export const throttled = dc.channel(channelNames.throttled)
export const tooBig = dc.channel(channelNames.tooBig)
export const paused = dc.channel(channelNames.paused)
export const channelLayerState = dc.channel(channelNames.channelLayerState)

interface TracedInstance extends ConsumerContext<any, any> {
  readonly request: FastifyRequest
  readonly stream: string | null
}

interface TracedConsumer {
  readonly consumer: { readonly actions: ReadonlyMap<string, { name: string }> }
}

// Fastify builds `request.routeOptions` anew at every read.
const routes = new WeakMap<FastifyRequest, string>()

// As mounted: a label value bounded by the application's routes.
function routeOf (request: FastifyRequest): string {
  let route = routes.get(request)
  if (route === undefined) {
    route = request.routeOptions.url ?? 'unknown'
    routes.set(request, route)
  }
  return route
}

/**
 * Runs one action frame under the action tracing channel; `run` resolves to the reply's status,
 * `null` for no reply, or `undefined` for a detached action (which calls {@link actionSettled}).
 */
export function traceAction (
  instance: TracedInstance & TracedConsumer,
  frame: Record<string, unknown>,
  run: (trace: ActionTraceContext) => Promise<number | null | undefined>
): Promise<void> {
  const trace: ActionTraceContext = {
    route: routeOf(instance.request),
    stream: instance.stream,
    // Known at the start for DCRF's frames; a custom getActionName corrects it once it ran.
    action: actionLabel(instance.consumer.actions, frame.action),
    rawAction: frame.action,
    requestId: frame.request_id ?? null,
    detached: false,
    status: null,
    connection: instance
  }
  let done: Promise<number | null | undefined>
  try {
    // On the start channel's stores, so that the action's database queries are children of its span.
    done = actionTracing.start.runStores(trace, run, undefined, trace)
  } finally {
    actionTracing.end.publish(trace)
  }
  return done.then((status) => {
    if (status !== undefined) actionSettled(trace, status)
  })
}

/** Ends an action's trace with the status of its reply (`null`: no reply). */
export function actionSettled (trace: ActionTraceContext, status: number | null): void {
  trace.status = status
  if (trace.error !== undefined) actionTracing.error.publish(trace)
  actionTracing.asyncStart.publish(trace)
  actionTracing.asyncEnd.publish(trace)
}

/** The defined name, or `unknown`: a client's text is never a label. */
export function actionLabel (actions: ReadonlyMap<string, { name: string }>, name: unknown): string {
  return typeof name === 'string' ? actions.get(name)?.name ?? 'unknown' : 'unknown'
}

const opened = new WeakMap<object, number>()
// A socket closed by the server is reported closed twice.
const closedOnce = new WeakSet<object>()

export function connectionOpened (route: string, request: FastifyRequest, guard: object): void {
  opened.set(guard, performance.now())
  if (connectionOpen.hasSubscribers) connectionOpen.publish({ route, request } satisfies ConnectionOpenMessage)
}

export function connectionClosed (route: string, code: number, request: FastifyRequest, guard: object): void {
  if (closedOnce.has(guard)) return
  closedOnce.add(guard)
  const at = opened.get(guard)
  connectionClose.publish({ route, code, durationMs: at === undefined ? null : performance.now() - at, request } satisfies ConnectionCloseMessage)
}

/** The onResponse hook of a WebSocket route: an accepted upgrade is hijacked, so a response to one is a refusal. */
export function refusedHook (route: string): onResponseHookHandler {
  return function (request: FastifyRequest, reply: FastifyReply, done: () => void) {
    if (request.ws && connectionRefused.hasSubscribers) {
      connectionRefused.publish({ route: request.routeOptions.url ?? route, status: reply.statusCode, request } satisfies ConnectionRefusedMessage)
    }
    done()
  }
}

export function publishFrameIn (route: string, bytes: number): void {
  frameIn.publish({ route, bytes } satisfies FrameMessage)
}

export function publishFrameOut (route: string, text: string): void {
  frameOut.publish({ route, bytes: Buffer.byteLength(text) } satisfies FrameMessage)
}

export function publishObserver (observer: string, group: string, action: string): void {
  observerPublish.publish({ observer, group, action } satisfies ObserverPublishMessage)
}

export function publishDelivery (
  instance: TracedInstance,
  message: { observer: string, group: string, action: string, committedAt?: number },
  frames: number
): void {
  const committedAt = message.committedAt
  observerDeliver.publish({
    route: routeOf(instance.request),
    stream: instance.stream,
    observer: message.observer,
    group: message.group,
    action: message.action,
    frames,
    // A message from a process running an older version carries no time.
    latencyMs: typeof committedAt === 'number' ? Math.max(0, Date.now() - committedAt) : 0
  } satisfies ObserverDeliverMessage)
}

export function publishSubscriptions (instance: TracedInstance, delta: number): void {
  if (delta !== 0) subscription.publish({ route: routeOf(instance.request), delta } satisfies SubscriptionMessage)
}

export function publishSlowClose (route: string, bufferedAmount: number, maxBufferedBytes: number): void {
  slowClose.publish({ route, bufferedAmount, maxBufferedBytes } satisfies SlowCloseMessage)
}

export function publishThrottled (instance: TracedInstance, limit: ThrottledMessage['limit']): void {
  throttled.publish({ route: routeOf(instance.request), stream: instance.stream, limit } satisfies ThrottledMessage)
}

export function publishTooBig (route: string, bytes: number | null, maxFrameSize: number): void {
  tooBig.publish({ route, bytes, maxFrameSize } satisfies TooBigMessage)
}

export function publishPaused (route: string, isPaused: boolean): void {
  paused.publish({ route, paused: isPaused } satisfies PausedMessage)
}

const layerStates = new WeakMap<object, 'up' | 'down'>()

/** A channel layer went up or down, or (no `state`) its number of groups changed; unguarded, so the state is kept. */
export function channelLayerChanged (layer: object, state: 'up' | 'down' | undefined, groups: number, error?: Error): void {
  if (state !== undefined) layerStates.set(layer, state)
  if (!channelLayerState.hasSubscribers) return
  const message: ChannelLayerStateMessage = { state: state ?? layerStates.get(layer) ?? 'up', groups }
  if (error !== undefined) message.error = error
  channelLayerState.publish(message)
}

/** The route of a socket's consumers (one instance, or a multiplexer's map of them). */
export function routeOfConsumers (consumers: { request: FastifyRequest } | Map<unknown, { request: FastifyRequest }>): string {
  const instance = consumers instanceof Map ? consumers.values().next().value : consumers
  return instance === undefined ? 'unknown' : routeOf(instance.request)
}

export function requestOfConsumers (consumers: { request: FastifyRequest } | Map<unknown, { request: FastifyRequest }>): FastifyRequest {
  return (consumers instanceof Map ? consumers.values().next().value! : consumers).request
}
