import { defineConsumer, paginatedList, streamedList } from 'fastify-dcrf'
import { users } from './schema.js'

export const paginated = defineConsumer({
  table: users,
  actions: { ...paginatedList({ limit: 2, maxLimit: 100 }) }
})

export const streamed = defineConsumer({
  table: users,
  actions: { ...streamedList({ limit: 2, delay: 0 }) }   // list + list_cancel
})
