/**
 * `/ws/me/`: a consumer for signed-in users only. Its route refuses the handshake with 401 without
 * a valid `?token=` (see `app.ts`). Once open, the socket serves its user only while that user
 * exists: `isCurrentUser` re-reads the user before each action (401 once deleted), and the account
 * observer closes the socket with 4401 when the user is deleted (see `auth.ts`).
 */
import { defineConsumer } from 'fastify-dcrf'
import { accountObserver, isCurrentUser, userOf } from '../auth.js'

export const meConsumer = defineConsumer({
  permissions: [isCurrentUser],
  observers: { account: accountObserver },
  async onConnect (ctx) {
    await ctx.observer('account').subscribe()
  },
  actions: {
    whoami: (ctx) => {
      const user = userOf(ctx.request)!
      return { data: { id: user.id, username: user.username } }
    }
  }
})
