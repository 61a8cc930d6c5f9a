import type { FastifyInstance } from 'fastify'
import dcrf, { installExternalChanges } from 'fastify-dcrf'
import { defineConsumer, EXTERNAL_CHANGES_GAP, instanceSubscriptions, mixins, observer, serializer, type Database } from 'fastify-dcrf'
import { messages, rooms } from './schema.js'

/** The start of an application whose database reports the changes made outside it. */
export async function start (app: FastifyInstance, db: Database): Promise<void> {
  const externalChanges = { tables: [rooms, messages] }          // opt in, per table
  await installExternalChanges(db, externalChanges)              // at every start: idempotent
  await app.register(dcrf, { db, externalChanges })
}

export const roomsConsumer = defineConsumer({
  actions: {},
  observers: { gaps: observer(EXTERNAL_CHANGES_GAP) }   // clients that subscribe re-read on each
})

/** Subscribers of messages, one by one. */
export const messagesConsumer = defineConsumer({
  table: messages,
  serializer: serializer(messages, { fields: ['id', 'text'] }),
  actions: { ...mixins.retrieve(), ...instanceSubscriptions() }
})
