import Fastify from 'fastify'
import dcrf, { defineConsumer } from 'fastify-dcrf'

const app = Fastify()
await app.register(dcrf)

const chat = defineConsumer({
  actions: {
    join: async (ctx, { room }) => { await ctx.addGroup(`room__${room}`); return { status: 201 } },
    leave: async (ctx, { room }) => { await ctx.removeGroup(`room__${room}`) }
  },
  groupHandlers: {
    // "chat.message" is handled by "chat_message" (Channels' rule), or by "chat.message" itself.
    chat_message: (ctx, message) => ctx.reply({ action: 'message', data: message.text })
  }
})
app.dcrf.consumer('/ws/chat/', chat)

// From a route, a job, another consumer:
await app.dcrf.groupSend('room__1', { type: 'chat.message', text: 'hello' })

const other = Fastify()
await other.register(dcrf, { channelLayer: { redis: process.env.REDIS_URL } })
