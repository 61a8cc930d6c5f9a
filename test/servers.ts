/**
 * Servers the outage tests start themselves, on spare loopback ports, so that they can stop and
 * restart them: a Redis, and a PostgreSQL cluster of its own (run as the `postgres` user, as
 * PostgreSQL refuses root).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A free TCP port on the loopback interface. */
export function sparePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function waitFor (check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not start`)
}

export class RedisServer {
  readonly port: number
  #process: ChildProcess | null = null

  constructor (port: number) {
    this.port = port
  }

  static available (): boolean {
    return existsSync('/usr/bin/redis-server')
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start (): Promise<void> {
    this.#process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    await waitFor(async () => (await run('redis-cli', ['-p', String(this.port), 'ping'])).stdout.trim() === 'PONG', 'redis-server')
  }

  async stop (): Promise<void> {
    const child = this.#process
    if (child === null || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    this.#process = null
  }
}

function postgresBin (): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const version = readdirSync(root).sort().at(-1)
  return version === undefined ? null : join(root, version, 'bin')
}

export class PostgresServer {
  readonly port: number
  #dir = ''
  #bin: string

  private constructor (port: number, bin: string) {
    this.port = port
    this.#bin = bin
  }

  /** Whether this machine can run a cluster of the tests' own (PostgreSQL installed, root to switch users). */
  static available (): boolean {
    return postgresBin() !== null && process.getuid?.() === 0 && existsSync('/usr/sbin/runuser')
  }

  static async create (): Promise<PostgresServer> {
    const server = new PostgresServer(await sparePort(), postgresBin()!)
    server.#dir = await mkdtemp(join(tmpdir(), 'dcrf-pg-'))
    await chown(server.#dir, ...await idsOf('postgres'))
    await server.#asPostgres('initdb', ['-D', join(server.#dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync'])
    return server
  }

  get url (): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  #asPostgres (program: string, args: string[]): Promise<unknown> {
    return run('runuser', ['-u', 'postgres', '--', join(this.#bin, program), ...args])
  }

  async start (): Promise<void> {
    await this.#asPostgres('pg_ctl', ['-D', join(this.#dir, 'data'), '-l', join(this.#dir, 'log'), '-w', '-o', `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
  }

  async stop (): Promise<void> {
    await this.#asPostgres('pg_ctl', ['-D', join(this.#dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => undefined)
  }

  async destroy (): Promise<void> {
    await this.stop()
    await rm(this.#dir, { recursive: true, force: true })
  }
}

async function idsOf (user: string): Promise<[number, number]> {
  const { stdout: uid } = await run('id', ['-u', user])
  const { stdout: gid } = await run('id', ['-g', user])
  return [Number(uid), Number(gid)]
}
