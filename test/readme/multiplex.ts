import Fastify from 'fastify'
import dcrf, { crud, defineConsumer, viewAsConsumer } from 'fastify-dcrf'
import { comments, users } from './schema.js'

const app = Fastify()
await app.register(dcrf)
const userConsumer = defineConsumer({ table: users, actions: crud() })
const thingConsumer = defineConsumer({ table: comments, actions: crud() })

app.dcrf.multiplex('/ws/', { users: userConsumer, things: thingConsumer })

app.dcrf.consumer('/ws/rest/users/', viewAsConsumer({
  url: '/api/users/:id?',                                // `:id?` may be left out
  actions: { list: 'GET', retrieve: 'GET', create: 'POST', patch: 'PATCH' }
}))
