/**
 * `/ws/users/streamed/`: the users, streamed a page per reply (2 per page by default, at most 100)
 * until the last, and `list_cancel` to stop early.
 */
import { defineConsumer, streamedList } from 'fastify-dcrf'
import { users } from '../schema.js'
import { userSerializer } from './users.js'

export const streamedUserConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  // A pause between pages, so that a client can watch them arrive and cancel the rest.
  actions: { ...streamedList({ limit: 2, maxLimit: 100, delay: 100 }) }
})
