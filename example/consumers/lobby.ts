/**
 * A consumer without a model (DCRF's "custom actions"): a lobby where everyone connected hears what
 * anyone says, through a channel-layer group.
 */
import { Type } from '@sinclair/typebox'
import { defineConsumer } from 'fastify-dcrf'

const LOBBY = 'lobby'

export const lobby = defineConsumer({
  state: () => ({ name: 'anonymous' }),
  async onConnect (ctx) {
    await ctx.addGroup(LOBBY)
  },
  // The builder's `action` knows the consumer: `ctx.state.name` is a string.
  actions: ({ action }) => ({
    ping: () => ({ data: 'pong' }),
    set_name: action({
      schema: Type.Object({ name: Type.String({ minLength: 1, maxLength: 40 }) }),
      handler (ctx, { name }) {
        ctx.state.name = name
        return { data: { name } }
      }
    }),
    say: action({
      schema: Type.Object({ text: Type.String({ minLength: 1, maxLength: 500 }) }),
      async handler (ctx, { text }) {
        await ctx.groupSend(LOBBY, { type: 'lobby.message', name: ctx.state.name, text })
        return { status: 202 }
      }
    })
  }),
  groupHandlers: {
    lobby_message (ctx, message) {
      ctx.reply({ action: 'message', data: { name: message.name, text: message.text } })
    }
  }
})
