/** `fastify-dcrf/metrics`: the only entry that needs prom-client (an optional peer dependency). */
import dc from 'node:diagnostics_channel'
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client'
import { channelNames } from './diagnostics.js'
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

export interface DcrfMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's default registry. */
  registry?: Registry
  /** Prefix of every metric name. Default `dcrf_`. */
  prefix?: string
  /** Buckets (seconds) of the action duration and fan-out latency histograms. */
  latencyBuckets?: number[]
  /** Buckets (seconds) of the connection duration histogram. */
  durationBuckets?: number[]
}

/** The metrics registered, and how to stop feeding them. */
export interface DcrfMetrics {
  readonly registry: Registry
  /** Unsubscribes from the channels and removes the metrics from the registry. */
  close (): void
}

interface RouteSeries {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
}

interface ActionSeries {
  labels: { route: string, stream: string, action: string, status: string }
  count: number
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const DURATION_BUCKETS = [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600]

/**
 * Registers Prometheus metrics fed by the plugin's diagnostics channels. Call it once per registry,
 * before the server takes connections (one opened before is not counted). Label values come only
 * from what the application defines: an action name a client made up is `unknown`.
 *
 * @example
 * import { dcrfMetrics } from 'fastify-dcrf/metrics'
 * import { register } from 'prom-client'
 * dcrfMetrics() // on prom-client's default registry
 * app.get('/metrics', async (_req, reply) => reply.type(register.contentType).send(await register.metrics()))
 */
export function dcrfMetrics (options: DcrfMetricsOptions = {}): DcrfMetrics {
  const registry = options.registry ?? defaultRegistry
  const prefix = options.prefix ?? 'dcrf_'
  const latencyBuckets = options.latencyBuckets ?? LATENCY_BUCKETS
  const registers = [registry]
  const names: string[] = []
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], collect?: () => void): Counter<L> => {
    names.push(prefix + name)
    return new Counter({ name: prefix + name, help, labelNames, registers, ...(collect === undefined ? {} : { collect }) })
  }
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> => {
    names.push(prefix + name)
    return new Gauge({ name: prefix + name, help, labelNames, registers })
  }
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> => {
    names.push(prefix + name)
    return new Histogram({ name: prefix + name, help, labelNames, buckets, registers })
  }

  const connectionsOpen = gauge('connections_open', 'WebSocket connections open now', ['route'])
  const connectionsTotal = counter('connections_total', 'WebSocket handshakes, by outcome (accepted, refused)', ['route', 'outcome'])
  const connectionDuration = histogram('connection_duration_seconds', 'How long connections stayed open', ['route'], options.durationBuckets ?? DURATION_BUCKETS)
  // Counted in plain numbers until a scrape: prom-client's inc() hashes the labels, too much per frame.
  const perRoute = new Map<string, RouteSeries>()
  const perAction = new Map<string, ActionSeries>()
  const flushRoutes = (): void => {
    for (const [route, series] of perRoute) {
      if (series.framesIn > 0) framesReceived.inc({ route }, series.framesIn)
      if (series.framesOut > 0) framesSent.inc({ route }, series.framesOut)
      if (series.bytesIn > 0) bytesReceived.inc({ route }, series.bytesIn)
      if (series.bytesOut > 0) bytesSent.inc({ route }, series.bytesOut)
      series.framesIn = series.framesOut = series.bytesIn = series.bytesOut = 0
    }
  }
  const framesReceived = counter('frames_received_total', 'WebSocket messages received', ['route'], flushRoutes)
  const framesSent = counter('frames_sent_total', 'WebSocket messages sent', ['route'], flushRoutes)
  const bytesReceived = counter('frame_bytes_received_total', 'Bytes of WebSocket messages received', ['route'], flushRoutes)
  const bytesSent = counter('frame_bytes_sent_total', 'Bytes of WebSocket messages sent', ['route'], flushRoutes)
  const actionsTotal = counter('actions_total', 'Actions handled, by reply status (`none`: no reply)', ['route', 'stream', 'action', 'status'], () => {
    for (const series of perAction.values()) {
      if (series.count > 0) actionsTotal.inc(series.labels, series.count)
      series.count = 0
    }
  })
  const actionDuration = histogram('action_duration_seconds', 'Time from an action frame leaving its queue to its reply', ['route', 'stream', 'action', 'status'], latencyBuckets)
  const observerEvents = counter('observer_events_total', 'Observer events published, one per group', ['observer', 'action'])
  const fanoutLatency = histogram('fanout_latency_seconds', 'Time from a commit (or signal) to its event being sent to a subscribed connection', ['observer'], latencyBuckets)
  const subscriptionsActive = gauge('subscriptions_active', 'Observer and instance subscriptions held by open connections', ['route'])
  const slowCloses = counter('slow_client_closes_total', 'Clients closed with 1013 for not reading', ['route'])
  const throttledTotal = counter('throttled_total', 'Frames answered 429 by a socket limit (rate, detached)', ['route', 'limit'])
  const oversized = counter('oversized_frames_total', 'Frames over maxFrameSize (their socket closed with 1009)', ['route'])
  const pauses = counter('read_pauses_total', 'Times the server stopped reading a socket whose queue was full', ['route'])
  const layerUp = gauge('channel_layer_up', 'Whether the channel layer is connected (1) or not (0)', [])
  const layerGroups = gauge('channel_layer_groups', 'Groups this process is subscribed to on the channel layer', [])
  const layerOutages = counter('channel_layer_outages_total', 'Times the channel layer lost its connection', [])
  layerUp.set(1)
  layerGroups.set(0)

  const seriesOf = (route: string): RouteSeries => {
    let series = perRoute.get(route)
    if (series === undefined) {
      series = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }
      perRoute.set(route, series)
    }
    return series
  }
  const opened = new WeakSet<object>()
  const started = new WeakMap<ActionTraceContext, number>()

  const listeners: Record<string, (message: any) => void> = {
    [channelNames.connectionOpen]: (m: ConnectionOpenMessage) => {
      opened.add(m.request)
      connectionsOpen.inc({ route: m.route })
      connectionsTotal.inc({ route: m.route, outcome: 'accepted' })
    },
    [channelNames.connectionClose]: (m: ConnectionCloseMessage) => {
      if (!opened.has(m.request)) return
      opened.delete(m.request)
      connectionsOpen.dec({ route: m.route })
      if (m.durationMs !== null) connectionDuration.observe({ route: m.route }, m.durationMs / 1000)
    },
    [channelNames.connectionRefused]: (m: ConnectionRefusedMessage) => {
      connectionsTotal.inc({ route: m.route, outcome: 'refused' })
    },
    [channelNames.frameIn]: (m: FrameMessage) => {
      const series = seriesOf(m.route)
      series.framesIn++
      series.bytesIn += m.bytes
    },
    [channelNames.frameOut]: (m: FrameMessage) => {
      const series = seriesOf(m.route)
      series.framesOut++
      series.bytesOut += m.bytes
    },
    [channelNames.observerPublish]: (m: ObserverPublishMessage) => {
      observerEvents.inc({ observer: m.observer, action: m.action })
    },
    [channelNames.observerDeliver]: (m: ObserverDeliverMessage) => {
      fanoutLatency.observe({ observer: m.observer }, m.latencyMs / 1000)
    },
    [channelNames.subscription]: (m: SubscriptionMessage) => {
      subscriptionsActive.inc({ route: m.route }, m.delta)
    },
    [channelNames.slowClose]: (m: SlowCloseMessage) => { slowCloses.inc({ route: m.route }) },
    [channelNames.throttled]: (m: ThrottledMessage) => { throttledTotal.inc({ route: m.route, limit: m.limit }) },
    [channelNames.tooBig]: (m: TooBigMessage) => { oversized.inc({ route: m.route }) },
    [channelNames.paused]: (m: PausedMessage) => { if (m.paused) pauses.inc({ route: m.route }) },
    [channelNames.channelLayerState]: (m: ChannelLayerStateMessage) => {
      if (m.state === 'down' && m.error !== undefined) layerOutages.inc()
      layerUp.set(m.state === 'up' ? 1 : 0)
      layerGroups.set(m.groups)
    }
  }
  for (const [name, listener] of Object.entries(listeners)) dc.subscribe(name, listener)

  const tracing = dc.tracingChannel<unknown, ActionTraceContext>(channelNames.action)
  const handlers = {
    start: (trace: ActionTraceContext) => { started.set(trace, performance.now()) },
    end: () => {},
    asyncStart: () => {},
    error: () => {},
    asyncEnd: (trace: ActionTraceContext) => {
      const status = trace.status === null ? 'none' : String(trace.status)
      const key = `${trace.route}\n${trace.stream ?? ''}\n${trace.action}\n${status}`
      let series = perAction.get(key)
      if (series === undefined) {
        const labels = { route: trace.route, stream: trace.stream ?? '', action: trace.action, status }
        series = { labels, count: 0 }
        perAction.set(key, series)
      }
      series.count++
      const at = started.get(trace)
      if (at !== undefined) actionDuration.observe(series.labels, (performance.now() - at) / 1000)
    }
  }
  tracing.subscribe(handlers)

  return {
    registry,
    close () {
      for (const [name, listener] of Object.entries(listeners)) dc.unsubscribe(name, listener)
      tracing.unsubscribe(handlers)
      for (const name of names) registry.removeSingleMetric(name)
    }
  }
}
