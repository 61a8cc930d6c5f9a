import Fastify from 'fastify'
import dcrf, { defineConsumer } from 'fastify-dcrf'
import type { TestUser } from '../helpers.js'

const app = Fastify()
await app.register(dcrf)
const me = defineConsumer({ actions: { whoami: (ctx) => ({ data: ctx.user }) } })
const pub = defineConsumer({ actions: { ping: () => ({ data: 'pong' }) } })
const tokens = new Map<string, TestUser>([['t0k3n', { id: 1, username: 'test1' }]])
async function userFromToken (token: string | undefined): Promise<TestUser | undefined> { return token === undefined ? undefined : tokens.get(token) }
const authenticate = async (): Promise<void> => {}

await app.register(async (app) => {
  app.addHook('onRequest', async (request, reply) => {
    const { token } = request.query as { token?: string }
    const user = await userFromToken(token)   // browsers cannot set headers
    if (!user) return reply.code(401).send({ error: 'Unauthorized' })
    request.user = user
  })
  app.dcrf.consumer('/ws/me/', me)      // refused with 401 without a valid token
})
app.dcrf.consumer('/ws/public/', pub)   // the sibling context has no such hook

app.dcrf.consumer('/ws/me2/', me, { onRequest: authenticate })
