/**
 * `/ws`: one multiplexed socket (`{"stream", "payload"}` frames, DCRF's `channelsmultiplexer`)
 * carrying two consumers over the same table, for clients such as `dcrf-client`:
 * `things` sends `pk`, `name`, `counter`; `things_with_id` sends `id`, `name`, `counter`.
 * Both have the six CRUD actions and subscriptions to single things.
 */
import { crud, defineConsumer, instanceSubscriptions, serializer } from 'fastify-dcrf'
import { things } from '../schema.js'

export const thingConsumer = defineConsumer({
  table: things,
  serializer: serializer(things, { fields: ['pk', 'name', 'counter'] }),
  actions: { ...crud(), ...instanceSubscriptions() }
})

export const thingWithIdConsumer = defineConsumer({
  table: things,
  serializer: serializer(things, { fields: ['id', 'name', 'counter'] }),
  actions: { ...crud(), ...instanceSubscriptions() }
})

/** The streams of `/ws`. */
export const thingStreams = {
  things: thingConsumer,
  things_with_id: thingWithIdConsumer
}
