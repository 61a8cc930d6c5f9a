import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import dcrf from 'fastify-dcrf'

const app = Fastify()
const db = drizzle(new PGlite())

await app.register(websocket, {
  preClose (done) {
    for (const client of this.websocketServer.clients) client.close(1001, 'Server shutting down')
    this.websocketServer.close()
    done()
  }
})
await app.register(dcrf, { db })
