/**
 * What the diagnostics channels cost: the same workload with nobody subscribed and with the
 * metrics adapter subscribed to every channel, in alternating turns (ABAB…), plus the price of one
 * guarded publish site on its own.
 *
 *   npx tsx --conditions=source bench/diagnostics.ts [--rounds=6] [--seconds=1] [--subscribers=1000]
 *
 * One process (server and clients share it, alike in both modes): actions are `echo` on 32
 * connections, closed loop; fan-out is a signal observer event to `--subscribers` connections,
 * timed until the last has it.
 */
import dc from 'node:diagnostics_channel'
import Fastify from 'fastify'
import WebSocket from 'ws'
import { Registry } from 'prom-client'
import dcrf, { action, channelNames, defineConsumer, observer } from 'fastify-dcrf'
import { dcrfMetrics, type DcrfMetrics } from 'fastify-dcrf/metrics'

const arg = (name: string, fallback: number): number => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.split('=')[1])
}
const ROUNDS = arg('rounds', 6)
const SECONDS = arg('seconds', 1)
const SUBSCRIBERS = arg('subscribers', 1000)
const CONNECTIONS = 32
const EVENTS = 20

const app = Fastify()
await app.register(dcrf, { heartbeatInterval: 0 })
app.dcrf.consumer('/ws/', defineConsumer({
  observers: { news: observer('news') },
  actions: {
    echo: (_ctx, args) => ({ data: args }),
    watch: action({ async handler (ctx, _args, { requestId }) { await ctx.observer('news').subscribe({ requestId }); return { status: 201 } } })
  }
}))
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws/`

function open (): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

const cpu = (): number => { const u = process.cpuUsage(); return u.user + u.system }

/** Closed-loop echo on every connection for SECONDS: actions/s and process CPU µs per action. */
async function actions (sockets: WebSocket[]): Promise<{ rate: number, cpuPerAction: number }> {
  let count = 0
  let running = true
  const cpu0 = cpu()
  const t0 = performance.now()
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    const onMessage = (): void => {
      count++
      if (running) ws.send('{"action":"echo","request_id":1}')
      else { ws.off('message', onMessage); resolve() }
    }
    ws.on('message', onMessage)
    ws.send('{"action":"echo","request_id":1}')
  })).concat([new Promise<void>((resolve) => setTimeout(() => { running = false; resolve() }, SECONDS * 1000))]))
  const seconds = (performance.now() - t0) / 1000
  return { rate: count / seconds, cpuPerAction: (cpu() - cpu0) / count }
}

/** EVENTS signals, each awaited until every subscriber has it: ms per event (median) and CPU ms per event. */
async function fanout (subscribers: WebSocket[]): Promise<{ ms: number, cpuPerEvent: number }> {
  const times: number[] = []
  const cpu0 = cpu()
  for (let i = 0; i < EVENTS; i++) {
    let left = subscribers.length
    const all = new Promise<void>((resolve) => {
      for (const ws of subscribers) ws.once('message', () => { if (--left === 0) resolve() })
    })
    const t0 = performance.now()
    await app.dcrf.signal('news', { i })
    await all
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)]!, cpuPerEvent: (cpu() - cpu0) / 1000 / EVENTS }
}

/** The price of one guarded publish site with nobody subscribed, ns. */
function guardedSite (): number {
  const channel = dc.channel(channelNames.frameOut)
  let published = 0
  const n = 50_000_000
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) if (channel.hasSubscribers) published++
  const ns = Number(process.hrtime.bigint() - t0) / n
  if (published !== 0) throw new Error('nobody subscribed')
  return ns
}

const workers = await Promise.all(Array.from({ length: CONNECTIONS }, open))
const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, open))
await Promise.all(subscribers.map((ws, i) => new Promise<void>((resolve) => {
  ws.once('message', () => resolve())
  ws.send(JSON.stringify({ action: 'watch', request_id: i }))
})))

type Mode = 'off' | 'metrics'
const results: Record<Mode, Array<{ rate: number, cpuPerAction: number, ms: number, cpuPerEvent: number }>> = { off: [], metrics: [] }
// Warm-up, not counted.
await actions(workers)
await fanout(subscribers)
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of (round % 2 === 0 ? ['off', 'metrics'] : ['metrics', 'off']) as Mode[]) {
    let metrics: DcrfMetrics | null = null
    if (mode === 'metrics') metrics = dcrfMetrics({ registry: new Registry() })
    const a = await actions(workers)
    const f = await fanout(subscribers)
    metrics?.close()
    results[mode].push({ ...a, ...f })
  }
}

const median = (values: number[]): number => { const s = [...values].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]! }
const row = (label: string, pick: (r: typeof results.off[number]) => number, digits: number): string => {
  const off = median(results.off.map(pick))
  const on = median(results.metrics.map(pick))
  return `| ${label} | ${off.toFixed(digits)} | ${on.toFixed(digits)} | ${(on / off).toFixed(2)}× |`
}
console.log(`Node ${process.version}, ${ROUNDS} rounds (medians), ${CONNECTIONS} connections, ${SUBSCRIBERS} subscribers\n`)
console.log('| metric | nobody subscribed | metrics adapter subscribed | ratio |')
console.log('|---|---:|---:|---:|')
console.log(row('echo actions/s', (r) => r.rate, 0))
console.log(row('process CPU per action, µs', (r) => r.cpuPerAction, 1))
console.log(row(`fan-out to ${SUBSCRIBERS}, last delivery, ms`, (r) => r.ms, 2))
console.log(row(`fan-out to ${SUBSCRIBERS}, process CPU per event, ms`, (r) => r.cpuPerEvent, 2))
console.log(`\nOne guarded publish site with nobody subscribed: ${guardedSite().toFixed(2)} ns`)

for (const ws of [...workers, ...subscribers]) ws.terminate()
await app.close()
