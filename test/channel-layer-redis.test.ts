import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { defineConsumer } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

const REDIS_URL = process.env.REDIS_URL

const rooms = defineConsumer({
  actions: {
    join: async (ctx, { group }) => { await ctx.addGroup(group as string); return { status: 201 } },
    say: async (ctx, { group, text }) => { await ctx.groupSend(group as string, { type: 'said', text }); return { status: 202 } },
    ping: () => ({ data: 'pong' })
  },
  groupHandlers: { said: (ctx, message) => ctx.reply({ action: 'said', data: message.text }) }
})

test('group messages cross two Fastify instances through Redis', { skip: REDIS_URL ? false : 'REDIS_URL is not set' }, async (t) => {
  const one = await build(t, { channelLayer: { redis: REDIS_URL } })
  const two = await build(t, { channelLayer: { redis: REDIS_URL } })
  one.app.dcrf.consumer('/ws/', rooms)
  two.app.dcrf.consumer('/ws/', rooms)
  // Redis is shared with other runs: a group name of this run only.
  const group = `room-${randomUUID()}`
  const onOne = await Client.open(one.app, '/ws/')
  const onTwo = await Client.open(two.app, '/ws/')
  assert.deepEqual(await onOne.request({ action: 'join', group, request_id: 1 }), reply('join', null, 201, 1))
  assert.deepEqual(await onTwo.request({ action: 'join', group, request_id: 1 }), reply('join', null, 201, 1))

  // From a route of the second process to members of both.
  await two.app.dcrf.groupSend(group, { type: 'said', text: 'from two' })
  assert.deepEqual(await onOne.next(), reply('said', 'from two', 200, null))
  assert.deepEqual(await onTwo.next(), reply('said', 'from two', 200, null))

  // From a consumer of the first process.
  assert.deepEqual(await onOne.request({ action: 'say', group, text: 'from one', request_id: 's' }), reply('say', null, 202, 's'))
  assert.deepEqual(await onOne.next(), reply('said', 'from one', 200, null))
  assert.deepEqual(await onTwo.next(), reply('said', 'from one', 200, null))
})

test('a Redis that cannot be reached is logged once, never crashes, and close stays bounded', { timeout: 20000 }, async (t) => {
  // Port 1 on loopback refuses connections: the layer keeps retrying in the background.
  const { app, logs } = await build(t, { channelLayer: { redis: 'redis://127.0.0.1:1', closeTimeout: 200 } })
  app.dcrf.consumer('/ws/', rooms)
  const client = await Client.open(app, '/ws/')
  // Actions that do not need the channel layer keep working.
  assert.deepEqual(await client.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  await new Promise((resolve) => setTimeout(resolve, 500))
  const lost = logs.filter((line) => /Redis connection lost/.test(line.msg))
  assert.equal(lost.length, 1)
  assert.equal(lost[0].level, 50)
  await app.close()
  assert.ok(logs.some((line) => /close timed out/.test(line.msg)), 'the bounded close is logged')
})
