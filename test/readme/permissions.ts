import type { FastifyRequest } from 'fastify'
import { allowAny, isAuthenticated, and, or, not, fromHook, defineConsumer, type Permission } from 'fastify-dcrf'

const isOwner: Permission = {
  // Checked before every action — before the action is even looked up, so an unknown action under
  // a denying permission is a 403, as in DCRF.
  hasPermission: async (ctx, action, args) => args.user_pk === ctx.user?.id
}
const staffOnly: Permission = {
  // Checked during the handshake: a denial refuses the upgrade with HTTP 403 (a thrown
  // `notAuthenticated()`: 401). The consumer never sees the connection.
  canConnect: (ctx) => ctx.user?.username === 'admin'
}
const readOnly: Permission = { hasPermission: (ctx, action) => action === 'list' || action === 'retrieve' }
const jwt = fromHook(async (request: FastifyRequest) => { if (request.headers.authorization === undefined) throw new Error('no token') })
const actions = { ping: () => ({ data: 'pong' }) }

defineConsumer({ permissions: [isAuthenticated, or(isOwner, not(readOnly))], actions })

export const composed = [allowAny, and(staffOnly, jwt)]
