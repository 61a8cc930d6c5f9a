import Fastify from 'fastify'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import dcrf, { installExternalChanges } from 'fastify-dcrf'
import { defineConsumer, EXTERNAL_CHANGES_GAP, observer } from 'fastify-dcrf'
import { messages, rooms } from './schema.js'

const app = Fastify()
const db = drizzle(new PGlite())

const externalChanges = { tables: [rooms, messages] }          // opt in, per table
await installExternalChanges(db, externalChanges)              // at every start: idempotent
await app.register(dcrf, { db, externalChanges })

export const roomsConsumer = defineConsumer({
  actions: {},
  observers: { gaps: observer(EXTERNAL_CHANGES_GAP) }   // clients that subscribe re-read on each
})
