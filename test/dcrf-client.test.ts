/**
 * The `dcrf-client` package from npm, unmodified, against the example's multiplexed `/ws`: a
 * client written for DCRF works against fastify-dcrf as is. In Node it is given the `ws`
 * package's WebSocket (its `websocket.WebSocket` option, passed to reconnecting-websocket).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import dcrf from 'dcrf-client'
import WebSocket from 'ws'
import { buildApp } from '../example/app.js'

type Client = ReturnType<typeof dcrf.default.connect>

/** The example on a loopback port; a dcrf-client per call, closed after the test. */
async function setup (t: TestContext): Promise<(options?: { pkField?: string }) => Client> {
  const app = await buildApp()
  t.after(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  return (options = {}) => {
    // maxRetries 0: no reconnection when the app closes at the end of the test.
    const client = dcrf.default.connect(url, { ...options, websocket: { WebSocket, maxRetries: 0 } })
    t.after(() => client.close())
    return client
  }
}

/** A subscription callback's calls, each awaited in turn. */
function events () {
  const received: Array<[unknown, string]> = []
  const waiting: Array<(event: [unknown, string]) => void> = []
  return {
    callback: (data: unknown, action: string) => {
      const waiter = waiting.shift()
      if (waiter) waiter([data, action])
      else received.push([data, action])
    },
    next: (): Promise<[unknown, string]> => received.length > 0
      ? Promise.resolve(received.shift()!)
      : new Promise((resolve) => waiting.push(resolve)),
    received
  }
}

test('dcrf-client: create, list, retrieve, update, patch and delete on the things stream', async (t) => {
  const connect = await setup(t)
  const client = connect()

  assert.deepEqual(await client.create('things', { name: 'from dcrf-client' }), { pk: 3, name: 'from dcrf-client', counter: 0 })
  assert.deepEqual(await client.list('things'), [
    { pk: 1, name: 'first', counter: 0 },
    { pk: 2, name: 'second', counter: 0 },
    { pk: 3, name: 'from dcrf-client', counter: 0 }
  ])
  assert.deepEqual(await client.retrieve('things', 3), { pk: 3, name: 'from dcrf-client', counter: 0 })
  assert.deepEqual(await client.update('things', 3, { name: 'updated', counter: 1 }), { pk: 3, name: 'updated', counter: 1 })
  assert.deepEqual(await client.patch('things', 3, { counter: 2 }), { pk: 3, name: 'updated', counter: 2 })
  assert.equal(await client.delete('things', 3), null)

  // Errors reject with the whole reply.
  await assert.rejects(client.retrieve('things', 3), (reply: Record<string, unknown>) => {
    assert.equal(reply.response_status, 404)
    assert.deepEqual(reply.errors, ['Not found'])
    return true
  })
  await assert.rejects(client.create('things', {}), (reply: Record<string, unknown>) => {
    assert.deepEqual(reply.errors, [{ name: ['This field is required.'] }])
    return true
  })
})

test('dcrf-client: a subscription to an instance receives its update and delete events', async (t) => {
  const connect = await setup(t)
  const watcher = connect()
  const writer = connect()

  const onFirst = events()
  assert.equal(await watcher.subscribe('things', 1, onFirst.callback), null)
  assert.deepEqual(await writer.patch('things', 1, { counter: 5 }), { pk: 1, name: 'first', counter: 5 })
  assert.deepEqual(await onFirst.next(), [{ pk: 1, name: 'first', counter: 5 }, 'update'])
  await writer.delete('things', 1)
  // dcrf-client moves DCRF's `{"pk": 1}` of delete events into its pkField (`pk` here).
  assert.deepEqual(await onFirst.next(), [{ pk: 1 }, 'delete'])

  // The stream that serializes `id`, with dcrf-client's pkField set to match.
  const byId = connect({ pkField: 'id' })
  const onSecond = events()
  await byId.subscribe('things_with_id', 2, onSecond.callback)
  await writer.update('things', 2, { name: 'renamed', counter: 7 })
  assert.deepEqual(await onSecond.next(), [{ id: 2, name: 'renamed', counter: 7 }, 'update'])
  await writer.delete('things_with_id', 2)
  assert.deepEqual(await onSecond.next(), [{ id: 2 }, 'delete'])

  // A row that does not exist cannot be subscribed to.
  await assert.rejects(watcher.subscribe('things', 99, () => {}), (reply: Record<string, unknown>) => {
    assert.deepEqual(reply.errors, ['Not found'])
    return true
  })
  assert.deepEqual([onFirst.received, onSecond.received], [[], []])
})
