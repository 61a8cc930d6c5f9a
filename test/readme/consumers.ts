import { Type } from '@sinclair/typebox'
import { defineConsumer } from 'fastify-dcrf'

async function buildReport (signal: AbortSignal): Promise<{ rows: number }> {
  signal.throwIfAborted()
  return { rows: 0 }
}

export const rooms = defineConsumer({
  // Per-connection state (DCRF's attributes on `self`).
  state: () => ({ room: null as string | null }),

  // Runs first in the connection's queue, once the socket is open.
  async onConnect (ctx) { ctx.send({ hello: ctx.user }) },
  // Runs last, after the frames already received were handled.
  async onDisconnect (ctx, code) { ctx.log.info({ code }, 'left') },

  // `action` is handed in so that it knows this consumer (its state, table and observers).
  actions: ({ action }) => ({
    // A bare handler: (ctx, args, call) => { data, status } | nothing.
    ping: () => ({ data: 'pong' }),

    // With options: arguments validated and typed from the schema.
    join: action({
      schema: Type.Object({ room: Type.String({ maxLength: 50 }) }),
      aliases: ['enter'],              // also answers to "enter" (the reply keeps the name used)
      async handler (ctx, { room }) {
        ctx.state.room = room
        await ctx.addGroup(`room__${room}`)
        return { data: { room }, status: 201 }
      }
    }),

    // Detached: runs beside the queue (later frames are served meanwhile), replies when done,
    // and is cancelled (its signal aborts, its reply is dropped) when the socket closes.
    report: action({
      detached: true,
      async handler (ctx, args, { signal }) {
        return { data: await buildReport(signal) }
      }
    })
  })
})
