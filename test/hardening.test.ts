import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import WebSocket from 'ws'
import { action, defineConsumer } from 'fastify-dcrf'
import { ConsumerInstance } from '../plugin/consumer-instance.js'
import { build, Client, reply, sleep, urlOf, type LogLines } from './helpers.js'

const echo = defineConsumer({
  actions: {
    echo: (_ctx, args) => ({ data: args }),
    ping: () => ({ data: 'pong' }),
    join: async (ctx, { room }) => { await ctx.addGroup(String(room)); return { status: 201 } }
  },
  groupHandlers: { news: (ctx, message) => ctx.send({ n: message.n, body: message.body }) }
})

const errorsLogged = (logs: LogLines): LogLines => logs.filter((line) => line.level >= 50)

const nested = (depth: number, inner = '1'): string => '['.repeat(depth) + inner + ']'.repeat(depth)

/** The frames that arrived within `ms`, left unread. */
async function arrivedWithin (client: Client, ms: number): Promise<string[]> {
  await sleep(ms)
  return [...client.frames]
}

test('a frame nested past maxDepth is answered 400 with a null request_id before anything reads it', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  app.dcrf.multiplex('/ws', { one: echo })
  const plain = await Client.open(app, '/ws/')
  const tooDeep = reply(null, null, 400, null, ['Message is nested too deeply (at most 32 levels).'])

  // The frames that used to overflow the stack: a request_id or an action nested thousands deep.
  plain.sendText(`{"action":"echo","request_id":${nested(4250)}}`)
  assert.deepEqual(await plain.next(), tooDeep)
  plain.sendText(`{"action":${nested(5000)},"request_id":1}`)
  assert.deepEqual(await plain.next(), tooDeep)
  // The frame is level 1: 31 levels inside it are fine, 32 are one too many.
  assert.deepEqual(await plain.request({ action: 'echo', v: JSON.parse(nested(30)), request_id: 'ok' }), reply('echo', { v: JSON.parse(nested(30)) }, 200, 'ok'))
  plain.sendText(`{"action":"echo","v":${nested(32)}}`)
  assert.deepEqual(await plain.next(), tooDeep)
  // Brackets inside strings are text, escaped quotes included.
  const text = '"\\"' + '['.repeat(1000) + '{'.repeat(1000) + '"'
  plain.sendText(`{"action":"echo","s":${text},"request_id":2}`)
  assert.deepEqual(await plain.next(), reply('echo', { s: JSON.parse(text) }, 200, 2))

  // Multiplexed: the envelope itself, the payload and the stream name.
  const mux = await Client.open(app, '/ws')
  mux.sendText(`{"stream":"x","payload":{"request_id":${nested(4250)}}}`)
  assert.deepEqual(await mux.next(), tooDeep)
  mux.sendText(`{"stream":${nested(4000, '"a"')},"payload":{}}`)
  assert.deepEqual(await mux.next(), tooDeep)
  mux.sendText(`{"stream":"one","payload":{"action":"echo","request_id":${nested(100)}}}`)
  assert.deepEqual(await mux.next(), tooDeep)
  assert.deepEqual(await mux.request({ stream: 'one', payload: { action: 'ping', request_id: 3 } }), { stream: 'one', payload: reply('ping', 'pong', 200, 3) })

  assert.deepEqual(await plain.request({ action: 'ping', request_id: 4 }), reply('ping', 'pong', 200, 4))
  assert.deepEqual(errorsLogged(logs), [])
})

test('maxDepth is an option', async (t) => {
  const { app } = await build(t, { maxDepth: 3 })
  app.dcrf.consumer('/ws/', echo)
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'echo', v: [[1]], request_id: 1 }), reply('echo', { v: [[1]] }, 200, 1))
  assert.deepEqual(await client.request({ action: 'echo', v: [[[1]]], request_id: 2 }), reply(null, null, 400, null, ['Message is nested too deeply (at most 3 levels).']))
})

test('an exception escaping a socket event closes that socket with 1011 and is logged once; the process and other sockets live on', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  app.dcrf.multiplex('/ws', { one: echo })
  // A fault of our own making, inside the synchronous path every frame takes.
  const receive = ConsumerInstance.prototype.receive
  ConsumerInstance.prototype.receive = function (frame, size, admitted) {
    if (frame.action === 'boom') throw new Error('injected fault')
    return receive.call(this, frame, size, admitted)
  }
  t.after(() => { ConsumerInstance.prototype.receive = receive })
  let crashed = false
  const onUncaught = (): void => { crashed = true }
  process.on('uncaughtException', onUncaught)
  t.after(() => process.off('uncaughtException', onUncaught))

  const victim = await Client.open(app, '/ws/')
  const bystander = await Client.open(app, '/ws/')
  victim.send({ action: 'boom' })
  victim.send({ action: 'boom' })
  assert.equal((await victim.closed).code, 1011)
  const mux = await Client.open(app, '/ws')
  mux.send({ stream: 'one', payload: { action: 'boom' } })
  assert.equal((await mux.closed).code, 1011)

  assert.deepEqual(await bystander.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  const faults = errorsLogged(logs)
  assert.deepEqual(faults.map((line) => [line.msg, line.err?.message]), [
    ['unexpected error while handling a socket event; closing the socket', 'injected fault'],
    ['unexpected error while handling a socket event; closing the socket', 'injected fault']
  ])
  assert.equal(crashed, false)
})

test('detached actions count: past maxDetachedActions a 429, and running ones hold their place in maxQueuedFrames', async (t) => {
  const { app } = await build(t, { maxDetachedActions: 3, maxQueuedFrames: 4 })
  const waiting: Array<() => void> = []
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      ping: () => ({ data: 'pong' }),
      hang: action({
        detached: true,
        handler: async (_ctx, { n }) => {
          await new Promise<void>((resolve) => waiting.push(resolve))
          return { data: n }
        }
      })
    }
  }))
  const client = await Client.open(app, '/ws/')
  for (let n = 0; n < 3; n++) client.send({ action: 'hang', n, request_id: n })
  while (waiting.length < 3) await sleep(5)
  // Three running detached actions and this frame fill a queue of four: the socket is read no
  // further until one of them ends.
  assert.deepEqual(await client.request({ action: 'ping', request_id: 'p1' }), reply('ping', 'pong', 200, 'p1'))
  client.send({ action: 'ping', request_id: 'p2' })
  assert.deepEqual(await arrivedWithin(client, 300), [])
  waiting.shift()!()
  const next = [await client.next(), await client.next()]
  assert.deepEqual(next.map((r) => r.request_id).sort(), [0, 'p2'])
  // Two running: a third may start, a fourth may not.
  client.send({ action: 'hang', n: 3, request_id: 3 })
  while (waiting.length < 3) await sleep(5)
  assert.deepEqual(await client.request({ action: 'hang', n: 4, request_id: 4 }), reply('hang', null, 429, 4, ['Too many detached actions running on this connection (at most 3).']))
  for (const release of waiting.splice(0)) release()
  assert.deepEqual([await client.next(), await client.next(), await client.next()].map((r) => r.data).sort(), [1, 2, 3])
  assert.deepEqual(await client.request({ action: 'ping', request_id: 'p3' }), reply('ping', 'pong', 200, 'p3'))
})

test('streamed lists are detached actions: bounded per socket', async (t) => {
  const { app } = await build(t, { maxDetachedActions: 2 })
  const release: Array<() => void> = []
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      list: action({
        detached: true,
        handler: async (ctx, _args, { action: name, requestId, signal }) => {
          ctx.reply({ action: name, data: 'page 1', requestId })
          await new Promise<void>((resolve) => { release.push(resolve); signal.addEventListener('abort', () => resolve()) })
        }
      })
    }
  }))
  const client = await Client.open(app, '/ws/')
  for (let i = 0; i < 10; i++) client.send({ action: 'list', request_id: i })
  const replies = []
  for (let i = 0; i < 10; i++) replies.push(await client.next())
  assert.deepEqual(replies.filter((r) => r.response_status === 200).map((r) => r.request_id), [0, 1])
  assert.equal(replies.filter((r) => r.response_status === 429).length, 8)
})

test('a client that reads slowly is closed with 1013 and receives the close code after what was queued', async (t) => {
  const { app, logs } = await build(t, { maxBufferedBytes: 64 * 1024 })
  app.dcrf.consumer('/ws/', echo)
  for (let round = 0; round < 3; round++) {
    const slow = await Client.open(app, '/ws/')
    await slow.request({ action: 'join', room: `feed${round}` })
    slow.ws.pause()
    const body = 'x'.repeat(16 * 1024)
    const seen = logs.length
    for (let n = 0; n < 2000 && !logs.slice(seen).some((line) => line.msg === 'client too slow: closing the socket'); n++) {
      await app.dcrf.groupSend(`feed${round}`, { type: 'news', n, body })
      if (n % 20 === 0) await sleep(1)
    }
    // The client reads again, well after the server gave up on it: the close frame still arrives.
    await sleep(1500)
    slow.ws.resume()
    assert.equal((await slow.closed).code, 1013)
    assert.ok(slow.frames.length > 0, 'it got what was queued before the close frame')
  }
  assert.deepEqual(errorsLogged(logs), [])
  assert.equal(logs.find((line) => line.msg === 'client too slow: closing the socket')?.level, 30)
})

test('an oversized frame is closed with 1009, and the client receives the code', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  const big = 'x'.repeat(2 * 1024 * 1024)
  for (let i = 0; i < 8; i++) {
    const client = await Client.open(app, '/ws/')
    client.send({ action: 'echo', big })
    assert.equal((await client.closed).code, 1009, `try ${i}`)
  }
  const healthy = await Client.open(app, '/ws/')
  assert.deepEqual(await healthy.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  assert.deepEqual(errorsLogged(logs), [])
  assert.ok(logs.some((line) => line.msg === 'client protocol error; closing' && line.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && line.level === 30))
})

test('client protocol errors are logged at info, without a stack', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  const client = await Client.open(app, '/ws/')
  client.sendText(Buffer.from([0xff, 0xfe, 0xfd]))
  assert.equal((await client.closed).code, 1007)
  await sleep(50)
  assert.deepEqual(errorsLogged(logs), [])
  const line = logs.find((l) => l.msg === 'client protocol error; closing')
  assert.equal(line?.code, 'WS_ERR_INVALID_UTF8')
  assert.equal(line?.err, undefined)
})

test('handshakeTimeout bounds the whole handshake, request headers included', async (t) => {
  const { app, logs } = await build(t, { handshakeTimeout: 200 })
  app.dcrf.consumer('/ws/', echo)
  const url = new URL(await urlOf(app, '/ws/'))
  const { port } = app.server.address() as AddressInfo
  const started = Date.now()
  const halfSent = tcpConnect(port, '127.0.0.1')
  await once(halfSent, 'connect')
  halfSent.write(`GET ${url.pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`)
  const silent = tcpConnect(port, '127.0.0.1')
  await Promise.all([once(halfSent, 'close'), once(silent, 'close')])
  // Node's own headers timeout would have kept them a minute or more.
  assert.ok(Date.now() - started < 5000)
  assert.ok(logs.some((line) => line.msg === 'request headers not received in time: dropping the connection' && line.level === 30))

  // Upgrades and HTTP requests that send their headers in time are not affected, however long
  // their connection then lives.
  const client = new Client(new WebSocket(url))
  await once(client.ws, 'open')
  await sleep(400)
  assert.deepEqual(await client.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  const keepAlive = tcpConnect(port, '127.0.0.1')
  await once(keepAlive, 'connect')
  const answers: string[] = []
  keepAlive.on('data', (chunk) => answers.push(chunk.toString()))
  keepAlive.write('GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await sleep(400)
  keepAlive.write('GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await sleep(100)
  assert.equal(answers.join('').match(/HTTP\/1.1 404/g)?.length, 2)
  keepAlive.destroy()
})

test('a stuck reader pins at most maxBufferedBytes (256 KiB by default) and a frame before it is closed', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  const stuck = await Client.open(app, '/ws/')
  await stuck.request({ action: 'join', room: 'feed' })
  stuck.ws.pause()
  const [server] = app.websocketServer.clients
  const body = 'x'.repeat(64 * 1024)
  let peak = 0
  for (let n = 0; n < 2000 && server.readyState === WebSocket.OPEN; n++) {
    await app.dcrf.groupSend('feed', { type: 'news', n, body })
    peak = Math.max(peak, server.bufferedAmount)
    if (n % 20 === 0) await sleep(1)
  }
  assert.notEqual(server.readyState, WebSocket.OPEN, 'closed as too slow')
  assert.ok(peak > 0, 'the server did buffer for it')
  assert.ok(peak <= 256 * 1024 + 2 * (body.length + 64), `peak buffered ${peak} bytes`)
})

test('a client that reads is served as fast as it reads, however large the replies it asks for', async (t) => {
  const { app, logs } = await build(t)
  app.dcrf.consumer('/ws/', echo)
  const client = await Client.open(app, '/ws/')
  const id = 'x'.repeat(500_000)
  // 15 MB of replies asked for at once, far past maxBufferedBytes: the frames wait for the client
  // to read, instead of its buffer overflowing.
  for (let n = 0; n < 30; n++) client.send({ action: 'ping', request_id: `${n}${id}` })
  for (let n = 0; n < 30; n++) {
    const answer = await client.next()
    assert.equal(answer.request_id, `${n}${id}`)
  }
  assert.deepEqual(await client.request({ action: 'ping', request_id: 'done' }), reply('ping', 'pong', 200, 'done'))
  assert.ok(!logs.some((line) => line.msg === 'client too slow: closing the socket'))
})
