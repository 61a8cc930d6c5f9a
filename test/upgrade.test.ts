/**
 * What an open socket keeps of its upgrade: the Fastify request the consumers see as `ctx.request`,
 * whole, and nothing else (idle servers hold thousands of sockets); socket errors stay handled.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { WebSocket as ServerSocket } from 'ws'
import dcrf, { defineConsumer, type ConsumerContext } from 'fastify-dcrf'
import { build, Client, reply, sleep } from './helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collects garbage until what is only weakly held is gone (a WeakRef holds its target until the task ends). */
async function collect (): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
}

/** Resolves once `check` holds; fails the test after a few seconds. */
async function eventually (check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > 5000) assert.fail('timed out')
    await sleep(5)
  }
}

/** An unmasked frame: from a client, a protocol error the server's `ws` reports as a socket error. */
const UNMASKED = Buffer.from([0x81, 0x01, 0x61])

const inspector = defineConsumer({
  actions: {
    request: (ctx: ConsumerContext) => ({
      data: {
        custom: ctx.request.headers['x-custom'],
        agent: ctx.request.headers['user-agent'],
        // An injected request (app.injectWS) has no raw headers.
        rawHeaders: ctx.request.raw.rawHeaders?.filter((_, i, all) => all[i - 1] === 'X-Custom' || all[i] === 'X-Custom'),
        query: ctx.request.query,
        user: ctx.user,
        ip: ctx.request.ip
      }
    })
  }
})

test('an open socket lets go of the upgrade\'s reply, response and first read; its request stays whole', async (t) => {
  const { app } = await build(t)
  const held: { reply?: WeakRef<FastifyReply>, response?: WeakRef<object>, head?: WeakRef<ArrayBuffer> } = {}
  app.dcrf.consumer('/ws/', inspector, {
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      request.user = { id: 7, username: 'ada' }
      held.reply = new WeakRef(reply)
      held.response = new WeakRef(reply.raw)
      const raw = request.raw as unknown as Record<symbol, Buffer>
      const head = Object.getOwnPropertySymbols(raw).find((key) => key.description === 'ws-head')
      assert.ok(head, '@fastify/websocket keeps the upgrade\'s head under the symbol ws-head')
      held.head = new WeakRef(raw[head].buffer as ArrayBuffer)
    }
  })
  const client = await Client.open(app, '/ws/?token=abc', { headers: { 'X-Custom': 'yes', 'User-Agent': 'test-agent/1.0' } })
  await collect()
  assert.equal(held.reply!.deref(), undefined)
  assert.equal(held.response!.deref(), undefined)
  assert.equal(held.head!.deref(), undefined)
  assert.deepEqual(await client.request({ action: 'request', request_id: 1 }), reply('request', {
    custom: 'yes',
    agent: 'test-agent/1.0',
    rawHeaders: ['X-Custom', 'yes'],
    query: { token: 'abc' },
    user: { id: 7, username: 'ada' },
    ip: '127.0.0.1'
  }, 200, 1))
})

test('a socket error after the upgrade is logged and drops that socket; the server carries on', async (t) => {
  const { app, logs } = await build(t)
  const disconnects: number[] = []
  app.dcrf.consumer('/ws/', defineConsumer({
    ...inspector,
    onDisconnect: (_ctx, code) => { disconnects.push(code) }
  }))
  const broken = await Client.open(app, '/ws/')
  const healthy = await Client.open(app, '/ws/', { headers: { 'X-Custom': 'still here' } })
  ;(broken.ws as unknown as { _socket: { write: (data: Buffer) => void } })._socket.write(UNMASKED)
  assert.equal((await broken.closed).code, 1002)
  await eventually(() => disconnects.length > 0)
  assert.deepEqual(disconnects, [1006])
  // A client's protocol error is no fault of the server: logged at info, on the request's logger.
  assert.equal(logs.filter((line) => line.level >= 50).length, 0)
  const logged = logs.find((line) => line.msg === 'client protocol error; closing')
  assert.equal(logged?.level, 30)
  assert.equal(logged?.code, 'WS_ERR_EXPECTED_MASK')
  assert.match(logged?.reason ?? '', /MASK must be set/)
  assert.ok(logged?.reqId)
  assert.equal((await healthy.request({ action: 'request', request_id: 2 })).data.custom, 'still here')
})

test('a custom @fastify/websocket error handler still gets socket errors, with the request and reply', async (t) => {
  const seen: Array<{ message: string, url: string, hijacked: boolean }> = []
  const { app } = await build(t, {
    websocket: {
      errorHandler (err: Error, socket: ServerSocket, request: FastifyRequest, reply: FastifyReply) {
        seen.push({ message: err.message, url: request.url, hijacked: reply.sent })
        socket.terminate()
      }
    }
  })
  app.dcrf.consumer('/ws/', inspector)
  const client = await Client.open(app, '/ws/')
  ;(client.ws as unknown as { _socket: { write: (data: Buffer) => void } })._socket.write(UNMASKED)
  await client.closed
  await eventually(() => seen.length > 0)
  assert.match(seen[0]!.message, /MASK must be set/)
  assert.equal(seen[0]!.url, '/ws/')
  assert.equal(seen[0]!.hijacked, true)
})

test('app.injectWS connects without a port under the default options', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(dcrf)
  app.dcrf.consumer('/ws/', inspector)
  await app.ready()
  const client = new Client(await app.injectWS('/ws/', { headers: { 'x-custom': 'injected' } }))
  const answer = await client.request({ action: 'request', request_id: 1 })
  assert.equal(answer.response_status, 200)
  assert.equal(answer.data.custom, 'injected')
  client.ws.terminate()
})
