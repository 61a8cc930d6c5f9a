/**
 * fastify-dcrf/client: a typed client of DCRF's wire protocol, for browsers and Node 20+. It has
 * no runtime dependencies and imports nothing of the server: its types come from the server's
 * consumers through a type-only import, as tRPC's client takes its router's type.
 *
 * @example
 * import { connect } from 'fastify-dcrf/client'
 * import type { userConsumer } from './server/consumers.js'
 * const users = connect<typeof userConsumer>('wss://example.com/ws/users/')
 * const user = await users.retrieve({ pk: 1 })
 */
import type { Client, ConnectionState, ConnectOptions, WebSocketLike } from './types.js'

export type * from './types.js'

/** A reply with a status other than 2xx. */
export class DcrfError extends Error {
  /** The reply's `response_status`. */
  readonly status: number
  /** The reply's `errors`, as the server sent them. */
  readonly errors: unknown[]
  /** The action the reply answers. */
  readonly action: string
  /** The request id of the call. */
  readonly requestId: number

  constructor (status: number, errors: unknown[], action: string, requestId: number) {
    super(`${action}: ${status} ${JSON.stringify(errors)}`)
    this.name = 'DcrfError'
    this.status = status
    this.errors = errors
    this.action = action
    this.requestId = requestId
  }
}

/** The socket dropped while a call was in flight, or the client is closed (or gave up reconnecting). */
export class ConnectionLostError extends Error {
  constructor (message = 'The connection was lost') {
    super(message)
    this.name = 'ConnectionLostError'
  }
}

interface Msg { stream?: string, payload?: Msg, action: string, data: unknown, errors: unknown[], response_status: number, request_id: unknown }

/** A request the client waits on: sent (or queued until open), matched by its request id. */
interface Entry {
  frame: string
  sent: boolean
  /** Re-sent on the next socket instead of failing when the socket drops. */
  keep: boolean
  on: (msg: Msg) => void
  fail: (err: Error) => void
}

// Closes after which we reconnect: abnormal (1005, 1006), going away, server error, restart, try again later, bad gateway.
const RECONNECT = [1001, 1005, 1006, 1011, 1012, 1013, 1014]
const ok = (msg: Msg): boolean => msg.response_status >= 200 && msg.response_status < 300
const errorOf = (msg: Msg, id: number): DcrfError => new DcrfError(msg.response_status, msg.errors, msg.action, id)

/** A queue of values read by `for await`; `stop` runs when the reader leaves early. */
function channel<T> (stop: () => void): { push: (value: T) => void, end: (err?: Error) => void, iterator: AsyncIterableIterator<T> } {
  const values: T[] = []
  let waiting: [(r: IteratorResult<T>) => void, (err: Error) => void] | undefined
  let done = false
  let error: Error | undefined
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => new Promise((resolve, reject) => {
      if (values.length > 0) resolve({ value: values.shift()!, done: false })
      else if (error) reject(error)
      else if (done) resolve({ value: undefined, done: true })
      else waiting = [resolve, reject]
    }),
    return: async () => {
      if (!done) { done = true; stop() }
      values.length = 0
      waiting?.[0]({ value: undefined, done: true })
      waiting = undefined
      return { value: undefined, done: true }
    }
  }
  return {
    push (value) {
      if (done) return
      if (waiting) { waiting[0]({ value, done: false }); waiting = undefined } else values.push(value)
    },
    end (err) {
      if (done) return
      done = true
      error = err
      if (waiting) { if (err) waiting[1](err); else waiting[0]({ value: undefined, done: true }); waiting = undefined }
    },
    iterator
  }
}

/**
 * Connects to a DCRF route. `T` is the route's consumer (`typeof userConsumer`): the client's
 * methods are its actions. Or `T` is the streams of a multiplexed route (`typeof streams`, see
 * `defineStreams`): `client.stream(name)` gives each stream's consumer the same way.
 *
 * The socket opens at once and reopens after abnormal closes (see `ConnectOptions.reconnect`).
 */
export function connect<T> (url: string, options: ConnectOptions = {}): Client<T> {
  const Socket = options.WebSocket ?? (globalThis as any).WebSocket as new (url: string) => WebSocketLike
  const { timeout: defaultTimeout = 30_000, maxQueued = 1000, retry = [], onState } = options
  const reconnect = options.reconnect === false ? { retries: 0 } : options.reconnect ?? {}
  const { retries = 10, minDelay = 500, maxDelay = 30_000 } = reconnect
  const entries = new Map<number, Entry>()
  let lastId = 0
  let state: ConnectionState = 'connecting'
  let ws: WebSocketLike | undefined
  let failures = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const setState = (next: ConnectionState): void => {
    if (next !== state) { state = next; onState?.(next) }
  }

  const open = (): void => {
    const socket = ws = new Socket(url)
    let opened = false
    socket.onerror = () => {}
    socket.onopen = () => {
      opened = true
      failures = 0
      setState('open')
      // Map order is request order: live subscriptions first (older ids), then what waited.
      for (const entry of entries.values()) {
        if (!entry.sent || entry.keep) { entry.sent = true; socket.send(entry.frame) }
      }
    }
    socket.onmessage = (event: { data: unknown }) => {
      let msg: Msg
      try { msg = JSON.parse(String(event.data)) } catch { return }
      if (msg?.payload !== undefined && msg.stream !== undefined) msg = msg.payload
      entries.get(msg?.request_id as number)?.on(msg)
    }
    socket.onclose = (event: { code: number }) => {
      if (socket !== ws || state === 'closed') return
      if (!opened) failures++
      const again = RECONNECT.includes(event.code) && failures <= retries
      for (const [id, entry] of entries) {
        if (!again) { entries.delete(id); entry.fail(new ConnectionLostError(opened ? undefined : 'The connection failed')) } else if (entry.sent && !entry.keep) {
          entries.delete(id)
          entry.fail(new ConnectionLostError())
        }
      }
      if (!again) return setState('closed')
      setState('reconnecting')
      // Full jitter, so that every client of a restarted server does not come back at once.
      timer = setTimeout(open, Math.random() * Math.min(maxDelay, minDelay * 2 ** failures))
    }
  }

  /**
   * Sends a frame under a new request id (or queues it until the socket is open) and calls
   * `on` with every frame answering it until `done()`.
   */
  const request = (
    stream: string | undefined, action: string, args: unknown, o: { timeout?: number, signal?: AbortSignal },
    on: (msg: Msg, id: number, done: () => void) => void, fail: (err: Error, id: number) => void,
    keep = false, id = ++lastId, cancel?: (id: number) => void
  ): number => {
    const payload = { ...(args as object), action, request_id: id }
    const frame = JSON.stringify(stream === undefined ? payload : { stream, payload })
    const { signal, timeout = defaultTimeout } = o
    let clock: ReturnType<typeof setTimeout> | undefined
    const done = (): void => {
      clearTimeout(clock)
      signal?.removeEventListener('abort', abort)
      entries.delete(id)
    }
    const stop = (err: Error): void => {
      if (entries.get(id) !== entry) return
      const sent = entry.sent
      done()
      fail(err, id)
      if (sent && state === 'open') cancel?.(id)
    }
    const abort = (): void => stop(signal!.reason)
    const entry: Entry = {
      frame,
      sent: false,
      keep: keep || retry.includes(action),
      on: (msg) => { clearTimeout(clock); on(msg, id, done) },
      fail: (err) => { done(); fail(err, id) }
    }
    if (signal?.aborted) { fail(signal.reason, id); return id }
    if (state === 'closed') { fail(new ConnectionLostError('The client is closed'), id); return id }
    let queued = 0
    for (const e of entries.values()) if (!e.sent) queued++
    if (queued >= maxQueued && state !== 'open') { fail(new ConnectionLostError('Too many calls wait for the connection'), id); return id }
    entries.set(id, entry)
    signal?.addEventListener('abort', abort)
    // The timeout runs from the call, queued time included; a reply after it is dropped.
    if (timeout > 0) clock = setTimeout(() => stop(new DOMException(`${action} timed out after ${timeout} ms`, 'TimeoutError')), timeout)
    if (state === 'open') { entry.sent = true; ws!.send(frame) }
    return id
  }

  const api = (stream?: string): object => {
    const call = (action: string, args?: unknown, o: { timeout?: number, signal?: AbortSignal } = {}): Promise<unknown> =>
      new Promise((resolve, reject) => {
        request(stream, action, args, o, (msg, id, done) => {
          done()
          if (ok(msg)) resolve(msg.data)
          else reject(errorOf(msg, id))
        }, reject)
      })

    const helpers = {
      $call: call,

      $stream (action: string, args?: unknown, o = {}): AsyncIterableIterator<unknown> {
        // `list_cancel` stops every streamed list of the connection: the protocol has no other way.
        const cancel = (): void => { call('list_cancel', {}).catch(() => {}) }
        let id = 0
        const pages = channel<any>(() => { if (entries.delete(id)) cancel() })
        id = request(stream, action, args, o, (msg, id, done) => {
          if (!ok(msg)) { done(); return pages.end(errorOf(msg, id)) }
          const page = msg.data as { count: number, limit: number, offset: number }
          pages.push(page)
          if (page.offset + page.limit >= page.count) { done(); pages.end() }
        }, (err) => pages.end(err), false, undefined, cancel)
        return pages.iterator
      },

      async * $pages (action: string, args: any = {}, o = {}): AsyncGenerator<unknown> {
        let offset = args.offset ?? 0
        for (;;) {
          const page = await call(action, { ...args, offset }, o) as { count: number, limit: number, offset: number, results: unknown[] }
          yield page
          offset = page.offset + page.limit
          if (offset >= page.count || page.results.length === 0) return
        }
      },

      $subscribe (action: string, args: any = {}, o: any = {}): Promise<unknown> {
        const unsubscribe: string | false = o.unsubscribe ?? (action === 'subscribe_instance' && 'unsubscribe_instance')
        let subscribed = false
        let listener = o.onEvent as ((event: unknown) => void) | undefined
        // Without a callback, events wait for the iterator, so none is lost between the ack and the loop.
        const events = channel<unknown>(() => { sub.unsubscribe().catch(() => {}) })
        const deliver = (event: unknown): void => { if (listener) listener(event); else events.push(event) }
        // The unsubscribe goes with the subscription's request id: on this server it stops exactly
        // that subscription (DCRF's unsubscribe_instance stops every subscription of the instance).
        const leave = (): Promise<void> => !unsubscribe || state !== 'open'
          ? Promise.resolve()
          : new Promise((resolve, reject) => {
            request(stream, unsubscribe, o.unsubscribeArgs ?? args, {}, (msg, id, done) => {
              if (msg.action !== unsubscribe) return // an event sent before the server saw the unsubscribe
              done()
              if (ok(msg)) resolve(); else reject(errorOf(msg, id))
            }, reject, false, sub.requestId)
          })
        const sub = {
          requestId: 0,
          unsubscribe: async (): Promise<void> => {
            if (!entries.delete(sub.requestId)) return
            // Events received but not read yet are dropped too: after unsubscribing, none arrives.
            events.iterator.return!().catch(() => {})
            await leave()
          },
          [Symbol.asyncIterator]: () => { listener = undefined; return events.iterator }
        }
        return new Promise((resolve, reject) => {
          sub.requestId = request(stream, action, args, o, (msg, id, done) => {
            if (msg.action !== action) return deliver({ action: msg.action, data: msg.data })
            if (ok(msg)) {
              if (!subscribed) { subscribed = true; resolve(sub) }
              return
            }
            // Refused: at first, or again after a reconnect (the row may be gone).
            done()
            const err = errorOf(msg, id)
            if (!subscribed) return reject(err)
            events.end(err)
            o.onError?.(err)
          }, (err) => {
            if (!subscribed) return reject(err)
            events.end(err)
            o.onError?.(err)
          }, true, undefined, () => { leave().catch(() => {}) })
        })
      }
    }
    return new Proxy(helpers, {
      get: (target, key) => key in target ? (target as any)[key] : typeof key === 'string' && key !== 'then' ? (args?: unknown, o?: any) => call(key, args, o) : undefined
    })
  }

  const streams = new Map<string, object>()
  const base = api()
  const client = {
    get state () { return state },
    stream (name: string) {
      let s = streams.get(name)
      if (!s) streams.set(name, s = api(name))
      return s
    },
    close () {
      if (state === 'closed') return
      clearTimeout(timer)
      setState('closed')
      ws?.close(1000)
      for (const entry of entries.values()) entry.fail(new ConnectionLostError('The client is closed'))
    }
  }
  open()
  return new Proxy(client, {
    get: (target, key) => key in target ? (target as any)[key] : (base as any)[key]
  }) as Client<T>
}
