/**
 * The load generator: its own process, driven by the orchestrator over IPC, speaking the DCRF
 * protocol to the servers through real WebSocket clients (`ws`) on loopback — and to the FeathersJS
 * server through Feathers' own client over Socket.io (`feathers-client.ts`). Each request runs one
 * scenario against several targets (the baseline, fastify-dcrf, FeathersJS) at once, taking turns
 * in short windows — ABC CBA order — so that whatever else the machine does hits every target alike:
 *
 * - `actions`: closed-loop `retrieve` of random rows on C connections per target (one request in
 *   flight per connection): throughput, latency quantiles, errors, server CPU per action;
 * - `fanout`: N connections subscribed to one row, a writer patching it: the time from sending the
 *   patch until the first and the last subscriber have their event, events lost, server CPU per
 *   patch. The writer may be connected to another server process than the subscribers
 *   (cross-process, via Redis);
 * - `idle`: server memory per open connection, as connections are added.
 *
 * Server CPU is read from /proc/<pid>/task/<tid>/schedstat (nanoseconds, every thread of the
 * server), so measuring costs the server nothing; elsewhere than Linux, from its stats endpoint.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { quantile, ROWS, sleep, sorted, STATS_PATH, type ServerStats } from './common.js'
import { closeFeathers, openFeathers, type FeathersClient, type FeathersUser } from './feathers-client.js'

/** How a target is spoken to: the DCRF protocol over `ws` (`url` is ws://…/ws/users/), or Feathers' client (`url` is http://host:port). */
export type Protocol = 'dcrf' | 'feathers'

/** A server to measure: where its clients connect, and the processes whose CPU it uses. */
export interface Target {
  url: string
  pids: number[]
  /** Default: 'dcrf'. */
  protocol?: Protocol
}

/** Servers to profile (CPU) while a scenario measures — after its setup — and where to write each profile. */
export type Profiles = Array<{ url: string, file: string }>

export interface ActionsScenario {
  kind: 'actions'
  profiles?: Profiles
  targets: Target[]
  connections: number
  /** Unmeasured load on each target first (JIT, pools, caches). */
  warmupMs: number
  windowMs: number
  /** Measured windows per target. With one target they run back to back, without a pause. */
  windows: number
}

export interface FanoutTarget extends Target {
  /** Where the writer connects: `url` itself, or another server process sharing Redis. */
  writeUrl: string
}

export interface FanoutScenario {
  kind: 'fanout'
  profiles?: Profiles
  targets: FanoutTarget[]
  subscribers: number
  /** Patches per target, the first WARMUP_PATCHES of them unmeasured. */
  patches: number
  /** The row everybody watches. */
  pk: number
  /** Pause after a patch has reached everybody, before the next one. */
  gapMs: number
}

export interface IdleScenario {
  kind: 'idle'
  url: string
  protocol?: Protocol
  /** Connection counts to measure at, ascending. */
  counts: number[]
}

export type Scenario = ActionsScenario | FanoutScenario | IdleScenario

export interface ActionsRound {
  /** Replies per second in the measured windows. */
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
  /** The load generator's own CPU time per action, microseconds (is it the bottleneck?). */
  loadCpuPerAction: number
}

/** Per target: every window, and all of them together. */
export interface ActionsResult { windows: ActionsRound[], total: ActionsRound }

export interface FanoutResult {
  /** Time from sending a patch until its last subscriber event, milliseconds. */
  p50: number
  p99: number
  max: number
  /** Time from sending a patch until its first subscriber event, milliseconds. */
  firstP50: number
  firstP99: number
  /** Events that did not arrive (subscribers × patches − received). */
  lost: number
  /** Server CPU per patch (every process of the target), milliseconds: the median over the patches. */
  cpuPerEvent: number
  /** Time to open and subscribe every connection, milliseconds. */
  setupMs: number
}

export interface IdleResult {
  points: Array<{
    connections: number
    /**
     * Growth of the server's JavaScript memory per connection, bytes, after a full collection: the
     * V8 heap in use plus the memory of buffers outside it (`heapUsed + external`). Exact, unlike RSS.
     */
    heapPerConnection: number
    /**
     * Growth of the server's RSS per connection, bytes: what the system sees, including the native
     * side of sockets, but noisy — V8 and malloc keep and return spare pages megabytes at a time,
     * so at 1,000 connections the figure is mostly noise.
     */
    rssPerConnection: number
  }>
}

export type ScenarioResult = ActionsResult[] | FanoutResult[] | IdleResult

/** Orchestrator → load generator. */
export interface LoadRequest { id: number, scenario: Scenario }
/** Load generator → orchestrator. */
export type LoadReply = { id: number, result: ScenarioResult } | { id: number, error: string }

const OPEN_TIMEOUT = 30_000
const REPLY_TIMEOUT = 30_000
/** Patches of a fan-out that only warm up. */
const WARMUP_PATCHES = 2
/** Handshakes in flight at once while opening many connections. */
const OPEN_CONCURRENCY = 128

// ---- measuring servers -----------------------------------------------------------------------------

function statsUrlOf (wsUrl: string): string {
  return `http://${new URL(wsUrl).host}${STATS_PATH}`
}

async function stats (wsUrl: string, query = ''): Promise<ServerStats> {
  const response = await fetch(statsUrlOf(wsUrl) + query)
  if (!response.ok) throw new Error(`stats: HTTP ${response.status}`)
  return await response.json() as ServerStats
}

async function profiling (profiles: Profiles | undefined, run: () => Promise<void>): Promise<void> {
  await Promise.all((profiles ?? []).map(({ url }) => stats(url, '?profile=start')))
  await run()
  for (const { url, file } of profiles ?? []) await stats(url, `?profile=${encodeURIComponent(file)}`)
}

const hasSchedstat = existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`)

/** CPU time of a target's processes so far, nanoseconds. */
async function cpuOf (target: Target, urls: string[]): Promise<number> {
  if (!hasSchedstat) {
    const all = await Promise.all(urls.map((url) => stats(url)))
    return all.reduce((sum, s) => sum + (s.cpu.user + s.cpu.system) * 1000, 0)
  }
  let ns = 0
  for (const pid of target.pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return ns
}

/** How many sockets this process may hold, with room for everything else. */
function socketBudget (): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    return Number(line?.split(/\s+/)[3]) - 500
  } catch {
    return 10_000
  }
}

// ---- clients ---------------------------------------------------------------------------------------

/** Opens one client; rejects on a refused handshake, an error, or after OPEN_TIMEOUT. */
function open (url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no handshake within ${OPEN_TIMEOUT} ms`)) }, OPEN_TIMEOUT)
    ws.once('open', () => { clearTimeout(timer); resolve(ws) })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** Opens one Feathers client; rejects on a refused handshake, an error, or after OPEN_TIMEOUT. */
const openClient = (url: string): Promise<FeathersClient> => openFeathers(url, OPEN_TIMEOUT)

/** Opens `count` more clients into `into`, OPEN_CONCURRENCY handshakes at a time, running `ready` on each. */
async function openEach<T> (connect: () => Promise<T>, count: number, ready?: (client: T, index: number) => Promise<void>, into: T[] = []): Promise<T[]> {
  let next = into.length
  const end = next + count
  const worker = async (): Promise<void> => {
    while (next < end) {
      const index = next++
      const client = await connect()
      into[index] = client
      await ready?.(client, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker))
  return into
}

/** `openEach` for `ws` clients of `url`. */
const openMany = (url: string, count: number, ready?: (ws: WebSocket, index: number) => Promise<void>, into: WebSocket[] = []): Promise<WebSocket[]> =>
  openEach(() => open(url), count, ready, into)

/** Closes clients and waits (bounded) for their sockets to be gone. */
async function closeAll (sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    const timer = setTimeout(() => { ws.terminate(); resolve() }, 2000)
    ws.once('close', () => { clearTimeout(timer); resolve() })
    ws.close()
  })))
}

/** The targets in turn: forwards on even turns, backwards on odd ones (ABBA…, ABC CBA…). */
const inTurn = <T>(targets: T[], turn: number): T[] => turn % 2 === 0 ? targets : [...targets].reverse()

// ---- action round trips ---------------------------------------------------------------------------

/**
 * C connections to one target, each sending its next `retrieve` as soon as the last is answered:
 * a DCRF `retrieve` frame, or Feathers' `users.get(id)`.
 */
class ClosedLoop {
  readonly target: Target
  #sockets: WebSocket[] = []
  #clients: FeathersClient[] = []
  #kicks: Array<() => void> = []
  #running = false
  #inFlight = 0
  #idle: (() => void) | null = null
  measuring = false
  latencies: number[] = []
  errors = 0
  /** Replies received since the last `start`, measured or not. */
  replies = 0

  constructor (target: Target) {
    this.target = target
  }

  async open (connections: number): Promise<void> {
    if (this.target.protocol === 'feathers') return this.#openFeathers(connections)
    await openMany(this.target.url, connections, undefined, this.#sockets)
    for (const ws of this.#sockets) {
      let requestId = 0
      let sentAt = 0
      const send = (): void => {
        requestId++
        sentAt = performance.now()
        this.#inFlight++
        ws.send(`{"action":"retrieve","pk":${1 + Math.floor(Math.random() * ROWS)},"request_id":${requestId}}`)
      }
      ws.on('message', (data) => {
        const at = performance.now()
        const reply = JSON.parse(data.toString())
        this.#answered(at - sentAt, reply.response_status === 200 && reply.request_id === requestId, send)
      })
      this.#kicks.push(send)
    }
  }

  async #openFeathers (connections: number): Promise<void> {
    await openEach(() => openClient(this.target.url), connections, undefined, this.#clients)
    for (const { users } of this.#clients) {
      let sentAt = 0
      const send = (): void => {
        const pk = 1 + Math.floor(Math.random() * ROWS)
        sentAt = performance.now()
        this.#inFlight++
        users.get(pk).then(
          (user) => this.#answered(performance.now() - sentAt, user.id === pk && user.password === undefined, send),
          () => this.#answered(performance.now() - sentAt, false, send)
        )
      }
      this.#kicks.push(send)
    }
  }

  #answered (latency: number, ok: boolean, send: () => void): void {
    this.#inFlight--
    this.replies++
    if (this.measuring) {
      this.latencies.push(latency)
      if (!ok) this.errors++
    }
    if (this.#running) send()
    else if (this.#inFlight === 0) this.#idle?.()
  }

  start (): void {
    this.#running = true
    this.replies = 0
    for (const kick of this.#kicks) kick()
  }

  /** Stops sending; resolves once every request in flight is answered (or counted as an error). */
  async stop (): Promise<void> {
    this.#running = false
    if (this.#inFlight === 0) return
    const idle = new Promise<void>((resolve) => { this.#idle = resolve })
    const answered = await Promise.race([idle.then(() => true), sleep(REPLY_TIMEOUT).then(() => false)])
    this.#idle = null
    if (!answered) throw new Error(`${this.#inFlight} requests unanswered after ${REPLY_TIMEOUT} ms`)
  }

  async close (): Promise<void> {
    await Promise.all([closeAll(this.#sockets), closeFeathers(this.#clients)])
  }
}

function summarize (latencies: number[], errors: number, elapsedMs: number, cpuNs: number, replies: number, loadCpuNs: number): ActionsRound {
  const ordered = sorted(latencies)
  return {
    throughput: latencies.length / (elapsedMs / 1000),
    p50: quantile(ordered, 0.5),
    p90: quantile(ordered, 0.9),
    p99: quantile(ordered, 0.99),
    errors,
    count: latencies.length,
    cpuPerAction: replies === 0 ? NaN : cpuNs / 1000 / replies,
    loadCpuPerAction: replies === 0 ? NaN : loadCpuNs / 1000 / replies
  }
}

async function actions (scenario: ActionsScenario): Promise<ActionsResult[]> {
  const loops = scenario.targets.map((target) => new ClosedLoop(target))
  for (const loop of loops) await loop.open(scenario.connections)
  for (const loop of loops) {
    loop.start()
    await sleep(scenario.warmupMs)
    await loop.stop()
  }
  const single = loops.length === 1
  const windows = loops.map(() => [] as Array<{ round: ActionsRound, latencies: number[], elapsed: number, cpu: number, replies: number, loadCpu: number }>)
  await profiling(scenario.profiles, async () => {
    for (let w = 0; w < scenario.windows; w++) {
      for (const loop of inTurn(loops, w)) {
        const i = loops.indexOf(loop)
        loop.latencies = []
        loop.errors = 0
        const cpu = await cpuOf(loop.target, [loop.target.url])
        const loadCpu = process.cpuUsage()
        if (!single || w === 0) loop.start()
        const replies = loop.replies
        loop.measuring = true
        const start = performance.now()
        await sleep(scenario.windowMs)
        loop.measuring = false
        const elapsed = performance.now() - start
        // CPU over the window and the replies of everything sent in it (the tail drains unmeasured
        // for latency, but its CPU is counted against its actions).
        if (!single || w === scenario.windows - 1) await loop.stop()
        const { user, system } = process.cpuUsage(loadCpu)
        const loadCpuNs = (user + system) * 1000
        const cpuNs = await cpuOf(loop.target, [loop.target.url]) - cpu
        const served = loop.replies - replies
        windows[i].push({ round: summarize(loop.latencies, loop.errors, elapsed, cpuNs, served, loadCpuNs), latencies: loop.latencies, elapsed, cpu: cpuNs, replies: served, loadCpu: loadCpuNs })
      }
    }
  })
  await Promise.all(loops.map((loop) => loop.close()))
  return windows.map((list) => ({
    windows: list.map((w) => w.round),
    total: summarize(list.flatMap((w) => w.latencies), list.reduce((n, w) => n + w.round.errors, 0),
      list.reduce((t, w) => t + w.elapsed, 0), list.reduce((c, w) => c + w.cpu, 0), list.reduce((r, w) => r + w.replies, 0), list.reduce((c, w) => c + w.loadCpu, 0))
  }))
}

// ---- fan-out -----------------------------------------------------------------------------------------

/**
 * N subscribers of one row on one target, and the writer patching it: DCRF's `subscribe_instance`
 * and `patch`, or Feathers' `users.subscribe({ id })` (joining the row's channel) and `users.patch`.
 */
class FanoutGroup {
  readonly target: FanoutTarget
  readonly n: number
  readonly times: number[] = []
  readonly firsts: number[] = []
  readonly cpu: number[] = []
  setupMs = 0
  #pk: number
  // A tag of this run in the patched values: no event of another target or run is counted.
  #tag = Math.random().toString(36).slice(2, 8)
  #pattern = new RegExp(`^f(\\d+)\\.${this.#tag}@`)
  #received: Uint32Array
  #current = 0
  #got = 0
  #firstAt = 0
  #lastAt = 0
  #everyone: (() => void) | null = null
  #writerReply: ((frame: { response_status: number }) => void) | null = null
  #sockets: WebSocket[] = []
  #writer: WebSocket | null = null
  #clients: FeathersClient[] = []
  #feathersWriter: FeathersClient | null = null
  strays = 0

  constructor (target: FanoutTarget, n: number, patches: number, pk: number) {
    this.target = target
    this.n = n
    this.#pk = pk
    this.#received = new Uint32Array(patches + 1)
  }

  /** The patch an event carries (the number in its email), 0 when it is not one of ours. */
  #seqOf (email: unknown): number {
    return typeof email === 'string' ? Number(this.#pattern.exec(email)?.[1] ?? 0) : 0
  }

  #event (seq: number): void {
    if (seq === 0) {
      this.strays++
      return
    }
    this.#received[seq]++
    if (seq !== this.#current) return
    if (++this.#got === 1) this.#firstAt = performance.now()
    if (this.#got === this.n) {
      this.#lastAt = this.n === 1 ? this.#firstAt : performance.now()
      this.#everyone?.()
    }
  }

  async open (): Promise<void> {
    if (this.target.protocol === 'feathers') return this.#openFeathers()
    const start = performance.now()
    await openMany(this.target.url, this.n, (ws, index) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`subscriber ${index}: no reply to subscribe_instance`)), REPLY_TIMEOUT)
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString())
        if (frame.action === 'subscribe_instance') {
          clearTimeout(timer)
          if (frame.response_status === 201) resolve()
          else reject(new Error(`subscribe_instance answered ${frame.response_status}: ${JSON.stringify(frame.errors)}`))
          return
        }
        this.#event(frame.action === 'update' && frame.request_id === index ? this.#seqOf(frame.data?.email) : 0)
      })
      ws.send(`{"action":"subscribe_instance","pk":${this.#pk},"request_id":${index}}`)
    }), this.#sockets)
    this.setupMs = performance.now() - start
    this.#writer = await open(this.target.writeUrl)
    this.#writer.on('message', (data) => this.#writerReply?.(JSON.parse(data.toString())))
  }

  async #openFeathers (): Promise<void> {
    const start = performance.now()
    await openEach(() => openClient(this.target.url), this.n, async ({ users }, index) => {
      users.on('patched', (user: FeathersUser) => {
        this.#event(user.id === this.#pk && user.password === undefined ? this.#seqOf(user.email) : 0)
      })
      // (Socket.io calls have no timeout of their own.)
      const answered = await Promise.race([users.subscribe({ id: this.#pk }).then(() => true), sleep(REPLY_TIMEOUT).then(() => false)])
      if (!answered) throw new Error(`subscriber ${index}: no reply to users.subscribe`)
    }, this.#clients)
    this.setupMs = performance.now() - start
    this.#feathersWriter = await openClient(this.target.writeUrl)
  }

  #send (seq: number): void {
    const email = `f${seq}.${this.#tag}@example.com`
    if (this.#feathersWriter === null) {
      this.#writer!.send(`{"action":"patch","pk":${this.#pk},"data":{"email":"${email}"},"request_id":${seq}}`)
      return
    }
    this.#feathersWriter.users.patch(this.#pk, { email }).then(
      (user) => this.#writerReply?.({ response_status: user.id === this.#pk && user.email === email ? 200 : 500 }),
      (err: { code?: number }) => this.#writerReply?.({ response_status: err.code ?? 500 })
    )
  }

  /** One patch: the time until its last event, and the CPU the servers spent on it. */
  async patch (seq: number, gapMs: number, measured = true): Promise<void> {
    this.#current = seq
    this.#got = 0
    const delivered = new Promise<boolean>((resolve) => { this.#everyone = () => resolve(true) })
    const replied = new Promise<{ response_status: number }>((resolve) => { this.#writerReply = resolve })
    const urls = [this.target.url, this.target.writeUrl]
    const cpu = await cpuOf(this.target, urls)
    const start = performance.now()
    this.#send(seq)
    // Long enough for a slow server to finish, short enough to bound the run.
    const complete = await Promise.race([delivered, sleep(5000 + this.n).then(() => false)])
    if (complete && measured) {
      this.times.push(this.#lastAt - start)
      this.firsts.push(this.#firstAt - start)
    }
    const reply = await Promise.race([replied, sleep(REPLY_TIMEOUT).then(() => ({ response_status: 0 }))])
    if (reply.response_status !== 200) throw new Error(`patch answered ${reply.response_status}`)
    await sleep(gapMs)
    if (measured) this.cpu.push(await cpuOf(this.target, urls) - cpu)
  }

  async close (): Promise<FanoutResult> {
    // Events still on their way are not lost yet.
    const expected = this.n * (this.#received.length - 1)
    const total = (): number => this.#received.reduce((a, b) => a + b, 0)
    for (let i = 0; i < 20 && total() < expected; i++) await sleep(50)
    const lost = expected - total()
    await Promise.all([
      closeAll([...this.#sockets, ...(this.#writer === null ? [] : [this.#writer])]),
      closeFeathers([...this.#clients, ...(this.#feathersWriter === null ? [] : [this.#feathersWriter])])
    ])
    if (this.strays > 0) process.stderr.write(`load: ${this.strays} unexpected frames in fan-out\n`)
    const ordered = sorted(this.times)
    const firsts = sorted(this.firsts)
    return {
      p50: quantile(ordered, 0.5),
      p99: quantile(ordered, 0.99),
      max: ordered.length === 0 ? NaN : ordered[ordered.length - 1],
      firstP50: quantile(firsts, 0.5),
      firstP99: quantile(firsts, 0.99),
      lost,
      cpuPerEvent: quantile(sorted(this.cpu), 0.5) / 1e6,
      setupMs: this.setupMs
    }
  }
}

async function fanout (scenario: FanoutScenario): Promise<FanoutResult[]> {
  const { subscribers, patches, pk, gapMs } = scenario
  const groups = scenario.targets.map((target) => new FanoutGroup(target, subscribers, patches, pk))
  // Every target's subscribers at once when this process may hold them all, else one target after another.
  const together = (subscribers + 1) * groups.length <= socketBudget()
  const batches = together ? [groups] : groups.map((group) => [group])
  const results = new Map<FanoutGroup, FanoutResult>()
  for (const batch of batches) {
    for (const group of batch) await group.open()
    const servers = new Set(batch.flatMap((group) => [group.target.url, group.target.writeUrl]))
    await profiling(scenario.profiles?.filter((p) => servers.has(p.url)), async () => {
      for (let seq = 1; seq <= patches; seq++) {
        // The first patches warm up (JIT, caches) and are not measured.
        for (const group of inTurn(batch, seq)) await group.patch(seq, gapMs, seq > WARMUP_PATCHES)
      }
    })
    for (const group of batch) results.set(group, await group.close())
  }
  return groups.map((group) => results.get(group)!)
}

// ---- idle connections -------------------------------------------------------------------------------

const js = ({ memory }: ServerStats): number => memory.heapUsed + memory.external

async function idle (scenario: IdleScenario): Promise<IdleResult> {
  // Collected until the heap no longer shrinks: what a fresh server still had to free is not
  // counted against the connections.
  const settle = async (): Promise<ServerStats> => {
    let last = await stats(scenario.url, '?gc=1')
    for (let i = 0; i < 10; i++) {
      await sleep(200)
      const now = await stats(scenario.url, '?gc=1')
      if (Math.abs(js(now) - js(last)) < 64 * 1024) return now
      last = now
    }
    return last
  }
  const base = await settle()
  const sockets: WebSocket[] = []
  const clients: FeathersClient[] = []
  const points: IdleResult['points'] = []
  for (const count of scenario.counts) {
    if (scenario.protocol === 'feathers') await openEach(() => openClient(scenario.url), count - clients.length, undefined, clients)
    else await openMany(scenario.url, count - sockets.length, undefined, sockets)
    const now = await settle()
    points.push({
      connections: count,
      heapPerConnection: (js(now) - js(base)) / count,
      rssPerConnection: (now.memory.rss - base.memory.rss) / count
    })
  }
  await Promise.all([closeAll(sockets), closeFeathers(clients)])
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
