/**
 * Test helpers: an application per test, closed after it, and a WebSocket client that collects
 * the frames the server sends so a test can assert them one by one.
 */
import type { TestContext } from 'node:test'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import dcrf, { type DcrfOptions } from 'fastify-dcrf'

/**
 * The user the tests' authentication hooks set: the shape of the example application's user, since
 * `request.user` is declared once for the whole program (a property's declarations must agree).
 */
export interface TestUser {
  id: number
  username: string
}

declare module 'fastify' {
  interface FastifyRequest {
    user: TestUser | null
  }
}

/** Log lines the application wrote, parsed. */
export type LogLines = Array<Record<string, any>>

export async function build (t: TestContext, options: DcrfOptions = {}): Promise<{ app: FastifyInstance, logs: LogLines }> {
  const logs: LogLines = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line))
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(dcrf, options)
  t.after(() => app.close())
  return { app, logs }
}

const WAIT = 5000

/** The ws:// URL of `path`, starting the app on a free loopback port the first time. */
const listening = new WeakMap<FastifyInstance, Promise<string>>()
export async function urlOf (app: FastifyInstance, path: string): Promise<string> {
  let started = listening.get(app)
  if (started === undefined) {
    started = app.listen({ port: 0, host: '127.0.0.1' })
    listening.set(app, started)
  }
  await started
  const address = app.server.address() as AddressInfo
  return `ws://127.0.0.1:${address.port}${path}`
}

/** A client that records every frame it receives. */
export class Client {
  readonly ws: WebSocket
  /** Frames received and not yet read, as text. */
  readonly frames: string[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  #waiters: Array<(text: string) => void> = []

  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${String(data)}>` : data.toString()
      const waiter = this.#waiters.shift()
      if (waiter) waiter(text)
      else this.frames.push(text)
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
  }

  /** Connects to `path` of the app over a real TCP socket on a loopback port. */
  static async open (app: FastifyInstance, path: string, options: WebSocket.ClientOptions = {}): Promise<Client> {
    const ws = new WebSocket(await urlOf(app, path), options)
    const client = new Client(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return client
  }

  /** Tries to connect and expects the handshake to be refused; returns the HTTP status. */
  static async refused (app: FastifyInstance, path: string, options: WebSocket.ClientOptions = {}): Promise<number> {
    const ws = new WebSocket(await urlOf(app, path), options)
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0)
        response.resume()
        ws.terminate()
      })
      ws.once('open', () => { ws.terminate(); reject(new Error('the handshake was accepted')) })
      ws.once('error', reject)
    })
  }

  send (frame: unknown): void {
    this.ws.send(JSON.stringify(frame))
  }

  sendText (text: string | Buffer, binary = false): void {
    this.ws.send(text, { binary })
  }

  /** The next frame, parsed; fails the test if none arrives in time. */
  async next (): Promise<any> {
    return JSON.parse(await this.nextText())
  }

  /** The next frame as the server wrote it. */
  nextText (): Promise<string> {
    if (this.frames.length > 0) return Promise.resolve(this.frames.shift()!)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        reject(new Error(`no frame within ${WAIT} ms`))
      }, WAIT)
      const waiter = (text: string): void => { clearTimeout(timer); resolve(text) }
      this.#waiters.push(waiter)
    })
  }

  /** Sends a frame and returns the next frame received. */
  async request (frame: unknown): Promise<any> {
    this.send(frame)
    return this.next()
  }

  close (): void {
    this.ws.close()
  }
}

/** The reply envelope, built the way a test expects it (key order included). */
export function reply (action: unknown, data: unknown, status: number, requestId: unknown, errors: unknown[] = []): Record<string, unknown> {
  return { errors, data, action, response_status: status, request_id: requestId }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
