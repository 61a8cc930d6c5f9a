/** `/ws/users/paginated/`: the users, listed a page at a time (limit/offset, 2 per page by default). */
import { defineConsumer, paginatedList } from 'fastify-dcrf'
import { users } from '../schema.js'
import { userSerializer } from './users.js'

export const paginatedUserConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: { ...paginatedList({ limit: 2 }) }
})
