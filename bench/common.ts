/**
 * What the benchmark's processes share: the data set both servers read, the statistics endpoint
 * every server exposes (CPU, memory, CPU profiles), the way the orchestrator spawns TypeScript
 * processes, and small numeric helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))

/** The rows of the data set: users 1…ROWS, seeded directly in SQL (no scrypt, no create action). */
export const ROWS = 1000

/** The example's route that every scenario speaks to, on both servers. */
export const USERS_PATH = '/ws/users/'

/** The statistics endpoint of a bench server (HTTP GET, JSON). */
export const STATS_PATH = '/__bench/stats'

/**
 * Resets the users table to the bench's data set: ids 1…ROWS, a dummy password hash. Deletes the
 * rows that reference users (comments, rooms…) through the cascades of the example's schema.
 */
export const SEED_SQL = `
  TRUNCATE users RESTART IDENTITY CASCADE;
  INSERT INTO users (username, email, password)
    SELECT 'bench' || i, 'bench' || i || '@example.com', 'bench$not-a-hash'
    FROM generate_series(1, ${ROWS}) AS i;
`

/** What a server's statistics endpoint answers. */
export interface ServerStats {
  pid: number
  /** process.cpuUsage(): user and system microseconds since the process started. */
  cpu: { user: number, system: number }
  memory: NodeJS.MemoryUsage
}

/** The messages a bench server sends its parent over IPC. */
export type ServerMessage = { type: 'ready', port: number } | { type: 'error', message: string }

let profiler: Session | null = null

/**
 * Answers the statistics endpoint. `gc=1` collects garbage first (the servers run with
 * `--expose-gc`), so that memory figures are live memory; `profile=start` / `profile=<file>` starts
 * a CPU profile of the server and writes it (`.cpuprofile`, for Chrome DevTools or speedscope).
 */
export async function serverStats (query: URLSearchParams): Promise<ServerStats | { written: string } | { started: true }> {
  const profile = query.get('profile')
  if (profile === 'start') {
    profiler = new Session()
    profiler.connect()
    await post(profiler, 'Profiler.enable')
    await post(profiler, 'Profiler.setSamplingInterval', { interval: 200 })
    await post(profiler, 'Profiler.start')
    return { started: true }
  }
  if (profile !== null && profiler !== null) {
    const { profile: data } = await post(profiler, 'Profiler.stop') as { profile: unknown }
    profiler.disconnect()
    profiler = null
    await writeFile(profile, JSON.stringify(data))
    return { written: profile }
  }
  if (query.get('gc') === '1') {
    const gc = (globalThis as { gc?: () => void }).gc
    // Twice, with a turn of the event loop between: weak references and finalizers settle.
    gc?.()
    await new Promise((resolve) => setTimeout(resolve, 50))
    gc?.()
  }
  return { pid: process.pid, cpu: process.cpuUsage(), memory: process.memoryUsage() }
}

function post (session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => err ? reject(err) : resolve(result))
  })
}

/**
 * A child process stops with its parent: when the IPC channel closes (the parent exited, even by a
 * kill), and on SIGTERM/SIGINT, running `close` first (bounded by a timer).
 */
export function exitWithParent (close: () => Promise<unknown>): void {
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    setTimeout(() => process.exit(0), 3000).unref()
    close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('disconnect', stop)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

/** Node flags of every bench process: the `source` export condition and tsx for TypeScript. */
const TS_FLAGS = ['--conditions=source', '--import', 'tsx']

/** Raises the open-file limit (10,000 connections per process, 20,000 in the load generator), then runs the command. */
const RAISE_FD_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"'

/** Spawns `bench/<file>` under tsx with an IPC channel; its output goes to the parent's stderr. */
export function spawnBench (file: string, env: Record<string, string | undefined>, nodeFlags: string[] = []): ChildProcess {
  const command = [process.execPath, ...TS_FLAGS, ...nodeFlags, join(BENCH_DIR, file)]
  const [program, ...args] = process.platform === 'win32' ? command : ['/bin/sh', '-c', RAISE_FD_LIMIT, 'sh', ...command]
  return spawn(program, args, {
    cwd: join(BENCH_DIR, '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
}

/** The value at quantile `q` (0…1) of sorted numbers (nearest rank); NaN when there are none. */
export function quantile (sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]
}

/** Sorts numbers ascending into a typed array (numeric order, no comparator callback). */
export function sorted (values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort()
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
