import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import WebSocket from 'ws'                   // Node 20 has no global WebSocket
import dcrf, { defineConsumer } from 'fastify-dcrf'

const consumer = defineConsumer({ actions: { ping: () => ({ data: 'pong' }) } })

const app = Fastify()
await app.register(dcrf)
app.dcrf.consumer('/ws/', consumer)
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/`)
await new Promise((resolve) => ws.once('open', resolve))
ws.send(JSON.stringify({ action: 'ping', request_id: 1 }))
const [reply] = await new Promise<[WebSocket.RawData]>((resolve) => ws.once('message', (...args) => resolve([args[0]])))
console.log(JSON.parse(String(reply)))
// {"errors":[],"data":"pong","action":"ping","response_status":200,"request_id":1}
ws.close()
await app.close()
