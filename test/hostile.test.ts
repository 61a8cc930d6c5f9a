import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { integer, jsonb, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { Type } from '@sinclair/typebox'
import { action, crud, defineConsumer, instanceSubscriptions, serializer, type Database } from 'fastify-dcrf'
import { backends, type Backend } from './db.js'
import { build, Client, reply } from './helpers.js'

const accounts = pgTable('accounts', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  owner: text('owner').notNull().default('server'),
  counter: integer('counter').notNull().default(0),
  secret: text('secret').notNull().default(''),
  extra: jsonb('extra')
})
const DDL = `create table accounts (id serial primary key, name text not null, owner text not null default 'server',
  counter integer not null default 0, secret text not null default '', extra jsonb)`

const consumer = defineConsumer({
  table: accounts,
  serializer: serializer(accounts, { fields: ['id', 'name', 'owner', 'counter', 'secret', 'extra'], readOnly: ['owner'], writeOnly: ['secret'] }),
  actions: {
    ...crud(),
    ...instanceSubscriptions(),
    echo: (_ctx, args) => ({ data: args }),
    typed: action({ schema: Type.Object({ n: Type.Integer({ maximum: 10 }) }), handler: (_ctx, { n }) => ({ data: n }) })
  }
})

async function setup (t: TestContext, backend: Backend) {
  const { db } = await backend.create(t, DDL)
  const { app, logs } = await build(t, { db: db as Database })
  app.dcrf.consumer('/ws/', consumer)
  return { app, logs, db: app.dcrf.db, client: await Client.open(app, '/ws/') }
}

function pollutionCheck (): void {
  for (const key of ['isAdmin', 'polluted', 'owner']) {
    assert.equal(({} as Record<string, unknown>)[key], undefined, `Object.prototype.${key}`)
  }
}

for (const backend of backends) {
  test(`[${backend.name}] a corpus of hostile frames: every one answered, the socket keeps serving`, async (t) => {
    const { client, db } = await setup(t, backend)
    const deep = '['.repeat(50_000) + ']'.repeat(50_000)
    const corpus: Array<[string, (answer: any) => void]> = [
      ['{"action": "create", ', (a) => assert.equal(a.response_status, 400)],
      ['[]', (a) => assert.deepEqual(a.errors, ['Message must be a JSON object.'])],
      ['null', (a) => assert.deepEqual(a.errors, ['Message must be a JSON object.'])],
      ['"a string"', (a) => assert.deepEqual(a.errors, ['Message must be a JSON object.'])],
      ['{}', (a) => assert.deepEqual(a.errors, ['Unable to find action in message body.'])],
      ['{"action": 1e400}', (a) => assert.deepEqual(a.errors, ['Method "null" not allowed.'])],
      ['{"action": true}', (a) => assert.deepEqual(a.errors, ['Method "true" not allowed.'])],
      [`{"action": "echo", "deep": ${deep}}`, (a) => assert.deepEqual(a, reply(null, null, 400, null, ['Message is nested too deeply (at most 32 levels).']))],
      [`{"action": "create", "request_id": 1, "data": ${deep}}`, (a) => assert.deepEqual(a, reply(null, null, 400, null, ['Message is nested too deeply (at most 32 levels).']))],
      ['{"action": "retrieve", "pk": {"__proto__": {"polluted": true}}}', (a) => assert.deepEqual(a.errors, ['Not found'])],
      ['{"action": "echo", "__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}', (a) => assert.equal(a.response_status, 200)],
      ['{"action": "__proto__"}', (a) => assert.deepEqual(a.errors, ['Method "__proto__" not allowed.'])],
      ['{"action": "hasOwnProperty"}', (a) => assert.deepEqual(a.errors, ['Method "hasOwnProperty" not allowed.'])],
      ['{"action": "create", "data": {"__proto__": {"isAdmin": true}, "name": "proto"}}', (a) => assert.equal(a.response_status, 201)],
      ['{"action": "create", "data": {"name": "x", "constructor": {"prototype": {"isAdmin": true}}}}', (a) => assert.equal(a.response_status, 201)],
      ['{"action": "create", "data": {"name": "n", "counter": 99999999999}}', (a) => assert.deepEqual(a.errors, [{ counter: ['Ensure this value is less than or equal to 2147483647.'] }])],
      ['{"action": "create", "data": {"name": "n", "counter": 1.5}}', (a) => assert.deepEqual(a.errors, [{ counter: ['A valid integer is required.'] }])],
      ['{"action": "create", "data": {"name": "n", "counter": "12abc"}}', (a) => assert.deepEqual(a.errors, [{ counter: ['A valid integer is required.'] }])],
      ['{"action": "create", "data": {"name": ["not", "a", "string"]}}', (a) => assert.deepEqual(a.errors, [{ name: ['Not a valid string.'] }])],
      ['{"action": "create", "data": {"name": {"nested": 1}}}', (a) => assert.deepEqual(a.errors, [{ name: ['Not a valid string.'] }])],
      ['{"action": "create", "data": {"name": "\\ud800 lone"}}', (a) => assert.deepEqual(a.errors, [{ name: ['Not a valid string.'] }])],
      ['{"action": "create", "data": {"name": "nul \\u0000 byte"}}', (a) => assert.deepEqual(a.errors, [{ name: ['Null characters are not allowed.'] }])],
      ['{"action": "create", "data": {"name": "a", "extra": {"text": "nul \\u0000 in json"}}}', (a) => assert.equal(a.response_status, 400)],
      ['{"action": "create", "data": []}', (a) => assert.deepEqual(a.errors, [{ data: ['Invalid data. Expected a dictionary, but got list.'] }])],
      ['{"action": "create", "data": "name=x"}', (a) => assert.deepEqual(a.errors, [{ data: ['Invalid data. Expected a dictionary, but got str.'] }])],
      ['{"action": "patch", "pk": [1], "data": {}}', (a) => assert.deepEqual(a.errors, ['Not found'])],
      ['{"action": "patch", "pk": "1 OR 1=1", "data": {}}', (a) => assert.deepEqual(a.errors, ['Not found'])],
      ['{"action": "retrieve", "pk": "1; drop table accounts; --"}', (a) => assert.deepEqual(a.errors, ['Not found'])],
      ['{"action": "typed", "n": 11}', (a) => assert.deepEqual(a.errors, [{ n: ['Ensure this value is less than or equal to 10.'] }])],
      ['{"action": "typed", "n": {"$gt": 1}}', (a) => assert.deepEqual(a.errors, [{ n: ['A valid integer is required.'] }])],
      ['{"action": "subscribe_instance", "pk": 1}', (a) => assert.deepEqual(a.errors, [{ request_id: ['This field is required.'] }])],
      ['{"action": "list", "limit": -1, "offset": "x"}', (a) => assert.equal(a.response_status, 200)]
    ]
    for (const [frame, check] of corpus) {
      client.sendText(frame)
      const answer = await client.next()
      check(answer)
      assert.deepEqual(Object.keys(answer), ['errors', 'data', 'action', 'response_status', 'request_id'], frame.slice(0, 80))
    }
    pollutionCheck()

    // Valid data is stored verbatim, however odd: SQL-looking, non-ASCII, long.
    const odd = ["'; drop table accounts; --", 'Robert"); DELETE FROM accounts;--', '日本語 ✓ émoji 😀 עברית', 'x'.repeat(200_000)]
    for (const name of odd) {
      const created = await client.request({ action: 'create', request_id: 'odd', data: { name, owner: 'attacker', id: 999, unknown: 1 } })
      assert.equal(created.response_status, 201)
      assert.equal(created.data.name, name)
      // Read-only and unknown fields were ignored; the write-only one is never sent.
      assert.equal(created.data.owner, 'server')
      assert.notEqual(created.data.id, 999)
      assert.equal('secret' in created.data, false)
    }
    const stored = await db.select().from(accounts)
    assert.deepEqual(stored.slice(-4).map((row) => row.name), odd)
    assert.ok(stored.every((row) => row.owner === 'server'))
    // The two objects with "__proto__"/"constructor" keys were created plainly.
    assert.deepEqual(stored.slice(0, 2).map((row) => row.name), ['proto', 'x'])
    assert.deepEqual(await client.request({ action: 'echo', request_id: 'still' }), reply('echo', {}, 200, 'still'))
  })

  test(`[${backend.name}] thousands of random frames: one answer each, in order, and nothing breaks`, async (t) => {
    const { client, db } = await setup(t, backend)
    const random = mulberry32(20261127)
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]
    const values = (): unknown => pick<() => unknown>([
      () => null, () => true, () => random() * 1e12 - 5e11, () => Math.floor(random() * 100),
      () => 'x'.repeat(Math.floor(random() * 50)), () => '\ud83d', () => "' or 1=1 --", () => '__proto__',
      () => [values(), values()], () => ({ __proto__: { polluted: true }, a: values() }), () => ({ name: values() })
    ])()
    const actions = ['list', 'retrieve', 'create', 'update', 'patch', 'delete', 'echo', 'typed', 'subscribe_instance', 'unsubscribe_instance', 'nope', '', 7, null]
    const total = 3000
    let sent = 0
    for (let batch = 0; batch < total / 100; batch++) {
      for (let i = 0; i < 100; i++) {
        const kind = random()
        if (kind < 0.05) {
          client.sendText(pick(['{', '[1,2', '"x"', '', '{"action":', 'nul\u0000l']))
        } else {
          const frame: Record<string, unknown> = { action: pick(actions), request_id: sent }
          if (random() < 0.7) frame.pk = values()
          if (random() < 0.7) frame.data = random() < 0.5 ? { name: values(), counter: values(), extra: values() } : values()
          if (random() < 0.2) frame.limit = values()
          client.send(frame)
        }
        sent++
      }
      // Every frame is answered, in order: the barrier's reply comes after the batch's.
      for (let i = 0; i < 100; i++) {
        const answer = await client.next()
        // A clear answer for each: never a server error, whatever was sent.
        assert.ok(answer.response_status >= 200 && answer.response_status < 500, JSON.stringify(answer).slice(0, 300))
      }
    }
    pollutionCheck()
    assert.deepEqual(await client.request({ action: 'echo', request_id: 'alive' }), reply('echo', {}, 200, 'alive'))
    const rows = await db.select().from(accounts)
    assert.ok(rows.every((row) => row.owner === 'server'))
  })
}

/** A small seeded PRNG, so a failing run can be replayed. */
function mulberry32 (seed: number): () => number {
  return () => {
    seed |= 0
    seed = (seed + 0x6D2B79F5) | 0
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}
