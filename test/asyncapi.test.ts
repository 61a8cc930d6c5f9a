import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Parser } from '@asyncapi/parser'
import { Type } from '@sinclair/typebox'
import { action, defineConsumer, observer } from 'fastify-dcrf'
import { buildApp } from '../example/app.js'
import { commentConsumer } from '../example/consumers/comments.js'
import { lobby } from '../example/consumers/lobby.js'
import { meConsumer } from '../example/consumers/me.js'
import { restUserConsumer } from '../example/consumers/rest-users.js'
import { thingStreams } from '../example/consumers/things.js'
import { paginatedUserConsumer } from '../example/consumers/users-paginated.js'
import { streamedUserConsumer } from '../example/consumers/users-streamed.js'
import { userConsumer } from '../example/consumers/users.js'
import { build, Client } from './helpers.js'

/** Parses a document with the official parser; fails on any diagnostic of severity error. */
async function validate (doc: unknown): Promise<any> {
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc))
  const problems = diagnostics.filter((d) => d.severity === 0)
  assert.deepEqual(problems.map((d) => `${d.path.join('.')}: ${d.message}`), [], 'no errors')
  assert.ok(document, 'the parser made a document of it')
  return document
}

/** The action names of a consumer's definition, aliases included. */
const actionNames = (consumer: { actions: Record<string, unknown> }): string[] =>
  Object.entries(consumer.actions).flatMap(([name, entry]) => [name, ...((entry as { aliases?: string[] }).aliases ?? [])])

test('the example\'s AsyncAPI document validates and lists every route, action and event', async (t) => {
  const app = await buildApp({ seed: false })
  t.after(() => app.close())
  const response = await app.inject('/asyncapi.json')
  assert.equal(response.statusCode, 200)
  assert.match(String(response.headers['content-type']), /application\/json/)
  const doc = response.json<any>()
  assert.deepEqual(app.dcrf.asyncapi(), doc, 'the route serves what app.dcrf.asyncapi() returns')
  assert.equal(doc.asyncapi, '3.0.0')
  const parsed = await validate(doc)

  const byAddress = new Map(Object.values(doc.channels as Record<string, any>).map((c) => [c.address, c]))
  // The routes of the example's contract.
  const routes: Array<[string, string | null, { actions: Record<string, unknown>, observers?: Record<string, any> }]> = [
    ['/ws/lobby/', null, lobby],
    ['/ws/users/', null, userConsumer],
    ['/ws/users/paginated/', null, paginatedUserConsumer],
    ['/ws/users/streamed/', null, streamedUserConsumer],
    ['/ws/comments/', null, commentConsumer],
    ['/ws/rest/users/', null, restUserConsumer],
    ['/ws/me/', null, meConsumer],
    ...Object.entries(thingStreams).map(([stream, consumer]) => ['/ws', stream, consumer] as [string, string, typeof consumer])
  ]
  assert.deepEqual([...byAddress.keys()].sort(), ['/ws', '/ws/chat/room/', ...routes.map(([path]) => path).filter((p) => p !== '/ws')].sort())
  assert.equal(parsed.channels().length, byAddress.size)

  const operations = Object.values(doc.operations as Record<string, any>)
  const requestsOn = (path: string, stream: string | null): Set<string> => {
    const names = new Set<string>()
    for (const operation of operations.filter((o) => o.action === 'receive')) {
      const channelId = operation.channel.$ref.split('/').pop()
      if (doc.channels[channelId].address !== path) continue
      const messageId = operation.messages[0].$ref.split('/').pop()
      let payload = doc.components.messages[messageId].payload
      if (stream !== null) {
        if (payload.properties.stream.const !== stream) continue
        payload = payload.properties.payload
      }
      const name = payload.allOf[0].properties.action
      for (const n of name.enum ?? [name.const]) names.add(n)
      // Every request names its reply, correlated by request_id.
      assert.equal(operation.reply.messages.length, 2)
      assert.equal(doc.components.messages[messageId].correlationId.location, stream === null ? '$message.payload#/request_id' : '$message.payload#/payload/request_id')
    }
    return names
  }
  for (const [path, stream, consumer] of routes) {
    assert.deepEqual([...requestsOn(path, stream)].sort(), actionNames(consumer).sort(), `the actions of ${path} ${stream ?? ''}`)
  }
  // The chat room's consumer is built with its database: its actions, by the example's contract.
  const chat = requestsOn('/ws/chat/room/', null)
  for (const name of ['join_room', 'leave_room', 'create_message', 'subscribe_to_messages_in_room', 'retrieve', 'subscribe_instance']) {
    assert.ok(chat.has(name), `the chat room's ${name}`)
  }

  // Events: every observer's, and the instance subscriptions' updates and deletes.
  const sent = operations.filter((o) => o.action === 'send').map((o) => ({
    address: doc.channels[o.channel.$ref.split('/').pop()].address,
    events: o.messages.map((m: any) => doc.components.messages[m.$ref.split('/').pop()].name)
  }))
  for (const [path, , consumer] of routes) {
    for (const [name, definition] of Object.entries(consumer.observers ?? {})) {
      const expected = definition.kind === 'model' ? ['create', 'update', 'delete'] : [definition.signal]
      assert.ok(sent.some((s) => s.address === path && expected.every((e) => s.events.includes(e))), `observer ${name} of ${path}`)
    }
    if (actionNames(consumer).includes('subscribe_instance')) {
      assert.ok(sent.some((s) => s.address === path && s.events.includes('update') && s.events.includes('delete')), `instance events of ${path}`)
    }
  }
  assert.ok(sent.some((s) => s.address === '/ws/comments/'), 'the comments observer')

  // Replies are the serializers' wire schemas: the users' fields, never the write-only password.
  const retrieveReply = doc.components.messages['ws_users.retrieve.reply'].payload
  assert.deepEqual(Object.keys(retrieveReply.properties.data.properties).sort(), ['email', 'id', 'username'])
  assert.ok(!JSON.stringify(doc).includes('"Date"'), 'no TypeBox kind JSON cannot carry')
})

test('the example serves its metrics on /metrics, and its index page links both', async (t) => {
  const app = await buildApp({ seed: false })
  t.after(() => app.close())
  const client = await Client.open(app, '/ws/lobby/')
  client.close()
  await client.closed
  const response = await app.inject('/metrics')
  assert.equal(response.statusCode, 200)
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  assert.match(response.body, /^dcrf_connections_total\{route="\/ws\/lobby\/",outcome="accepted"\} 1$/m)
  assert.match(response.body, /^process_cpu_user_seconds_total /m, 'and Node\'s own')
  const index = await app.inject('/')
  assert.match(index.body, /href="\/metrics"/)
  assert.match(index.body, /href="\/asyncapi\.json"/)
})

test('action schemas become request payloads; dates travel as strings; a multiplexed stream is wrapped', async (t) => {
  const { app } = await build(t, { asyncapi: { info: { title: 'demo', version: '1.2.3' }, servers: { local: { host: 'localhost:3000', protocol: 'ws' } } } })
  app.dcrf.multiplex('/ws/', {
    calendar: defineConsumer({
      observers: { ticks: observer('tick') },
      actions: {
        book: action({ schema: Type.Object({ at: Type.Date(), seats: Type.Integer({ minimum: 1 }) }), aliases: ['reserve'], handler: () => ({ data: null }) }),
        slow: action({ detached: true, handler: async () => ({ data: null }) })
      }
    })
  })
  const doc = app.dcrf.asyncapi() as any
  await validate(doc)
  assert.deepEqual(doc.info, { title: 'demo', version: '1.2.3' })
  assert.deepEqual(doc.servers, { local: { host: 'localhost:3000', protocol: 'ws' } })
  const request = doc.components.messages['ws.calendar.book.request'].payload
  assert.equal(request.properties.stream.const, 'calendar')
  const [envelope, args] = request.properties.payload.allOf
  assert.deepEqual(envelope.properties.action, { enum: ['book', 'reserve'] })
  assert.deepEqual(args.properties.at, { type: 'string', format: 'date-time' })
  assert.deepEqual(args.properties.seats, { type: 'integer', minimum: 1 })
  assert.deepEqual(args.required, ['at', 'seats'])
  assert.match(doc.operations['ws.calendar.slow'].summary, /detached/)
  assert.deepEqual(doc.operations['ws.calendar.ticks'].messages.map((m: any) => m.$ref), ['#/channels/ws/messages/ws.calendar.ticks.tick'])
  // Served only when asked for.
  assert.equal((await app.inject('/asyncapi.json')).statusCode, 404)
})

test('a bad asyncapi option fails the boot', async (t) => {
  await assert.rejects(build(t, { asyncapi: { route: 'asyncapi.json' } }), { code: 'DCRF_ERR_INVALID_OPTION', message: /asyncapi\.route/ })
})
