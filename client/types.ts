/**
 * The types of fastify-dcrf/client, read back from the server's consumer definitions with the
 * helpers of the server's types (`inferActions`, `inferArgs`, `inferReply`, `inferEvents`). Type
 * imports only: nothing of the server reaches a bundle of the client.
 */
import type { inferActions, inferArgs, inferEvents, inferReply, ObserverEvent, Page } from '../types/index.js'

/** The connection's state: opening the first socket, open, waiting to open another, or done. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** What the client needs of a WebSocket: the browser's, or the `ws` package's on Node 20. */
export interface WebSocketLike {
  send: (data: string) => void
  close: (code?: number) => void
  onopen: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
}

/** Options of `connect()`. */
export interface ConnectOptions {
  /** The WebSocket class. Default: `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocket?: new (url: string) => WebSocketLike
  /** Milliseconds a call waits for its reply (queued time included), unless it says otherwise; 0 waits forever. Default 30000. */
  timeout?: number
  /**
   * Reopening the socket after abnormal closes (1006 and 1005), 1001, 1011, 1012, 1013, 1014 — not
   * after 1000, 4xxx, other codes or `close()`. The delay before attempt n is random in
   * [0, min(maxDelay, minDelay·2ⁿ)]. `retries` bounds consecutive attempts that do not open (a
   * refused handshake looks like any failed connection to a browser); then the client is closed.
   * `false`: never reconnect. Default `{ retries: 10, minDelay: 500, maxDelay: 30000 }`.
   */
  reconnect?: false | { retries?: number, minDelay?: number, maxDelay?: number }
  /**
   * Actions safe to send again (reads): a call of these in flight when the socket drops is sent
   * again on the next socket instead of failing with `ConnectionLostError`. Default none.
   */
  retry?: string[]
  /** Calls that may wait for the socket to open; more fail at once. Default 1000. */
  maxQueued?: number
  /** Called on every change of `state`. */
  onState?: (state: ConnectionState) => void
}

/** Options of one call. */
export interface CallOptions {
  /** Milliseconds to wait for the reply; overrides `ConnectOptions.timeout`. */
  timeout?: number
  /** Aborts the call: it rejects with the signal's reason, and its reply is dropped. */
  signal?: AbortSignal
}

/** What a subscription delivers: the event frames of its request id, as `{ action, data }`. */
export type EventOf<TConsumer, TAction extends inferActions<TConsumer>> =
  [inferEvents<TConsumer, TAction>] extends [never] ? ObserverEvent<string, unknown> : inferEvents<TConsumer, TAction>

/** Options of `$subscribe`. `timeout` and `signal` apply to the subscribe call; aborting later unsubscribes. */
export interface SubscribeOptions<TConsumer, TEvent> extends CallOptions {
  /** Receives each event; without it, events wait for `for await (const event of subscription)`. */
  onEvent?: (event: TEvent) => void
  /** The subscription ended with an error (refused again after a reconnect, or the client closed). */
  onError?: (error: Error) => void
  /**
   * The action that unsubscribes, sent with the subscription's request id. Default:
   * `unsubscribe_instance` for `subscribe_instance`, else none (`unsubscribe()` only stops delivery).
   */
  unsubscribe?: inferActions<TConsumer> | false
  /** The unsubscribe action's arguments. Default: the subscribe arguments. */
  unsubscribeArgs?: Record<string, unknown>
}

/** A live subscription; iterate it for its events. Sent again, with its request id, after every reconnect. */
export interface Subscription<TEvent> extends AsyncIterable<TEvent> {
  /** The request id its events carry. */
  readonly requestId: number
  /** Stops the events and sends the unsubscribe action (if any); resolves on its reply. */
  unsubscribe: () => Promise<void>
}

/** The arguments of a call: optional when the action requires none. */
type Params<TArgs, TOptions> = Record<string, never> extends TArgs
  ? [args?: TArgs, options?: TOptions]
  : [args: TArgs, options?: TOptions]

type PageActions<TConsumer> = {
  [A in inferActions<TConsumer>]: inferReply<TConsumer, A> extends Page<any> ? A : never
}[inferActions<TConsumer>]

type ActionMethods<TConsumer> = {
  [A in inferActions<TConsumer>]: (...params: Params<inferArgs<TConsumer, A>, CallOptions>) => Promise<inferReply<TConsumer, A>>
}

/**
 * One consumer seen from the client: its actions as methods resolving with the reply's `data`
 * (rejecting with `DcrfError` for a status other than 2xx), and `$`-prefixed helpers.
 */
export type ConsumerClient<TConsumer> = ActionMethods<TConsumer> & {
  /** Calls an action by name (for names that are not identifiers, or clash with the client's). */
  $call: <A extends inferActions<TConsumer>>(action: A, ...params: Params<inferArgs<TConsumer, A>, CallOptions>) => Promise<inferReply<TConsumer, A>>
  /**
   * A streamed list, a page per reply, ending with the last page. Leaving the loop early or
   * aborting sends `list_cancel` (which stops every streamed list of the connection).
   */
  $stream: <A extends PageActions<TConsumer>>(action: A, ...params: Params<inferArgs<TConsumer, A>, CallOptions>) => AsyncIterableIterator<inferReply<TConsumer, A>>
  /** Walks a paginated list from `offset`, one call per page, until the last. */
  $pages: <A extends PageActions<TConsumer>>(action: A, ...params: Params<inferArgs<TConsumer, A>, CallOptions>) => AsyncGenerator<inferReply<TConsumer, A>>
  /** Calls a subscribing action; resolves with the subscription once the server acknowledged it. */
  $subscribe: <A extends inferActions<TConsumer>>(action: A, ...params: Params<inferArgs<TConsumer, A>, SubscribeOptions<TConsumer, EventOf<TConsumer, A>>>) => Promise<Subscription<EventOf<TConsumer, A>>>
}

/** What every client has. */
export interface ClientBase {
  /** The connection's state. */
  readonly state: ConnectionState
  /** Closes the socket (code 1000) for good; calls still waiting reject with `ConnectionLostError`. */
  close: () => void
}

/** The streams of a multiplexed route, by name, as `defineStreams()` declares them. */
export type StreamsClient<TStreams> = ClientBase & {
  /** The consumer of one stream. */
  stream: <K extends keyof TStreams & string>(name: K) => ConsumerClient<TStreams[K]>
}

/** The client of a route: of one consumer (`typeof userConsumer`) or of multiplexed streams (`typeof streams`). */
export type Client<T> = T extends { actions: unknown }
  ? ClientBase & Omit<ConsumerClient<T>, keyof ClientBase>
  : StreamsClient<T>
