import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  action,
  allowAny,
  and,
  defineConsumer,
  fromHook,
  isAuthenticated,
  not,
  notAuthenticated,
  or,
  type Permission
} from 'fastify-dcrf'
import { build, Client, reply } from './helpers.js'

const DENIED = ['You do not have permission to perform this action.']

/** A Fastify authentication hook: `?token=<name>` of a known user sets `request.user`, otherwise 401. */
const tokens = new Map([['ada-token', { id: 1, username: 'ada' }], ['bob-token', { id: 2, username: 'bob' }]])
async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const token = (request.query as Record<string, string>).token
  const user = tokens.get(token)
  if (user === undefined) {
    await reply.code(401).send({ error: 'Unauthorized' })
    return
  }
  request.user = user
}

/** Sets `request.user` when the token is valid, and lets anonymous requests through. */
async function identify (request: FastifyRequest): Promise<void> {
  request.user = tokens.get((request.query as Record<string, string>).token) ?? null
}

const echo = { ping: () => ({ data: 'pong' }) }
const allow: Permission = { hasPermission: () => true }
const deny: Permission = { hasPermission: () => false }
const asyncAllow: Permission = { hasPermission: async () => true }
const asyncDeny: Permission = { hasPermission: async () => false }

test('permissions are checked before the action lookup', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({ permissions: [deny], actions: echo }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'ping', request_id: 1 }), reply('ping', null, 403, 1, DENIED))
  assert.deepEqual(await client.request({ action: 'no_such_action', request_id: 2 }), reply('no_such_action', null, 403, 2, DENIED))
})

test('a permission sees the action name and every argument', async (t) => {
  const { app } = await build(t)
  const onlyEvenPk: Permission = { hasPermission: (_ctx, actionName, args) => actionName === 'ping' && (args.pk as number) % 2 === 0 }
  app.dcrf.consumer('/ws/', defineConsumer({ permissions: [onlyEvenPk], actions: { ...echo, other: () => ({ data: 1 }) } }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'ping', pk: 2, request_id: 1 }), reply('ping', 'pong', 200, 1))
  assert.deepEqual(await client.request({ action: 'ping', pk: 3, request_id: 2 }), reply('ping', null, 403, 2, DENIED))
  assert.deepEqual(await client.request({ action: 'other', pk: 2, request_id: 3 }), reply('other', null, 403, 3, DENIED))
})

test('allowAny and isAuthenticated: anonymous users are denied action by action, not refused', async (t) => {
  const { app } = await build(t)
  await app.register(async (scope) => {
    scope.addHook('onRequest', identify)
    scope.dcrf.consumer('/ws/open/', defineConsumer({ permissions: [allowAny], actions: echo }))
    scope.dcrf.consumer('/ws/private/', defineConsumer({ permissions: [isAuthenticated], actions: { ...echo, whoami: (ctx) => ({ data: ctx.user }) } }))
  })
  const anonymousOpen = await Client.open(app, '/ws/open/')
  assert.deepEqual(await anonymousOpen.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  const anonymous = await Client.open(app, '/ws/private/')
  assert.deepEqual(await anonymous.request({ action: 'ping', request_id: 2 }), reply('ping', null, 403, 2, DENIED))
  const ada = await Client.open(app, '/ws/private/?token=ada-token')
  assert.deepEqual(await ada.request({ action: 'whoami', request_id: 3 }), reply('whoami', { id: 1, username: 'ada' }, 200, 3))
})

test('and / or / not compose like DRF, sync and async alike', async (t) => {
  const { app } = await build(t)
  const cases: Array<[string, Permission, boolean]> = [
    ['and(allow, allow)', and(allow, allow), true],
    ['and(allow, deny)', and(allow, deny), false],
    ['and(deny, allow)', and(deny, allow), false],
    ['and(asyncAllow, asyncDeny)', and(asyncAllow, asyncDeny), false],
    ['or(deny, allow)', or(deny, allow), true],
    ['or(deny, asyncDeny)', or(deny, asyncDeny), false],
    ['or(asyncDeny, asyncAllow)', or(asyncDeny, asyncAllow), true],
    ['not(deny)', not(deny), true],
    ['not(allow)', not(allow), false],
    ['not(asyncAllow)', not(asyncAllow), false],
    ['or(and(allow, deny), not(deny))', or(and(allow, deny), not(deny)), true],
    ['and(or(deny, asyncAllow), not(or(deny, deny)))', and(or(deny, asyncAllow), not(or(deny, deny))), true],
    ['two in a list, one denies', and(allow, asyncAllow, deny), false]
  ]
  cases.forEach(([name, permission], i) => {
    app.dcrf.consumer(`/ws/${i}/`, defineConsumer({ permissions: [permission], actions: echo }))
  })
  for (const [i, [name, , allowed]] of cases.entries()) {
    const client = await Client.open(app, `/ws/${i}/`)
    const answer = await client.request({ action: 'ping', request_id: i })
    assert.deepEqual(answer, allowed ? reply('ping', 'pong', 200, i) : reply('ping', null, 403, i, DENIED), name)
    client.close()
  }
})

test('a list of permissions must all allow; a thrown coded error is answered as such', async (t) => {
  const { app } = await build(t)
  const mustLogIn: Permission = { hasPermission: (ctx) => { if (!ctx.user) throw notAuthenticated(); return true } }
  app.dcrf.consumer('/ws/list/', defineConsumer({ permissions: [allow, asyncAllow, asyncDeny], actions: echo }))
  app.dcrf.consumer('/ws/throws/', defineConsumer({ permissions: [mustLogIn], actions: echo }))
  const list = await Client.open(app, '/ws/list/')
  assert.deepEqual(await list.request({ action: 'ping', request_id: 1 }), reply('ping', null, 403, 1, DENIED))
  const throws = await Client.open(app, '/ws/throws/')
  assert.deepEqual(await throws.request({ action: 'ping', request_id: 2 }), reply('ping', null, 401, 2, ['Authentication credentials were not provided.']))
})

test('the plugin option sets the default; a consumer or an action can set its own', async (t) => {
  const { app } = await build(t, { permissions: [deny] })
  app.dcrf.consumer('/ws/default/', defineConsumer({ actions: echo }))
  app.dcrf.consumer('/ws/own/', defineConsumer({
    permissions: [allowAny],
    actions: {
      ...echo,
      admin_only: action({ permissions: [deny], handler: () => ({ data: 'secret' }) })
    }
  }))
  const byDefault = await Client.open(app, '/ws/default/')
  assert.deepEqual(await byDefault.request({ action: 'ping', request_id: 1 }), reply('ping', null, 403, 1, DENIED))
  const own = await Client.open(app, '/ws/own/')
  assert.deepEqual(await own.request({ action: 'ping', request_id: 2 }), reply('ping', 'pong', 200, 2))
  assert.deepEqual(await own.request({ action: 'admin_only', request_id: 3 }), reply('admin_only', null, 403, 3, DENIED))
})

test('a connect check refuses the handshake with an HTTP status', async (t) => {
  const { app } = await build(t)
  let connected = 0
  const onConnect = (): void => { connected++ }
  const adminsOnly: Permission = { canConnect: (ctx) => (ctx.request.query as Record<string, string>).role === 'admin' }
  const loggedIn: Permission = { canConnect: (ctx) => { if (!(ctx.request.query as Record<string, string>).token) throw notAuthenticated(); return true } }
  app.dcrf.consumer('/ws/admin/', defineConsumer({ permissions: [adminsOnly], onConnect, actions: echo }))
  app.dcrf.consumer('/ws/login/', defineConsumer({ permissions: [loggedIn], onConnect, actions: echo }))
  assert.equal(await Client.refused(app, '/ws/admin/?role=user'), 403)
  assert.equal(await Client.refused(app, '/ws/login/'), 401)
  assert.equal(connected, 0)
  const admin = await Client.open(app, '/ws/admin/?role=admin')
  assert.deepEqual(await admin.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  assert.equal(connected, 1)
})

test('not() of a permission without a connect check does not refuse connections', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/', defineConsumer({ permissions: [not(isAuthenticated)], actions: echo }))
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
})

test('a route hook in an encapsulated context refuses the upgrade before any consumer code runs', async (t) => {
  const { app } = await build(t)
  const ran: string[] = []
  const consumer = defineConsumer({
    permissions: [{ canConnect: () => { ran.push('canConnect'); return true }, hasPermission: () => true }],
    state: () => { ran.push('state'); return {} },
    onConnect: (ctx) => { ran.push(`onConnect ${ctx.user?.username}`) },
    actions: { whoami: (ctx) => ({ data: ctx.user }) }
  })
  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate)
    scope.dcrf.consumer('/ws/me/', consumer)
  })
  // The sibling context has no such hook.
  await app.register(async (scope) => {
    scope.dcrf.consumer('/ws/public/', defineConsumer({ actions: echo }))
  })
  assert.equal(await Client.refused(app, '/ws/me/'), 401)
  assert.equal(await Client.refused(app, '/ws/me/?token=forged'), 401)
  assert.deepEqual(ran, [])
  const ada = await Client.open(app, '/ws/me/?token=ada-token')
  assert.deepEqual(await ada.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 1, username: 'ada' }, 200, 1))
  assert.deepEqual(ran, ['state', 'canConnect', 'onConnect ada'])
  const anyone = await Client.open(app, '/ws/public/')
  assert.deepEqual(await anyone.request({ action: 'ping', request_id: 2 }), reply('ping', 'pong', 200, 2))
})

test('route options carry hooks for one consumer route', async (t) => {
  const { app } = await build(t)
  app.dcrf.consumer('/ws/me/', defineConsumer({ actions: { whoami: (ctx) => ({ data: ctx.user }) } }), { onRequest: authenticate })
  assert.equal(await Client.refused(app, '/ws/me/'), 401)
  const bob = await Client.open(app, '/ws/me/?token=bob-token')
  assert.deepEqual(await bob.request({ action: 'whoami', request_id: 1 }), reply('whoami', { id: 2, username: 'bob' }, 200, 1))
})

test('fromHook turns a Fastify hook into a permission: at the handshake and before every action', async (t) => {
  const { app } = await build(t)
  const revoked = new Set<string>()
  // A hook like a JWT verify: it throws a 401 error when the token is not (or no longer) valid.
  async function verify (request: FastifyRequest): Promise<void> {
    const token = (request.query as Record<string, string>).token
    if (!tokens.has(token) || revoked.has(token)) {
      throw Object.assign(new Error('Authorization token is invalid'), { statusCode: 401 })
    }
    request.user = tokens.get(token)!
  }
  // The callback style of hooks works too.
  function staffOnly (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (request.user?.username !== 'ada') {
      reply.code(403).send({ error: 'Forbidden' })
      return
    }
    done()
  }
  app.dcrf.consumer('/ws/', defineConsumer({ permissions: [fromHook(verify)], actions: echo }))
  app.dcrf.consumer('/ws/staff/', defineConsumer({ permissions: [fromHook(verify), fromHook(staffOnly)], actions: echo }))

  assert.equal(await Client.refused(app, '/ws/'), 401)
  assert.equal(await Client.refused(app, '/ws/staff/?token=bob-token'), 403)
  const ada = await Client.open(app, '/ws/?token=ada-token')
  assert.deepEqual(await ada.request({ action: 'ping', request_id: 1 }), reply('ping', 'pong', 200, 1))
  revoked.add('ada-token')
  assert.deepEqual(await ada.request({ action: 'ping', request_id: 2 }), reply('ping', null, 401, 2, ['Authentication credentials were not provided.']))
  const staff = await Client.open(app, '/ws/staff/?token=ada-token').catch((err: Error) => err)
  assert.ok(staff instanceof Error && /401/.test(staff.message), 'a revoked token cannot connect')
  revoked.clear()
  const staffAda = await Client.open(app, '/ws/staff/?token=ada-token')
  assert.deepEqual(await staffAda.request({ action: 'ping', request_id: 3 }), reply('ping', 'pong', 200, 3))
})
