/**
 * `/ws/me/`: a consumer for signed-in users only. Its route refuses the handshake with 401 without
 * a valid `?token=` (see `app.ts`), so its actions always have a user.
 */
import { defineConsumer, isAuthenticated } from 'fastify-dcrf'
import { userOf } from '../auth.js'

export const meConsumer = defineConsumer({
  permissions: [isAuthenticated],
  actions: {
    whoami: (ctx) => {
      const user = userOf(ctx.request)!
      return { data: { id: user.id, username: user.username } }
    }
  }
})
