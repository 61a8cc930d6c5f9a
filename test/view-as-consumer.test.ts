import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { viewAsConsumer } from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

/** A plain REST API over an in-memory list, protected by a bearer token or a session cookie. */
function restApi (app: FastifyInstance): void {
  const people = [{ id: 1, name: 'ada' }, { id: 2, name: 'bob' }]
  app.addHook('onRequest', async (request, response) => {
    if (!request.url.startsWith('/api/')) return
    const bearer = request.headers.authorization === 'Bearer good'
    const cookie = /(?:^|;\s*)session=good(?:;|$)/.test(request.headers.cookie ?? '')
    if (!bearer && !cookie) return response.code(401).send({ detail: 'Authentication credentials were not provided.' })
  })
  app.get('/api/people/', async (request) => {
    const { name } = request.query as { name?: string }
    return people.filter((p) => name === undefined || p.name === name)
  })
  app.get('/api/people/:id', async (request, response) => {
    const person = people.find((p) => p.id === Number((request.params as { id: string }).id))
    return person ?? response.code(404).send({ detail: 'Not found.' })
  })
  app.post('/api/people/', {
    schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } }
  }, async (request, response) => {
    const person = { id: people.length + 1, name: (request.body as { name: string }).name }
    people.push(person)
    return response.code(201).send(person)
  })
  app.patch('/api/people/:id', async (request) => {
    const person = people.find((p) => p.id === Number((request.params as { id: string }).id))!
    Object.assign(person, request.body)
    return person
  })
  app.get('/api/text', async () => 'plain words')
}

async function setup (t: TestContext) {
  const { app } = await build(t)
  restApi(app)
  app.dcrf.consumer('/ws/rest/', viewAsConsumer({
    url: '/api/people/:id?',
    actions: { list: 'GET', retrieve: 'GET', create: 'POST', patch: 'PATCH' }
  }))
  app.dcrf.consumer('/ws/default/', viewAsConsumer({ url: '/api/people/:id?' }))
  app.dcrf.consumer('/ws/text/', viewAsConsumer({ url: '/api/text', actions: { read: 'GET' } }))
  app.dcrf.consumer('/ws/one/', viewAsConsumer({ url: '/api/people/:id', actions: { retrieve: 'GET' } }))
  return app
}

test('actions become requests to the route: query, parameters, data; its body and status come back', async (t) => {
  const app = await setup(t)
  const client = await Client.open(app, '/ws/rest/', { headers: { authorization: 'Bearer good' } })
  assert.deepEqual(await client.request({ action: 'list', request_id: 1 }), reply('list', [{ id: 1, name: 'ada' }, { id: 2, name: 'bob' }], 200, 1))
  assert.deepEqual(await client.request({ action: 'list', request_id: 2, query: { name: 'bob' } }), reply('list', [{ id: 2, name: 'bob' }], 200, 2))
  assert.deepEqual(await client.request({ action: 'retrieve', request_id: 3, parameters: { id: 2 } }), reply('retrieve', { id: 2, name: 'bob' }, 200, 3))
  assert.deepEqual(await client.request({ action: 'retrieve', request_id: 4, parameters: { id: 9 } }), reply('retrieve', { detail: 'Not found.' }, 404, 4))
  assert.deepEqual(await client.request({ action: 'create', request_id: 5, data: { name: 'cy' } }), reply('create', { id: 3, name: 'cy' }, 201, 5))
  assert.deepEqual(await client.request({ action: 'patch', request_id: 6, parameters: { id: 3 }, data: { name: 'cyd' } }), reply('patch', { id: 3, name: 'cyd' }, 200, 6))
  const invalid = await client.request({ action: 'create', request_id: 7, data: {} })
  assert.equal(invalid.response_status, 400)
  assert.equal(invalid.data.message, "body must have required property 'name'")
  assert.deepEqual(await client.request({ action: 'delete', request_id: 8 }), reply('delete', null, 405, 8, ['Method "delete" not allowed.']))
})

test("the connection's headers and cookies reach the route, so its authentication applies", async (t) => {
  const app = await setup(t)
  const anonymous = await Client.open(app, '/ws/rest/')
  assert.deepEqual(await anonymous.request({ action: 'list', request_id: 1 }), reply('list', { detail: 'Authentication credentials were not provided.' }, 401, 1))
  const withCookie = await Client.open(app, '/ws/rest/', { headers: { cookie: 'theme=dark; session=good' } })
  assert.deepEqual(await withCookie.request({ action: 'retrieve', request_id: 2, parameters: { id: 1 } }), reply('retrieve', { id: 1, name: 'ada' }, 200, 2))
})

test("DCRF's default mapping: create is PUT, update PATCH, list and retrieve GET", async (t) => {
  const app = await setup(t)
  const client = await Client.open(app, '/ws/default/', { headers: { authorization: 'Bearer good' } })
  assert.deepEqual(await client.request({ action: 'retrieve', request_id: 1, parameters: { id: 1 } }), reply('retrieve', { id: 1, name: 'ada' }, 200, 1))
  // The REST API has no PUT route: Fastify's own 404 comes back.
  const created = await client.request({ action: 'create', request_id: 2, data: { name: 'x' } })
  assert.equal(created.response_status, 404)
  assert.match(created.data.message, /Route PUT:\/api\/people\/ not found/)
  assert.deepEqual(await client.request({ action: 'update', request_id: 3, parameters: { id: 1 }, data: { name: 'ada l.' } }), reply('update', { id: 1, name: 'ada l.' }, 200, 3))
})

test('bad query or parameters get a 400; text bodies come back as text', async (t) => {
  const app = await setup(t)
  const client = await Client.open(app, '/ws/rest/', { headers: { authorization: 'Bearer good' } })
  const one = await Client.open(app, '/ws/one/', { headers: { authorization: 'Bearer good' } })
  assert.deepEqual(await one.request({ action: 'retrieve', request_id: 1 }), reply('retrieve', null, 400, 1, [{ parameters: ['Missing "id".'] }]))
  assert.deepEqual(await one.request({ action: 'retrieve', request_id: 1, parameters: { id: 1 } }), reply('retrieve', { id: 1, name: 'ada' }, 200, 1))
  assert.deepEqual(await client.request({ action: 'list', request_id: 2, query: 'name=bob' }), reply('list', null, 400, 2, [{ query: ['Expected a dictionary of items.'] }]))
  assert.deepEqual(await client.request({ action: 'retrieve', request_id: 3, parameters: [1] }), reply('retrieve', null, 400, 3, [{ parameters: ['Expected a dictionary of items.'] }]))
  // Parameters are encoded: they cannot escape their path segment.
  assert.equal((await client.request({ action: 'retrieve', request_id: 4, parameters: { id: '../text' } })).response_status, 404)
  // Text that cannot be percent-encoded (a lone surrogate) is the client's mistake, not a fault.
  client.sendText('{"action":"retrieve","request_id":6,"parameters":{"id":"\\ud800"}}')
  assert.deepEqual(await client.next(), reply('retrieve', null, 400, 6, [{ parameters: ['"id" is not a valid string.'] }]))
  const text = await Client.open(app, '/ws/text/', { headers: { authorization: 'Bearer good' } })
  assert.deepEqual(await text.request({ action: 'read', request_id: 5 }), reply('read', 'plain words', 200, 5))
})
