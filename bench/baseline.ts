/**
 * The floor: a server written by hand with `ws` and `postgres`, implementing just `retrieve`,
 * `patch` and `subscribe_instance` of the users route with the same frames as fastify-dcrf, as
 * directly as possible. No framework, no validation library, no serializer, no channel layer: one
 * prepared statement per action, the row from `UPDATE … RETURNING` serialized once per change and
 * only the envelope written per subscriber. Cross-process fan-out publishes that row on Redis.
 *
 * Environment: BENCH_DATABASE_URL (PostgreSQL; without it, PGlite in memory, seeded here),
 * BENCH_POOL (postgres.js `max`, default 1), BENCH_REDIS_URL (share fan-out across processes).
 * Tells its parent `{ type: 'ready', port }` over IPC once it listens on a free loopback port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import postgres from 'postgres'
import { PGlite } from '@electric-sql/pglite'
import { DDL } from '../example/db.js'
import { exitWithParent, SEED_SQL, serverStats, STATS_PATH, USERS_PATH, type ServerMessage } from './common.js'
import { Resp } from './resp.js'

type Row = { id: number, username: string, email: string }

/** The three queries of the baseline. */
interface Store {
  retrieve (id: number): Promise<Row | undefined>
  exists (id: number): Promise<boolean>
  patch (id: number, values: Partial<Row>): Promise<Row | undefined>
  close (): Promise<void>
}

function postgresStore (url: string, max: number): Store {
  const sql = postgres(url, { max, onnotice: () => {} })
  return {
    async retrieve (id) {
      return (await sql<Row[]>`select id, username, email from users where id = ${id}`)[0]
    },
    async exists (id) {
      return (await sql`select 1 from users where id = ${id}`).length > 0
    },
    async patch (id, values) {
      const keys = Object.keys(values) as Array<keyof Row>
      if (keys.length === 0) return this.retrieve(id)
      return (await sql<Row[]>`update users set ${sql(values, keys)} where id = ${id} returning id, username, email`)[0]
    },
    close: () => sql.end({ timeout: 5 })
  }
}

async function pgliteStore (): Promise<Store> {
  const pg = new PGlite()
  await pg.exec(DDL)
  await pg.exec(SEED_SQL)
  const store: Store = {
    async retrieve (id) {
      return (await pg.query<Row>('select id, username, email from users where id = $1', [id])).rows[0]
    },
    async exists (id) {
      return (await pg.query('select 1 from users where id = $1', [id])).rows.length > 0
    },
    async patch (id, values) {
      const keys = Object.keys(values) as Array<keyof Row>
      if (keys.length === 0) return store.retrieve(id)
      const set = keys.map((key, i) => `${key} = $${i + 2}`).join(', ')
      return (await pg.query<Row>(`update users set ${set} where id = $1 returning id, username, email`, [id, ...keys.map((key) => values[key])])).rows[0]
    },
    close: () => pg.close()
  }
  return store
}

const databaseUrl = process.env.BENCH_DATABASE_URL || undefined
const redisUrl = process.env.BENCH_REDIS_URL || undefined
const store = databaseUrl === undefined ? await pgliteStore() : postgresStore(databaseUrl, Number(process.env.BENCH_POOL ?? 1))

// ---- frames ----------------------------------------------------------------------------------------

function frame (action: unknown, dataJson: string, status: number, requestId: unknown, errorsJson = '[]'): string {
  return `{"errors":${errorsJson},"data":${dataJson},"action":${JSON.stringify(action ?? null)},"response_status":${status},"request_id":${JSON.stringify(requestId ?? null)}}`
}

const NOT_FOUND = '["Not found"]'

/** An integer primary key from the frame (a number or a numeric string, as DCRF takes it); else null. */
function idOf (pk: unknown): number | null {
  const n = typeof pk === 'string' && /^-?\d+$/.test(pk) ? Number(pk) : pk
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 2 ** 31 ? n : null
}

// ---- subscriptions ----------------------------------------------------------------------------------

/** Row id → subscribed socket → its request ids. */
const subscribers = new Map<number, Map<WebSocket, unknown[]>>()
const channelOf = (id: number): string => `bench:users:${id}`
let publisher: Resp | null = null
let subscriber: Resp | null = null
if (redisUrl !== undefined) {
  publisher = await Resp.open(redisUrl)
  subscriber = await Resp.open(redisUrl)
  subscriber.onPush = (channel, data) => deliver(Number(channel.slice(channel.lastIndexOf(':') + 1)), data)
}

/** Sends one row change to the row's subscribers here: the row's JSON once, the envelope per request id. */
function deliver (id: number, dataJson: string): void {
  const sockets = subscribers.get(id)
  if (sockets === undefined) return
  for (const [ws, requestIds] of sockets) {
    for (const requestId of requestIds) ws.send(frame('update', dataJson, 200, requestId))
  }
}

function publish (row: Row): void {
  const dataJson = JSON.stringify(row)
  if (publisher === null) deliver(row.id, dataJson)
  else publisher.send('PUBLISH', channelOf(row.id), dataJson)
}

async function subscribe (ws: WebSocket, id: number, requestId: unknown, mine: Set<number>): Promise<void> {
  let sockets = subscribers.get(id)
  if (sockets === undefined) {
    sockets = new Map()
    subscribers.set(id, sockets)
    // Subscribed once the confirmation arrives: events published after the 201 reach this process.
    await subscriber?.command('SUBSCRIBE', channelOf(id))
  }
  const ids = sockets.get(ws)
  if (ids === undefined) sockets.set(ws, [requestId])
  else if (!ids.includes(requestId)) ids.push(requestId)
  mine.add(id)
}

function unsubscribeAll (ws: WebSocket, mine: Set<number>): void {
  for (const id of mine) {
    const sockets = subscribers.get(id)
    if (sockets === undefined) continue
    sockets.delete(ws)
    if (sockets.size === 0) {
      subscribers.delete(id)
      subscriber?.command('UNSUBSCRIBE', channelOf(id))
    }
  }
}

// ---- actions -----------------------------------------------------------------------------------------

async function handle (ws: WebSocket, message: Record<string, unknown>, mine: Set<number>): Promise<void> {
  const { action, request_id: requestId } = message
  const id = idOf(message.pk)
  switch (action) {
    case 'retrieve': {
      const row = id === null ? undefined : await store.retrieve(id)
      ws.send(row === undefined ? frame(action, 'null', 404, requestId, NOT_FOUND) : frame(action, JSON.stringify(row), 200, requestId))
      return
    }
    case 'patch': {
      const data = message.data as Record<string, unknown> | null
      const values: Partial<Row> = {}
      if (typeof data?.username === 'string') values.username = data.username
      if (typeof data?.email === 'string') values.email = data.email
      const row = id === null ? undefined : await store.patch(id, values)
      if (row === undefined) {
        ws.send(frame(action, 'null', 404, requestId, NOT_FOUND))
        return
      }
      ws.send(frame(action, JSON.stringify(row), 200, requestId))
      publish(row)
      return
    }
    case 'subscribe_instance': {
      if (id === null || !await store.exists(id)) {
        ws.send(frame(action, 'null', 404, requestId, NOT_FOUND))
        return
      }
      await subscribe(ws, id, requestId, mine)
      ws.send(frame(action, 'null', 201, requestId))
      return
    }
    default:
      ws.send(frame(action, 'null', 405, requestId, JSON.stringify([`Method "${String(action)}" not allowed.`])))
  }
}

function onConnection (ws: WebSocket): void {
  const mine = new Set<number>()
  ws.on('message', (raw) => {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(raw.toString())
    } catch (err) {
      ws.send(frame(null, 'null', 400, null, JSON.stringify([`Invalid JSON: ${(err as Error).message}`])))
      return
    }
    handle(ws, message, mine).catch((err) => {
      console.error('baseline: action failed', err)
      ws.send(frame(message.action, 'null', 500, message.request_id, '["A server error occurred."]'))
    })
  })
  ws.on('close', () => unsubscribeAll(ws, mine))
}

// ---- the server -------------------------------------------------------------------------------------

const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1')
  if (url.pathname !== STATS_PATH) {
    response.writeHead(404).end()
    return
  }
  serverStats(url.searchParams).then((stats) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats))
  }, (err) => response.writeHead(500).end(String(err)))
})
const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 })
server.on('upgrade', (request, socket, head) => {
  if (new URL(request.url ?? '/', 'http://127.0.0.1').pathname !== USERS_PATH) {
    socket.destroy()
    return
  }
  wss.handleUpgrade(request, socket, head, onConnection)
})

exitWithParent(async () => {
  for (const ws of wss.clients) ws.terminate()
  server.close()
  publisher?.close()
  subscriber?.close()
  await store.close()
})

server.listen(0, '127.0.0.1', () => {
  const message: ServerMessage = { type: 'ready', port: (server.address() as AddressInfo).port }
  process.send?.(message)
})
