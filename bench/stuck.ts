/**
 * Stuck readers: what clients that never read cost the server. Each client completes the
 * handshake, joins a group and then reads nothing; the server fans events out to the group until
 * every stuck client was closed for being too slow. Prints the server's peak RSS over its idle RSS.
 *
 *   npm run bench:stuck                                    # 1,000 clients, default limits
 *   npm run bench:stuck -- --clients=300 --maxBufferedBytes=8388608
 *
 * The clients are raw TCP sockets in this process (their unread bytes sit in kernel buffers, not in
 * the heap), so the RSS measured is the server's.
 */
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import dcrf, { defineConsumer } from 'fastify-dcrf'

const arg = (name: string, fallback: number): number => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.split('=')[1])
}
const clients = arg('clients', 1000)
const maxBufferedBytes = arg('maxBufferedBytes', 0)
const eventSize = arg('eventSize', 1024)

const app = Fastify()
await app.register(dcrf, maxBufferedBytes > 0 ? { maxBufferedBytes } : {})
let closed = 0
app.dcrf.consumer('/ws/', defineConsumer({
  actions: { join: async (ctx) => { await ctx.addGroup('feed'); return { status: 201 } } },
  groupHandlers: { news: (ctx, message) => ctx.send(message.body) },
  onDisconnect: () => { closed++ }
}))
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo

/** A masked client text frame (mask key 0: the payload goes as is). */
function frame (text: string): Buffer {
  const payload = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

async function stuckClient (): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write('GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await once(socket, 'data')
  socket.write(frame('{"action":"join"}'))
  await once(socket, 'data')
  // From now on it reads nothing.
  socket.pause()
  socket.on('error', () => {})
  return socket
}

const sockets: Socket[] = []
for (let i = 0; i < clients; i += 50) {
  sockets.push(...await Promise.all(Array.from({ length: Math.min(50, clients - i) }, stuckClient)))
}
global.gc?.()
await sleep(200)
const idle = process.memoryUsage().rss
let peak = idle
const body = 'x'.repeat(eventSize)
let events = 0
const started = Date.now()
const allClosed = (): boolean => closed >= clients
while (!allClosed() && Date.now() - started < 120_000) {
  for (let i = 0; i < 20; i++, events++) await app.dcrf.groupSend('feed', { type: 'news', body })
  peak = Math.max(peak, process.memoryUsage().rss)
  await sleep(1)
}
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`
console.log(`${clients} stuck clients, maxBufferedBytes ${maxBufferedBytes > 0 ? maxBufferedBytes : 'default'}, ${eventSize} B events`)
console.log(`closed as too slow: ${closed} of ${clients} after ${events} events (${Date.now() - started} ms)`)
console.log(`server RSS idle ${mib(idle)}, peak ${mib(peak)}: ${mib(peak - idle)} more, ${((peak - idle) / clients / 1024).toFixed(0)} KiB per stuck client`)
for (const socket of sockets) socket.destroy()
await app.close()
