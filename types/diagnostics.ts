/**
 * The messages of fastify-dcrf's diagnostics channels (`node:diagnostics_channel`). Their names and
 * shapes are public API: a change that breaks a subscriber is a major version. Messages are only
 * made while a channel has a subscriber.
 */
import type { FastifyRequest } from 'fastify'
import type { ConsumerContext } from './context.js'

/**
 * The context of the `fastify-dcrf:action` tracing channel: one per action frame, from the moment
 * the frame leaves the connection's queue to its reply (for a detached action: to the end of its
 * run). `status` (and `error`) are set before `asyncEnd` is published.
 */
export interface ActionTraceContext {
  /** The route's path as mounted, such as `/ws/users/` (never the client's URL). */
  route: string
  /** The stream of a multiplexed route; `null` on a plain route. */
  stream: string | null
  /** The action's name when the consumer defines it (aliases included), else `unknown`. */
  action: string
  /** The action name the client sent, as it sent it (any JSON value, or undefined). */
  rawAction: unknown
  /** The client's `request_id` (never a metric label: it is the client's). */
  requestId: unknown
  /** Whether the action runs detached beside the connection's queue. */
  detached: boolean
  /** The reply's `response_status`; `null` when the action sent no reply (it returned nothing). */
  status: number | null
  /** What the action threw, when it threw (the client got it as an error reply). */
  error?: unknown
  /** The consumer context of the connection. */
  connection: ConsumerContext
}

/** `fastify-dcrf:connection:open`: a WebSocket handshake completed. */
export interface ConnectionOpenMessage {
  route: string
  request: FastifyRequest
}

/** `fastify-dcrf:connection:close`: a socket closed. */
export interface ConnectionCloseMessage {
  route: string
  /** The close code (1000 normal, 1001 going away, 1006 dropped, 1009 too big, 1013 slow client…). */
  code: number
  /** Ms the connection was open; `null` when it opened before anyone subscribed to `open` or `close`. */
  durationMs: number | null
  request: FastifyRequest
}

/** `fastify-dcrf:connection:refused`: an upgrade was answered with an HTTP status instead. */
export interface ConnectionRefusedMessage {
  route: string
  /** The HTTP status of the refusal (401, 403…). */
  status: number
  request: FastifyRequest
}

/** `fastify-dcrf:frame:in` and `fastify-dcrf:frame:out`: one WebSocket message. */
export interface FrameMessage {
  route: string
  /** Its size in bytes (UTF-8 for text frames). */
  bytes: number
}

/** `fastify-dcrf:observer:publish`: an observer event sent to one of its groups. */
export interface ObserverPublishMessage {
  /** The observer's id (`<table or signal:name>.<observer name>`), the same in every process. */
  observer: string
  /** The observer's group (from `groupsForSignal`; `*` for everyone). Not bounded: not a label. */
  group: string
  /** `create`, `update`, `delete`, or the signal's name. */
  action: string
}

/** `fastify-dcrf:observer:deliver`: an observer event handed to one subscribed connection. */
export interface ObserverDeliverMessage {
  route: string
  stream: string | null
  observer: string
  group: string
  action: string
  /** How many frames it made (one per subscribing request id; 0 when a custom `handle` took it). */
  frames: number
  /** Ms from the commit (or the signal) to the send, across processes by their clocks. */
  latencyMs: number
}

/** `fastify-dcrf:subscription`: a connection's subscription count changed. */
export interface SubscriptionMessage {
  route: string
  /** +n subscriptions added, -n removed (a closing connection removes all of its own). */
  delta: number
}

/** `fastify-dcrf:socket:slow-close`: a client that did not read was closed with 1013. */
export interface SlowCloseMessage {
  route: string
  /** The bytes waiting to be sent when it was closed. */
  bufferedAmount: number
  maxBufferedBytes: number
}

/** `fastify-dcrf:socket:throttled`: a frame was answered 429 instead of being handled. */
export interface ThrottledMessage {
  route: string
  stream: string | null
  /** What was exceeded: `rate` (rateLimit) or `detached` (maxDetachedActions). */
  limit: 'rate' | 'detached'
}

/** `fastify-dcrf:socket:too-big`: an inbound frame over `maxFrameSize` closed its socket with 1009. */
export interface TooBigMessage {
  route: string
  /** The frame's size; `null` when `ws` refused it while reading (its `maxPayload`), before its end. */
  bytes: number | null
  maxFrameSize: number
}

/** `fastify-dcrf:socket:paused`: the server stopped (`paused: true`) or resumed reading a socket. */
export interface PausedMessage {
  route: string
  paused: boolean
}

/** `fastify-dcrf:channel-layer:state`: the channel layer went down or up, or its number of groups changed. */
export interface ChannelLayerStateMessage {
  /** `down` while Redis is unreachable; the in-process layer is always `up`. */
  state: 'up' | 'down'
  /** The groups this process is subscribed to. */
  groups: number
  /** The error that took it down. */
  error?: Error
}

/** Options of the AsyncAPI document (`app.dcrf.asyncapi()`). */
export interface AsyncApiOptions {
  /** The document's `info`. Default title `fastify-dcrf API`, version `0.0.0`. */
  info?: { title?: string, version?: string, description?: string }
  /** AsyncAPI Server Objects by name, such as `{ production: { host: 'api.example.com', protocol: 'wss' } }`. */
  servers?: Record<string, { host: string, protocol: 'ws' | 'wss', pathname?: string, description?: string }>
}

/** The plugin's `asyncapi` option: the document's options, and the route serving it. */
export interface AsyncApiPluginOptions extends AsyncApiOptions {
  /** Serves the document as JSON on this GET route (such as `/asyncapi.json`). Default: not served. */
  route?: string
}
