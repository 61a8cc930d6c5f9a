import { test } from 'node:test'
import assert from 'node:assert/strict'
import { action, defineConsumer, type ConsumerContext } from 'fastify-dcrf'
import { build, Client, reply, sleep } from './helpers.js'

test('sync and async actions receive the frame arguments and answer with their status', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      a_sync_action: (_ctx, { pk }) => ({ data: { 'response with': 'some message', pk }, status: 200 }),
      an_async_action: async (_ctx, { some }) => {
        await sleep(5)
        return { data: { 'response with': some }, status: 202 }
      },
      default_status: () => ({ data: [1, 2] }),
      no_data: () => ({ status: 204 })
    }
  }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'a_sync_action', request_id: 1, pk: 5 }), reply('a_sync_action', { 'response with': 'some message', pk: 5 }, 200, 1))
  assert.deepEqual(await client.request({ action: 'an_async_action', request_id: 2, some: 'x' }), reply('an_async_action', { 'response with': 'x' }, 202, 2))
  assert.deepEqual(await client.request({ action: 'default_status', request_id: 3 }), reply('default_status', [1, 2], 200, 3))
  assert.deepEqual(await client.request({ action: 'no_data', request_id: 4 }), reply('no_data', null, 204, 4))
})

test('frames are handled strictly in arrival order, one after another', async (t) => {
  const { app } = await build(t)
  const running: number[] = []
  let concurrent = 0
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      work: async (_ctx, { n, delay }) => {
        concurrent++
        running.push(concurrent)
        await sleep(delay as number)
        concurrent--
        return { data: n }
      },
      quick: (_ctx, { n }) => ({ data: n })
    }
  }))
  const client = await Client.open(app, '/ws/')
  const delays = [30, 1, 20, 0, 10, 5, 0, 25]
  delays.forEach((delay, n) => client.send(n % 3 === 0 ? { action: 'quick', n } : { action: 'work', n, delay }))
  for (let n = 0; n < delays.length; n++) {
    assert.equal((await client.next()).data, n)
  }
  assert.ok(running.every((c) => c === 1), 'no two actions of one connection ran at once')
})

test('an alias answers under the name the client used', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      delete_user: action({ aliases: ['remove_user', 'drop'], handler: (_ctx, args, call) => ({ data: { user_pk: args.user_pk, called: call.action } }) })
    }
  }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'delete_user', request_id: 1, user_pk: 82 }), reply('delete_user', { user_pk: 82, called: 'delete_user' }, 200, 1))
  assert.deepEqual(await client.request({ action: 'remove_user', request_id: 2, user_pk: 82 }), reply('remove_user', { user_pk: 82, called: 'remove_user' }, 200, 2))
  assert.deepEqual(await client.request({ action: 'drop', request_id: 3, user_pk: 1 }), reply('drop', { user_pk: 1, called: 'drop' }, 200, 3))
})

test('a detached action runs beside the queue and replies when done', async (t) => {
  const { app } = await build(t)
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      slow: action({
        detached: true,
        handler: async () => {
          await released
          return { data: 'slow done' }
        }
      }),
      fast: (_ctx, { n }) => {
        if (n === 3) release()
        return { data: n }
      }
    }
  }))
  const client = await Client.open(app, '/ws/')
  client.send({ action: 'slow', request_id: 's' })
  for (const n of [1, 2, 3]) client.send({ action: 'fast', request_id: n, n })
  // The queue serves the fast actions while the slow one waits; the third one releases it.
  assert.deepEqual(await client.next(), reply('fast', 1, 200, 1))
  assert.deepEqual(await client.next(), reply('fast', 2, 200, 2))
  assert.deepEqual(await client.next(), reply('fast', 3, 200, 3))
  assert.deepEqual(await client.next(), reply('slow', 'slow done', 200, 's'))
})

test('a detached action is cancelled when the socket closes', async (t) => {
  const { app } = await build(t)
  let started!: () => void
  const running = new Promise<void>((resolve) => { started = resolve })
  let aborted = false
  let finished = false
  let disconnected!: () => void
  const disconnect = new Promise<void>((resolve) => { disconnected = resolve })
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      forever: action({
        detached: true,
        handler: async (_ctx, _args, { signal }) => {
          started()
          await new Promise((_resolve, reject) => signal.addEventListener('abort', () => {
            aborted = true
            reject(signal.reason)
          }))
          finished = true
          return { data: 'never' }
        }
      }),
      quick: () => ({ data: 'served' })
    },
    onDisconnect: () => disconnected()
  }))
  const client = await Client.open(app, '/ws/')
  client.send({ action: 'forever', request_id: 1 })
  await running
  assert.deepEqual(await client.request({ action: 'quick', request_id: 2 }), reply('quick', 'served', 200, 2))
  assert.equal(aborted, false)
  client.close()
  await disconnect
  assert.equal(aborted, true)
  assert.equal(finished, false)
})

test('a detached action failing answers its error like any action', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      fails: action({ detached: true, handler: async () => { throw new Error('hidden') } })
    }
  }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'fails', request_id: 1 }), reply('fails', null, 500, 1, ['A server error occurred.']))
})

test('getActionName overrides how the action is read from a frame', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({
    getActionName: ({ type, ...args }) => ({ action: type, args }),
    actions: { greet: (_ctx, { name }) => ({ data: `hello ${name}` }) }
  }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ type: 'greet', name: 'ada', request_id: 1 }), reply('greet', 'hello ada', 200, 1))
  assert.deepEqual(await client.request({ action: 'greet', request_id: 2 }), reply(null, null, 405, 2, ['Unable to find action in message body.']))
})

test('onConnect runs first, actions can send any frame, onDisconnect runs last with the code', async (t) => {
  const { app } = await build(t)
  let disconnected!: (value: { code: number, state: unknown }) => void
  const disconnect = new Promise<{ code: number, state: unknown }>((resolve) => { disconnected = resolve })
  app.dcrf.consumer('/ws/', defineConsumer({
    state: () => ({ seen: [] as string[] }),
    onConnect: async (ctx) => {
      await sleep(10)
      ctx.state.seen.push('connect')
      ctx.send({ hello: 'world' })
    },
    onDisconnect: (ctx, code) => { disconnected({ code, state: ctx.state.seen }) },
    actions: {
      chatter: (ctx, _args, { requestId }) => {
        ctx.state.seen.push('chatter')
        ctx.send(['any', 'json'])
        ctx.reply({ action: 'custom', data: { x: 1 }, status: 202, requestId })
        ctx.reply({ action: 'bare' })
      }
    }
  }))
  const client = await Client.open(app, '/ws/')
  client.send({ action: 'chatter', request_id: 9 })
  assert.deepEqual(await client.next(), { hello: 'world' })
  assert.deepEqual(await client.next(), ['any', 'json'])
  assert.deepEqual(await client.next(), reply('custom', { x: 1 }, 202, 9))
  assert.deepEqual(await client.next(), reply('bare', null, 200, null))
  client.ws.close(4001)
  assert.deepEqual(await disconnect, { code: 4001, state: ['connect', 'chatter'] })
})

test('each connection has its own context and state; the request carries it', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({
    state: () => ({ count: 0 }),
    actions: {
      inc: (ctx) => ({ data: ++ctx.state.count }),
      whoami: (ctx: ConsumerContext) => ({ data: { same: ctx.request.dcrf === ctx, query: ctx.request.query } })
    }
  }))
  const a = await Client.open(app, '/ws/?name=a')
  const b = await Client.open(app, '/ws/?name=b')
  assert.equal((await a.request({ action: 'inc' })).data, 1)
  assert.equal((await a.request({ action: 'inc' })).data, 2)
  assert.equal((await b.request({ action: 'inc' })).data, 1)
  assert.deepEqual((await b.request({ action: 'whoami' })).data, { same: true, query: { name: 'b' } })
})

test('frames a client sent before closing are still handled', async (t) => {
  const { app } = await build(t)
  const handled: number[] = []
  let done!: () => void
  const finished = new Promise<void>((resolve) => { done = resolve })
  app.dcrf.consumer('/ws/', defineConsumer({
    actions: {
      record: async (_ctx, { n }) => {
        await sleep(5)
        handled.push(n as number)
        return { data: n }
      }
    },
    onDisconnect: () => done()
  }))
  const client = await Client.open(app, '/ws/')
  for (let n = 0; n < 5; n++) client.send({ action: 'record', n })
  client.close()
  await finished
  assert.deepEqual(handled, [0, 1, 2, 3, 4])
})

test('an HTTP request to a consumer route is answered 404', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({ actions: {} }))
  const response = await app.inject({ method: 'GET', url: '/ws/' })
  assert.equal(response.statusCode, 404)
})
