/**
 * The load generator: its own process, driven by the orchestrator over IPC, speaking the DCRF
 * protocol to a server through real WebSocket clients (`ws`) on loopback. Each request runs one
 * scenario against one server and answers with its measurements:
 *
 * - `actions`: closed-loop `retrieve` of random rows on C connections (one request in flight per
 *   connection): throughput, latency quantiles, errors, server CPU per action; optionally in
 *   several back-to-back rounds on the same connections (the pool experiment);
 * - `fanout`: N connections subscribed to one row, a writer patching it repeatedly: time from
 *   sending the patch until the last subscriber has its event, events lost, server CPU per event;
 *   the writer may be on another server (cross-process, through Redis);
 * - `idle`: server memory per open connection, as connections are added.
 */
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { quantile, ROWS, sleep, sorted, STATS_PATH, type ServerStats } from './common.js'

export interface ActionsScenario {
  kind: 'actions'
  /** ws:// URL of the route. */
  url: string
  connections: number
  warmupMs: number
  durationMs: number
  /** Measured windows, back to back on the same connections. Default 1. */
  rounds?: number
}

export interface FanoutScenario {
  kind: 'fanout'
  /** Where the subscribers connect. */
  subscribeUrl: string
  /** Where the writer connects: the same server, or another one sharing Redis. */
  writeUrl: string
  subscribers: number
  patches: number
  /** The row everybody watches. */
  pk: number
  /** Pause between two patches, once the previous one has reached everybody. */
  gapMs: number
}

export interface IdleScenario {
  kind: 'idle'
  url: string
  /** Connection counts to measure at, ascending. */
  counts: number[]
}

export type Scenario = ActionsScenario | FanoutScenario | IdleScenario

export interface ActionsRound {
  /** Replies per second in the window. */
  throughput: number
  /** Latency quantiles, milliseconds. */
  p50: number
  p90: number
  p99: number
  /** Replies that were not a 200 for the request sent, plus requests never answered. */
  errors: number
  count: number
  /** Server CPU time per action, microseconds. */
  cpuPerAction: number
}

export interface ActionsResult { rounds: ActionsRound[] }

export interface FanoutResult {
  /** Time from sending a patch until its last subscriber event, milliseconds, per patch. */
  p50: number
  p99: number
  max: number
  /** Events that did not arrive (subscribers × patches − received). */
  lost: number
  /** Server CPU per patch (all servers involved), milliseconds. */
  cpuPerEvent: number
  /** Setup: time to open and subscribe every connection, milliseconds. */
  setupMs: number
}

export interface IdleResult {
  points: Array<{
    connections: number
    /** Growth of the server's RSS per connection, bytes. */
    rssPerConnection: number
    /** Growth of the V8 heap (used) and of off-heap memory per connection, bytes. */
    heapPerConnection: number
    externalPerConnection: number
  }>
}

export type ScenarioResult = ActionsResult | FanoutResult | IdleResult

/** Orchestrator → load generator. */
export interface LoadRequest { id: number, scenario: Scenario }
/** Load generator → orchestrator. */
export type LoadReply = { id: number, result: ScenarioResult } | { id: number, error: string }

const OPEN_TIMEOUT = 30_000
const REPLY_TIMEOUT = 30_000
/** Handshakes in flight at once while opening many connections. */
const OPEN_CONCURRENCY = 128

function statsUrlOf (wsUrl: string): string {
  const url = new URL(wsUrl)
  return `http://${url.host}${STATS_PATH}`
}

async function stats (wsUrl: string, query = ''): Promise<ServerStats> {
  const response = await fetch(statsUrlOf(wsUrl) + query)
  if (!response.ok) throw new Error(`stats: HTTP ${response.status}`)
  return await response.json() as ServerStats
}

const cpuOf = (s: ServerStats): number => s.cpu.user + s.cpu.system

/** Opens one client; rejects on a refused handshake, an error, or after OPEN_TIMEOUT. */
function open (url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no handshake within ${OPEN_TIMEOUT} ms`)) }, OPEN_TIMEOUT)
    ws.once('open', () => { clearTimeout(timer); resolve(ws) })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** Opens `count` clients, OPEN_CONCURRENCY handshakes at a time, running `ready` on each as it opens. */
async function openMany (url: string, count: number, ready?: (ws: WebSocket, index: number) => Promise<void>, into: WebSocket[] = []): Promise<WebSocket[]> {
  const start = into.length
  let next = start
  const end = start + count
  const worker = async (): Promise<void> => {
    while (next < end) {
      const index = next++
      const ws = await open(url)
      into[index] = ws
      await ready?.(ws, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker))
  return into
}

/** Closes clients and waits (bounded) for their sockets to be gone. */
async function closeAll (sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    const timer = setTimeout(() => { ws.terminate(); resolve() }, 2000)
    ws.once('close', () => { clearTimeout(timer); resolve() })
    ws.close()
  })))
}

// ---- action round trips ---------------------------------------------------------------------------

async function actions (scenario: ActionsScenario): Promise<ActionsResult> {
  const sockets = await openMany(scenario.url, scenario.connections)
  let measuring = false
  let stopping = false
  let latencies: number[] = []
  let errors = 0
  let inFlight = 0
  let allStopped: (() => void) | null = null

  for (const ws of sockets) {
    let requestId = 0
    let sentAt = 0
    const sendNext = (): void => {
      if (stopping) {
        if (--inFlight === 0) allStopped?.()
        return
      }
      requestId++
      sentAt = performance.now()
      ws.send(`{"action":"retrieve","pk":${1 + Math.floor(Math.random() * ROWS)},"request_id":${requestId}}`)
    }
    ws.on('message', (data) => {
      const at = performance.now()
      const reply = JSON.parse(data.toString())
      if (measuring) {
        latencies.push(at - sentAt)
        if (reply.response_status !== 200 || reply.request_id !== requestId) errors++
      }
      sendNext()
    })
    inFlight++
    sendNext()
  }

  await sleep(scenario.warmupMs)
  const rounds: ActionsRound[] = []
  for (let round = 0; round < (scenario.rounds ?? 1); round++) {
    const before = await stats(scenario.url)
    latencies = []
    errors = 0
    measuring = true
    const start = performance.now()
    await sleep(scenario.durationMs)
    measuring = false
    const elapsed = performance.now() - start
    const after = await stats(scenario.url)
    const count = latencies.length
    const ordered = sorted(latencies)
    rounds.push({
      throughput: count / (elapsed / 1000),
      p50: quantile(ordered, 0.5),
      p90: quantile(ordered, 0.9),
      p99: quantile(ordered, 0.99),
      errors,
      count,
      cpuPerAction: count === 0 ? NaN : (cpuOf(after) - cpuOf(before)) / count
    })
  }

  // Let every connection finish its request in flight; one never answered counts as an error.
  stopping = true
  const stopped = new Promise<void>((resolve) => { allStopped = resolve })
  const unanswered = await Promise.race([stopped.then(() => 0), sleep(REPLY_TIMEOUT).then(() => inFlight)])
  if (unanswered > 0) rounds[rounds.length - 1].errors += unanswered
  await closeAll(sockets)
  return { rounds }
}

// ---- fan-out -----------------------------------------------------------------------------------------

async function fanout (scenario: FanoutScenario): Promise<FanoutResult> {
  const { subscribers: n, patches, pk } = scenario
  // A tag of this run in the patched values, so that no event of an earlier run is counted.
  const tag = Math.random().toString(36).slice(2, 8)
  const pattern = new RegExp(`^f(\\d+)\\.${tag}@`)
  const received = new Uint32Array(patches + 1)
  let current = 0
  let got = 0
  let lastAt = 0
  let everyone: (() => void) | null = null
  let strays = 0

  const setupStart = performance.now()
  const sockets = await openMany(scenario.subscribeUrl, n, (ws, index) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscriber ${index}: no reply to subscribe_instance`)), REPLY_TIMEOUT)
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.action === 'subscribe_instance') {
        clearTimeout(timer)
        if (frame.response_status === 201) resolve()
        else reject(new Error(`subscribe_instance answered ${frame.response_status}: ${JSON.stringify(frame.errors)}`))
        return
      }
      const seq = frame.action === 'update' && frame.request_id === index ? Number(pattern.exec(frame.data?.email)?.[1] ?? 0) : 0
      if (seq === 0) {
        strays++
        return
      }
      received[seq]++
      if (seq === current && ++got === n) {
        lastAt = performance.now()
        everyone?.()
      }
    })
    ws.send(`{"action":"subscribe_instance","pk":${pk},"request_id":${index}}`)
  }))
  const setupMs = performance.now() - setupStart

  const writer = await open(scenario.writeUrl)
  let writerReply: ((frame: { response_status: number }) => void) | null = null
  writer.on('message', (data) => writerReply?.(JSON.parse(data.toString())))
  const servers = scenario.writeUrl === scenario.subscribeUrl ? [scenario.subscribeUrl] : [scenario.subscribeUrl, scenario.writeUrl]
  const before = await Promise.all(servers.map((url) => stats(url)))

  const times: number[] = []
  // Long enough for a slow server to finish, short enough to bound the run.
  const limit = 5000 + n
  for (let seq = 1; seq <= patches; seq++) {
    current = seq
    got = 0
    const delivered = new Promise<boolean>((resolve) => { everyone = () => resolve(true) })
    const replied = new Promise<{ response_status: number }>((resolve) => { writerReply = resolve })
    const start = performance.now()
    writer.send(`{"action":"patch","pk":${pk},"data":{"email":"f${seq}.${tag}@example.com"},"request_id":${seq}}`)
    const complete = await Promise.race([delivered, sleep(limit).then(() => false)])
    if (complete) times.push(lastAt - start)
    const reply = await Promise.race([replied, sleep(REPLY_TIMEOUT).then(() => ({ response_status: 0 }))])
    if (reply.response_status !== 200) throw new Error(`patch answered ${reply.response_status}`)
    await sleep(scenario.gapMs)
  }
  const after = await Promise.all(servers.map((url) => stats(url)))
  // Events still on their way are not lost yet.
  let total = received.reduce((a, b) => a + b, 0)
  for (let i = 0; i < 20 && total < n * patches; i++) {
    await sleep(50)
    total = received.reduce((a, b) => a + b, 0)
  }
  await closeAll([...sockets, writer])
  if (strays > 0) process.stderr.write(`load: ${strays} unexpected frames in fan-out\n`)
  const cpu = after.reduce((sum, s, i) => sum + cpuOf(s) - cpuOf(before[i]), 0)
  const ordered = sorted(times)
  return {
    p50: quantile(ordered, 0.5),
    p99: quantile(ordered, 0.99),
    max: ordered.length === 0 ? NaN : ordered[ordered.length - 1],
    lost: n * patches - total,
    cpuPerEvent: cpu / patches / 1000,
    setupMs
  }
}

// ---- idle connections -------------------------------------------------------------------------------

async function idle (scenario: IdleScenario): Promise<IdleResult> {
  const settle = async (): Promise<ServerStats> => {
    await sleep(300)
    return stats(scenario.url, '?gc=1')
  }
  const base = await settle()
  const sockets: WebSocket[] = []
  const points: IdleResult['points'] = []
  for (const count of scenario.counts) {
    await openMany(scenario.url, count - sockets.length, undefined, sockets)
    const now = await settle()
    points.push({
      connections: count,
      rssPerConnection: (now.memory.rss - base.memory.rss) / count,
      heapPerConnection: (now.memory.heapUsed - base.memory.heapUsed) / count,
      externalPerConnection: (now.memory.external - base.memory.external) / count
    })
  }
  await closeAll(sockets)
  return { points }
}

// ---- the IPC loop --------------------------------------------------------------------------------------

function run (scenario: Scenario): Promise<ScenarioResult> {
  switch (scenario.kind) {
    case 'actions': return actions(scenario)
    case 'fanout': return fanout(scenario)
    case 'idle': return idle(scenario)
  }
}

process.on('message', (request: LoadRequest) => {
  run(request.scenario).then(
    (result) => process.send?.({ id: request.id, result } satisfies LoadReply),
    (err: Error) => process.send?.({ id: request.id, error: err.stack ?? String(err) } satisfies LoadReply)
  )
})
// Stops with the orchestrator, whatever is still open.
process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready' })
