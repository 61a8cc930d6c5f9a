/**
 * `/ws/users/paginated/`: the users, listed a page at a time (limit/offset, 2 per page by default,
 * at most 100: a larger `limit` is cut to it, so no request reads the whole table).
 */
import { defineConsumer, paginatedList } from 'fastify-dcrf'
import { users } from '../schema.js'
import { userSerializer } from './users.js'

export const paginatedUserConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: { ...paginatedList({ limit: 2, maxLimit: 100 }) }
})
