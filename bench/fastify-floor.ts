/**
 * The floor under fastify-dcrf's memory: Fastify with @fastify/websocket and a WebSocket route that
 * does nothing, no fastify-dcrf. The idle scenario measures it beside the two servers, so that the
 * table shows how much of a connection's memory the plugin adds and how much comes with Fastify.
 * Tells its parent `{ type: 'ready', port }` over IPC once it listens on a free loopback port.
 */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { exitWithParent, serverStats, STATS_PATH, USERS_PATH, type ServerMessage } from './common.js'

const app = Fastify({ logger: false })
await app.register(websocket)
app.get(USERS_PATH, { websocket: true }, (socket) => {
  socket.on('message', () => {})
})
app.get(STATS_PATH, async (request) => serverStats(new URL(request.url, 'http://127.0.0.1').searchParams))

exitWithParent(() => app.close())

await app.listen({ port: 0, host: '127.0.0.1' })
const message: ServerMessage = { type: 'ready', port: (app.server.address() as AddressInfo).port }
process.send?.(message)
