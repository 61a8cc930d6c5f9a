/**
 * The structural fuzzer's client and its accounting: what each frame sent must be answered with,
 * and whether the replies a socket received account for every frame — no more (but for
 * subscription events and streamed pages), no less.
 */
import WebSocket from 'ws'

/** What a route's consumers answer beyond one reply per frame. */
export interface RouteModel {
  /** A multiplexed route's stream names; absent for a plain consumer. */
  streams?: readonly string[]
  /** Actions that run detached and reply zero or more times (streamed lists). */
  detached?: readonly string[]
  /** The action that cancels the detached ones sent before it. */
  cancel?: string
  /** Actions whose success makes later frames arrive with their `request_id`, and those frames' actions. */
  subscribe?: Readonly<Record<string, readonly string[]>>
  /** Frames anyone's actions send to every socket of the route, with a `null` request_id. */
  broadcast?: readonly string[]
}

/** The envelope keys of every reply, in their order. */
const ENVELOPE = ['errors', 'data', 'action', 'response_status', 'request_id']

/**
 * The deepest nesting a frame may have (the plugin's default `maxDepth`, which the example keeps):
 * deeper frames are answered 400 with `action` and `request_id` null, since they cannot be echoed safely.
 */
export const MAX_DEPTH = 32

/** The nesting depth of a JSON text (brackets outside strings). */
export function depthOf (text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) deepest = Math.max(deepest, ++depth)
    else if (c === 93 || c === 125) depth--
  }
  return deepest
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** JSON text of a value, or `null` when even this process cannot write it (too deep). */
function echo (value: unknown): string | null {
  try {
    return JSON.stringify(value === undefined ? null : value)
  } catch {
    return null
  }
}

/** What one frame must be answered with. */
export interface Expectation {
  /** The frame, shortened, for reports. */
  shown: string
  /** The stream envelope the reply comes in; `null`: a bare reply. */
  stream: string | null
  /** The JSON text of the echoed action and request_id; `null` when it cannot be echoed. */
  action: string | null
  requestId: string | null
  /** The status it must have, when the protocol fixes it. */
  status: number | null
  /** Nested deeper than `MAX_DEPTH`: answered 400 with `action` and `request_id` null. */
  deep: boolean
  detached: boolean
  cancels: boolean
  /** The actions of the events it may cause, with its request_id. */
  subscribes: readonly string[]
}

/** A frame's text as a report shows it: cut after 120 characters, with its length. */
export const show = (text: string): string => text.length <= 160 ? text : `${text.slice(0, 120)}… (${text.length} chars)`

/** Reads what a frame must be answered with, from its text as the server will read it. */
export function expect (model: RouteModel, text: string | null, shown: string): Expectation {
  const base = { shown, stream: null, action: 'null', requestId: 'null', deep: false, detached: false, cancels: false, subscribes: [] }
  // Binary frames, text that is not JSON, JSON that is not an object: a 400, outside any stream.
  if (text === null) return { ...base, status: 400 }
  let frame: unknown
  try {
    frame = JSON.parse(text)
  } catch {
    return { ...base, status: 400 }
  }
  if (depthOf(text) > MAX_DEPTH) {
    const stream = model.streams !== undefined && isObject(frame) && typeof frame.stream === 'string' ? frame.stream : null
    return { ...base, stream, status: 400, deep: true }
  }
  if (!isObject(frame)) return { ...base, status: 400 }
  let stream: string | null = null
  if (model.streams !== undefined) {
    if (typeof frame.stream !== 'string' || !('payload' in frame)) return { ...base, status: 400 }
    stream = frame.stream
    const payload = frame.payload
    if (!model.streams.includes(stream)) {
      const p = isObject(payload) ? payload : {}
      return { ...base, stream, action: echo(p.action), requestId: echo(p.request_id), status: 404 }
    }
    if (!isObject(payload)) return { ...base, stream, status: 400 }
    frame = payload
  }
  const { action, request_id: requestId } = frame as Record<string, unknown>
  const name = typeof action === 'string' ? action : null
  return {
    shown,
    stream,
    action: echo(action),
    requestId: echo(requestId),
    status: null,
    deep: false,
    detached: name !== null && (model.detached?.includes(name) ?? false),
    cancels: name !== null && name === model.cancel,
    subscribes: (name !== null && Object.hasOwn(model.subscribe ?? {}, name)) ? model.subscribe![name]! : []
  }
}

/** A reply as received: its stream (multiplexed), its envelope, and the JSON text of two fields. */
interface Received {
  text: string
  stream: string | null
  reply: Record<string, any>
  action: string
  requestId: string
}

/** A WebSocket client that keeps every frame it receives and how it closed. */
export class FuzzSocket {
  readonly ws: WebSocket
  readonly received: Received[] = []
  /** Problems with single frames: not JSON, not an envelope, a 5xx. */
  readonly malformed: string[] = []
  closed: { code: number, reason: string } | null = null
  readonly #model: RouteModel
  #wake: (() => void) | null = null

  private constructor (ws: WebSocket, model: RouteModel) {
    this.ws = ws
    this.#model = model
    ws.on('message', (data, isBinary) => {
      this.#receive(isBinary ? null : data.toString())
      this.#wake?.()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      this.#wake?.()
    })
    // Errors (a reset) are seen as the close that follows them.
    ws.on('error', () => {})
  }

  static open (url: string, model: RouteModel): Promise<FuzzSocket> {
    const ws = new WebSocket(url, { maxPayload: 0 })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FuzzSocket(ws, model)))
      ws.once('error', reject)
    })
  }

  #receive (text: string | null): void {
    if (text === null) {
      this.malformed.push('a binary frame from the server')
      return
    }
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      this.malformed.push(`a reply that is not JSON: ${show(text)}`)
      return
    }
    let stream: string | null = null
    let reply = frame
    if (this.#model.streams !== undefined && isObject(frame) && 'stream' in frame) {
      if (Object.keys(frame).join() !== 'stream,payload' || typeof frame.stream !== 'string') {
        this.malformed.push(`a stream envelope other than {"stream", "payload"}: ${show(text)}`)
        return
      }
      stream = frame.stream
      reply = frame.payload
    }
    if (!isObject(reply) || Object.keys(reply).join() !== ENVELOPE.join() || !Array.isArray(reply.errors) ||
      !Number.isInteger(reply.response_status)) {
      this.malformed.push(`a reply without DCRF's envelope: ${show(text)}`)
      return
    }
    const status = reply.response_status as number
    if (status >= 500) this.malformed.push(`a ${status} reply: ${show(text)}`)
    this.received.push({ text, stream, reply, action: JSON.stringify(reply.action), requestId: JSON.stringify(reply.request_id) })
  }

  send (data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary })
  }

  /** Resolves once `done()` holds, or with false after `ms` milliseconds or when the socket closed. */
  async until (done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!done()) {
      if (this.closed !== null) return done()
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100))
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = null
    }
    return true
  }

  /** Whether a reply with this request_id (JSON text) has arrived, in this stream. */
  has (requestId: string, stream: string | null): boolean {
    return this.received.some((r) => r.requestId === requestId && r.stream === stream)
  }

  close (): void {
    this.ws.terminate()
  }
}

/**
 * Accounts the replies of a socket for the frames it was sent. Returns the problems: frames left
 * unanswered, replies nothing explains. `pending` is true when only streamed lists still owe their
 * last page (the caller may wait and account again); `events` counts the events and broadcasts.
 */
export function account (model: RouteModel, sent: readonly Expectation[], received: readonly Received[]): { problems: string[], pending: boolean, events: number } {
  const claimed = new Array<boolean>(received.length).fill(false)
  const problems: string[] = []
  const answered = new Array<boolean>(sent.length).fill(false)
  // Replies come in order within a queue: a plain socket's, a stream's, and, on a multiplexed socket,
  // the frames answered as they arrive (no stream, an unknown stream). Each lane is read from where
  // its last claimed reply was.
  const laneOf = (stream: string | null): string => model.streams === undefined ? '' : stream !== null && model.streams.includes(stream) ? stream : '\u0000'
  const cursors = new Map<string, number>()
  // The earliest reply that answers frame i in one of its lanes.
  const claim = (i: number, lanes: readonly string[], test: (r: Received) => boolean): boolean => {
    const j = received.findIndex((r, k) => !claimed[k] && lanes.includes(laneOf(r.stream)) &&
      k >= (cursors.get(laneOf(r.stream)) ?? 0) && test(r))
    if (j === -1) return false
    claimed[j] = true
    answered[i] = true
    cursors.set(laneOf(received[j]!.stream), j + 1)
    return true
  }
  const exact = (e: Expectation) => (r: Received): boolean => r.stream === e.stream && r.requestId === e.requestId &&
    r.action === e.action && (e.status === null || r.reply.response_status === e.status)
  // Frames nested too deep: a 400 with a null action and request_id, in their stream or outside any.
  const tooDeep = (e: Expectation) => (r: Received): boolean => r.reply.response_status === 400 && r.requestId === 'null' &&
    r.action === 'null' && (r.stream === null || r.stream === e.stream)
  // 1. Each frame's own reply, in its lane's order: the action and request_id it sent.
  sent.forEach((e, i) => {
    if (e.deep) claim(i, [laneOf(null), laneOf(e.stream)], tooDeep(e))
    else if (e.requestId === null || e.action === null) problems.push(`cannot echo what this process cannot write: ${e.shown}`)
    else if (!e.detached) claim(i, [laneOf(e.stream === null || e.status === 404 ? null : e.stream)], exact(e))
  })
  // 2. Detached actions: pages until the last one, or an error; fewer when a cancel followed them.
  let pending = false
  const groups = new Map<string, { owed: number, at: number[], max: number }>()
  sent.forEach((e, i) => {
    if (answered[i] || !e.detached || e.requestId === null) return
    const key = `${e.stream ?? ''}\u0000${e.requestId}\u0000${e.action ?? ''}`
    const group = groups.get(key) ?? { owed: 0, at: [], max: 0 }
    group.at.push(i)
    group.max++
    if (!sent.slice(i + 1).some((later) => later.cancels && later.stream === e.stream)) group.owed++
    groups.set(key, group)
  })
  for (const [key, group] of groups) {
    const [stream, requestId, action] = key.split('\u0000')
    let finished = 0
    received.forEach((r, k) => {
      if (claimed[k] || (r.stream ?? '') !== stream || r.requestId !== requestId || r.action !== action) return
      claimed[k] = true
      const { response_status: status, data } = r.reply
      const page = data as { offset: number, limit: number, count: number } | null
      if (status !== 200 || !isObject(page) || page.offset + page.limit >= page.count) finished++
    })
    if (finished > group.max) problems.push(`more last pages (${finished}) than streamed requests (${group.max}) with request_id ${show(requestId!)}`)
    if (finished < group.owed) {
      pending = true
      problems.push(`a detached request got no last page nor error: ${sent[group.at[0]!]!.shown}`)
    }
    for (const i of group.at) answered[i] = true
  }
  sent.forEach((e, i) => {
    if (!answered[i]) problems.push(`no reply to ${e.shown}${e.stream === null ? '' : ` (stream ${e.stream})`}`)
  })
  // 3. What is left must be events of subscriptions this socket made, or broadcasts.
  let events = 0
  received.forEach((r, k) => {
    if (claimed[k]) return
    const { response_status: status, errors } = r.reply
    const eventLike = (status === 200 || status === 204) && errors.length === 0
    const broadcast = eventLike && r.requestId === 'null' && (model.broadcast ?? []).includes(r.reply.action)
    const event = eventLike && sent.some((e) => e.stream === r.stream && e.requestId === r.requestId && e.subscribes.includes(r.reply.action))
    if (!broadcast && !event) problems.push(`a reply no frame asked for: ${show(r.text)}`)
    else events++
  })
  return { problems, pending: pending && problems.every((p) => p.startsWith('a detached request')), events }
}
