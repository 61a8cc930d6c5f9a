/**
 * The benchmark, end to end: prepares the data set, starts fastify-dcrf (the example application),
 * the hand-written baseline and FeathersJS 5 as separate server processes, drives them with the
 * load generator (another process), scenario by scenario and rotating which server goes first, and
 * prints one table with every figure beside the baseline's from the same run, as a ratio.
 *
 *   npx tsx --conditions=source bench/run.ts             the full run (PostgreSQL, Redis), ~5 min
 *   … bench/run.ts --smoke                                a few connections for a few hundred ms
 *   … bench/run.ts --only=actions,fanout                  some scenarios (actions, fanout, cross, idle, pool)
 *   … bench/run.ts --only=fanout --subscribers=10000      some fan-out sizes (--patches: patches per
 *                                                          size, --connections: action concurrencies,
 *                                                          --pool: postgres.js pool sizes)
 *   … bench/run.ts --without=feathers                     without the FeathersJS reference
 *   … bench/run.ts --profile                              also CPU profiles of the servers, summarized
 *   … bench/run.ts --features                             fastify-dcrf with the example's extras on
 *                                                          (outside-write triggers, Prometheus metrics)
 *   … bench/run.ts --json=results.json                    also the raw figures
 *
 * Database: BENCH_DATABASE_URL, else the database `bench` on the server of DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432), created when missing, with a schema per server (`bench_dcrf`,
 * `bench_baseline`, `bench_feathers`), each seeded; `--pglite` (or `--smoke` without DATABASE_URL)
 * gives each server an embedded PostgreSQL of its own instead, seeded alike. Redis:
 * BENCH_REDIS_URL, REDIS_URL or redis://127.0.0.1:6379; without it the cross-process rows are skipped.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { DDL } from '../example/db.js'
import { BENCH_DIR, SEED_SQL, spawnBench, USERS_PATH, type ServerMessage } from './common.js'
import type { ActionsResult, FanoutResult, FanoutTarget, IdleResult, LoadReply, Scenario, ScenarioResult, Target } from './load.js'
import { summarizeProfile } from './profile.js'
import { Resp } from './resp.js'
import { formatReport, type Report } from './report.js'

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    pglite: { type: 'boolean', default: false },
    only: { type: 'string' },
    connections: { type: 'string' },
    subscribers: { type: 'string' },
    patches: { type: 'string' },
    pool: { type: 'string' },
    without: { type: 'string' },
    profile: { type: 'boolean', default: false },
    features: { type: 'boolean', default: false },
    json: { type: 'string' }
  }
})

/** The sizes of every scenario: the full run's, or tiny ones for the smoke run of `npm test`. */
const plan = args.smoke
  ? {
      actions: { connections: [1, 4], warmupMs: 100, windowMs: 100, windows: 2 },
      fanout: { subscribers: [10], patches: 3 },
      cross: { subscribers: 10 },
      idle: { counts: [20] },
      pool: null
    }
  : {
      actions: { connections: [1, 32, 256], warmupMs: 1000, windowMs: 1000, windows: 10 },
      fanout: { subscribers: [1, 100, 1000, 10_000], patches: 40 },
      cross: { subscribers: 1000 },
      idle: { counts: [1000, 10_000] },
      pool: { sizes: [1, 2, 4, 10], rounds: 5, durationMs: 3000, connections: 256 }
    }
if (args.connections !== undefined) plan.actions.connections = args.connections.split(',').map(Number)
if (args.subscribers !== undefined) plan.fanout.subscribers = args.subscribers.split(',').map(Number)
if (args.patches !== undefined) plan.fanout.patches = Number(args.patches)
if (args.pool !== undefined && plan.pool !== null) plan.pool.sizes = args.pool.split(',').map(Number)
const SCENARIOS = ['actions', 'fanout', 'cross', 'idle', 'pool']
const only = new Set(args.only?.split(',') ?? SCENARIOS)
for (const name of only) if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario "${name}"`)
const without = new Set(args.without?.split(',') ?? [])
for (const name of without) if (name !== 'feathers') throw new Error(`--without: unknown server "${name}" (only feathers may be left out)`)
/** FeathersJS, the second reference, beside the baseline in actions, fan-out and idle. */
const withFeathers = !without.has('feathers')
/** The row every fan-out watches. */
const FANOUT_PK = 500
/** The whole run stops, whatever happens, after this long. */
const WATCHDOG = args.smoke ? 120_000 : 20 * 60_000
const PROFILE_DIR = join(BENCH_DIR, 'profiles')

// ---- child processes ----------------------------------------------------------------------------

const children = new Set<ChildProcess>()
let finishing = false

function killChildren (): void {
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL')
}
process.on('exit', killChildren)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(130)
  })
}
setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG / 1000} s; stopping`)
  process.exit(1)
}, WATCHDOG).unref()

/** Starts a child; its unexpected death stops the run (nothing would answer the load generator). */
function start (file: string, name: string, env: Record<string, string | undefined>, flags: string[] = []): ChildProcess {
  const child = spawnBench(file, env, flags)
  children.add(child)
  child.on('exit', (code, signal) => {
    children.delete(child)
    if (!finishing && !(child as { stopping?: boolean }).stopping) {
      console.error(`bench: ${name} exited unexpectedly (${signal ?? code})`)
      process.exit(1)
    }
  })
  return child
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  ;(child as { stopping?: boolean }).stopping = true
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

function ready<T> (child: ChildProcess, name: string, accept: (message: any) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s`)), 60_000)
    const onMessage = (message: ServerMessage): void => {
      if (message.type === 'error') {
        clearTimeout(timer)
        reject(new Error(`${name}: ${message.message}`))
        return
      }
      const value = accept(message)
      if (value === undefined) return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(value)
    }
    child.on('message', onMessage)
  })
}

/** fastify-dcrf (the example), the hand-written baseline, bare Fastify (the idle scenario's floor), FeathersJS. */
type Kind = 'dcrf' | 'baseline' | 'fastify' | 'feathers'
interface Server { kind: Kind, child: ChildProcess, url: string, pid: number }
const FILES: Record<Kind, string> = { dcrf: 'server.ts', baseline: 'baseline.ts', fastify: 'fastify-floor.ts', feathers: 'feathers.ts' }

async function startServer (kind: Kind, env: { redis?: string, pool?: number } = {}): Promise<Server> {
  const name = `${kind} server`
  const child = start(FILES[kind], name, {
    // What production reads (Koa, Feathers' error replies); our servers and the baseline read none.
    NODE_ENV: 'production',
    BENCH_DATABASE_URL: database.urlFor(kind),
    BENCH_REDIS_URL: env.redis,
    BENCH_POOL: env.pool === undefined ? undefined : String(env.pool),
    // `--features`: the example with its triggers for outside writes and its Prometheus metrics.
    BENCH_FEATURES: args.features ? 'all' : undefined
  }, ['--expose-gc'])
  const port = await ready(child, name, (m: ServerMessage) => m.type === 'ready' ? m.port : undefined)
  // Feathers' client is given the server's address; Socket.io has its own path.
  const url = kind === 'feathers' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}${USERS_PATH}`
  return { kind, child, url, pid: child.pid! }
}

const targetOf = (server: Server): Target => ({ url: server.url, pids: [server.pid], protocol: server.kind === 'feathers' ? 'feathers' : 'dcrf' })

// ---- the load generator ----------------------------------------------------------------------------

const load = start('load.ts', 'load generator', {})
await ready(load, 'load generator', (m: { type?: string }) => m.type === 'ready' ? true : undefined)
let requests = 0

function runScenario<T extends ScenarioResult> (scenario: Scenario): Promise<T> {
  const id = ++requests
  return new Promise((resolve, reject) => {
    const onMessage = (reply: LoadReply): void => {
      if (reply.id !== id) return
      load.off('message', onMessage)
      if ('error' in reply) reject(new Error(`load generator: ${reply.error}`))
      else resolve(reply.result as T)
    }
    load.on('message', onMessage)
    load.send({ id, scenario })
  })
}

const profiles: Array<{ label: string, file: string }> = []
if (args.profile) mkdirSync(PROFILE_DIR, { recursive: true })

/**
 * Runs a scenario. With --profile, the servers are profiled while it measures (the load generator
 * starts and stops the profilers around the measured part), and the profiles summarized at the end.
 */
async function measure<T extends ScenarioResult> (label: string, servers: Server[], scenario: Scenario): Promise<T> {
  process.stderr.write(`bench: ${label}\n`)
  if (args.profile && scenario.kind !== 'idle') {
    const seen = new Map<Kind, number>()
    const named = servers.map((server) => {
      const n = (seen.get(server.kind) ?? 0) + 1
      seen.set(server.kind, n)
      return { server, name: `${server.kind}${n > 1 ? ` (process ${n})` : ''}` }
    })
    scenario.profiles = named.map(({ server, name }) => ({ url: server.url, file: join(PROFILE_DIR, `${label}.${name}`.replace(/[^\w.]+/g, '-') + '.cpuprofile') }))
    for (const [i, { name }] of named.entries()) profiles.push({ label: `${label} — ${name}`, file: scenario.profiles[i].file })
  }
  return runScenario<T>(scenario)
}

// ---- the database ------------------------------------------------------------------------------------

/** The servers that read the data set; each has a schema of its own on PostgreSQL. */
const DATA_KINDS = ['baseline', 'dcrf', 'feathers'] as const

/**
 * Where the servers read: a PostgreSQL URL, or undefined for an embedded database per server. On
 * PostgreSQL each server has its own schema with its own copy of the data set (`urlFor`): the
 * example's triggers report the changes made outside it, so on a shared table it would also fan
 * out every patch of the others (in their turns), and their writes would pay its triggers.
 */
async function prepareDatabase (): Promise<{ url: string | undefined, urlFor: (kind: Kind) => string | undefined, describe: string, drop: () => Promise<void> }> {
  const nothing = async (): Promise<void> => {}
  if (args.pglite || (args.smoke && !process.env.DATABASE_URL && !process.env.BENCH_DATABASE_URL)) {
    return { url: undefined, urlFor: () => undefined, describe: 'PGlite (embedded, one per server)', drop: nothing }
  }
  let url: URL
  let prefix = 'bench'
  let drop = nothing
  if (process.env.BENCH_DATABASE_URL) {
    url = new URL(process.env.BENCH_DATABASE_URL)
  } else if (args.smoke) {
    // The smoke run of `npm test`: schemas of its own in the test database, dropped afterwards.
    url = new URL(process.env.DATABASE_URL!)
    prefix = `bench_smoke_${randomBytes(4).toString('hex')}`
    drop = async () => {
      const admin = postgres(url.href, { max: 1, onnotice: () => {} })
      for (const kind of DATA_KINDS) await admin.unsafe(`drop schema if exists ${prefix}_${kind} cascade`)
      await admin.end({ timeout: 5 })
    }
  } else {
    // The database `bench` beside the one of DATABASE_URL, so the benchmark never touches the tests'.
    const server = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
    const admin = postgres(server.href, { max: 1, onnotice: () => {} })
    const [exists] = await admin`select 1 from pg_database where datname = 'bench'`
    if (exists === undefined) await admin.unsafe('create database bench')
    await admin.end({ timeout: 5 })
    url = new URL(server.href)
    url.pathname = '/bench'
  }
  const urlFor = (kind: Kind): string | undefined => {
    if (!(DATA_KINDS as readonly Kind[]).includes(kind)) return undefined
    const schema = new URL(url.href)
    schema.searchParams.set('search_path', `${prefix}_${kind}`)
    return schema.href
  }
  let version = ''
  for (const kind of DATA_KINDS) {
    const admin = postgres(url.href, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create schema if not exists ${prefix}_${kind}`)
    ;[{ version }] = await admin`select current_setting('server_version') as version`
    await admin.end({ timeout: 5 })
    const client = postgres(urlFor(kind)!, { max: 1, onnotice: () => {} })
    await client.unsafe(DDL)
    await client.unsafe(SEED_SQL)
    await client.end({ timeout: 5 })
  }
  return { url: url.href, urlFor, describe: `PostgreSQL ${version} on ${url.host}, a schema per server`, drop }
}

async function redisUrl (): Promise<string | undefined> {
  const url = process.env.BENCH_REDIS_URL || process.env.REDIS_URL || (args.smoke ? undefined : 'redis://127.0.0.1:6379')
  if (url === undefined) return undefined
  try {
    const client = await Resp.open(url)
    const pong = await Promise.race([client.command('PING'), new Promise((resolve) => setTimeout(resolve, 2000, null))])
    client.close()
    return pong === 'PONG' ? url : undefined
  } catch {
    return undefined
  }
}

// ---- the run -------------------------------------------------------------------------------------------

const database = await prepareDatabase()
const redis = (only.has('cross') && database.url !== undefined) ? await redisUrl() : undefined
const report: Report = {
  machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
  database: database.describe,
  date: new Date().toISOString(),
  smoke: args.smoke,
  actions: [],
  fanout: [],
  cross: null,
  crossSkipped: only.has('cross') ? (database.url === undefined ? 'an embedded database cannot be shared by two processes' : redis === undefined ? 'no Redis reachable' : null) : null,
  idle: null,
  pool: []
}

try {
  const wantsCross = only.has('cross') && redis !== undefined
  if (only.has('actions') || only.has('fanout') || wantsCross) {
    // Started side by side (nothing is measured yet): the run's start is not three starts long.
    const local = await Promise.all([
      startServer('baseline'),
      startServer('dcrf'),
      withFeathers && (only.has('actions') || only.has('fanout')) ? startServer('feathers') : null
    ]).then(([baseline, dcrf, feathers]) => ({ baseline, dcrf, feathers }))
    // Cross-process: two processes of each server sharing Redis, subscribers on one, the writer on the other.
    const cross = wantsCross
      ? {
          baseline: [await startServer('baseline', { redis }), await startServer('baseline', { redis })],
          dcrf: [await startServer('dcrf', { redis }), await startServer('dcrf', { redis })]
        }
      : null
    const pair = [local.baseline, local.dcrf]
    // The servers of actions and fan-out, taking turns: baseline, fastify-dcrf, FeathersJS, and back.
    const trio = local.feathers === null ? pair : [...pair, local.feathers]

    if (only.has('actions')) {
      const { warmupMs, windowMs, windows } = plan.actions
      for (const connections of plan.actions.connections) {
        const label = `retrieve, ${connections} connection${connections === 1 ? '' : 's'}`
        const [baseline, dcrf, feathers] = await measure<ActionsResult[]>(label, trio, { kind: 'actions', targets: trio.map(targetOf), connections, warmupMs, windowMs, windows })
        report.actions.push({ label, connections, dcrf: dcrf.total, baseline: baseline.total, feathers: feathers?.total })
      }
    }

    const sizes = only.has('fanout') ? plan.fanout.subscribers : wantsCross ? [plan.cross.subscribers] : []
    for (const subscribers of sizes) {
      const label = `fan-out, ${subscribers.toLocaleString('en')} subscriber${subscribers === 1 ? '' : 's'}`
      const patches = subscribers >= 10_000 ? Math.ceil(plan.fanout.patches / 2) : plan.fanout.patches
      // FeathersJS where the fan-out rows are printed (not for the cross-process rows alone).
      const inProcess = only.has('fanout') ? trio : pair
      const targets: FanoutTarget[] = inProcess.map((server) => ({ ...targetOf(server), writeUrl: server.url }))
      const servers = [...inProcess]
      // The cross-process targets take their turns in the same run as the in-process ones, so that
      // what crossing processes adds is measured under the same conditions.
      const withCross = cross !== null && subscribers === plan.cross.subscribers
      if (withCross) {
        for (const [subscribe, write] of [cross.baseline, cross.dcrf]) {
          targets.push({ url: subscribe.url, writeUrl: write.url, pids: [subscribe.pid, write.pid] })
          servers.push(subscribe, write)
        }
      }
      const results = await measure<FanoutResult[]>(label, servers, { kind: 'fanout', targets, subscribers, patches, pk: FANOUT_PK, gapMs: 20 })
      const [baseline, dcrf] = results
      const feathers = inProcess.length > 2 ? results[2] : undefined
      const [crossBaseline, crossDcrf] = results.slice(inProcess.length)
      if (only.has('fanout') || !withCross) report.fanout.push({ label, subscribers, dcrf, baseline, feathers })
      if (withCross) {
        report.cross = { label: `cross-process fan-out, ${subscribers.toLocaleString('en')} subscribers`, subscribers, dcrf: crossDcrf, baseline: crossBaseline, local: { dcrf, baseline } }
      }
    }
    await Promise.all([...trio, ...(cross === null ? [] : [...cross.baseline, ...cross.dcrf])].map((server) => stop(server.child)))
  }

  if (only.has('idle')) {
    // Fresh processes, measured one at a time: memory is measured from a server that has served
    // nothing yet. They start side by side (nothing is measured while they start), each is stopped
    // once measured.
    const results: Partial<Record<Kind, IdleResult>> = {}
    const kinds = ['baseline', 'dcrf', 'fastify', ...(withFeathers ? ['feathers'] as const : [])] as const
    const servers = await Promise.all(kinds.map((kind) => startServer(kind)))
    for (const server of servers) {
      results[server.kind] = await measure<IdleResult>(`idle connections — ${server.kind}`, [server], { kind: 'idle', url: server.url, protocol: targetOf(server).protocol, counts: plan.idle.counts })
      await stop(server.child)
    }
    report.idle = { baseline: results.baseline!, dcrf: results.dcrf!, fastify: results.fastify!, feathers: results.feathers }
  }

  if (only.has('pool') && plan.pool !== null && database.url !== undefined) {
    // The driver alone: the baseline server under sustained load, one postgres.js pool size at a time.
    const { sizes, rounds, durationMs, connections } = plan.pool
    for (const max of sizes) {
      const server = await startServer('baseline', { pool: max })
      const [result] = await measure<ActionsResult[]>(`postgres.js pool, max ${max}`, [server], { kind: 'actions', targets: [targetOf(server)], connections, warmupMs: 1000, windowMs: durationMs, windows: rounds })
      report.pool.push({ max, rounds: result.windows })
      await stop(server.child)
    }
  }
} finally {
  finishing = true
  await stop(load)
  await database.drop()
}

console.log(formatReport(report))
if (args.profile) {
  for (const { label, file } of profiles) {
    console.log(`\n### CPU profile: ${label}\n\n${file}\n\n${summarizeProfile(file, 25)}`)
  }
}
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2))
process.exit(0)
