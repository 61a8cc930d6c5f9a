/**
 * `/ws/rest/users/`: the REST routes of `rest.ts` served over a socket (DCRF's
 * `view_as_consumer`). Each action is a request to the route, so its validation and
 * authentication apply: `{"action": "retrieve", "parameters": {"id": 1}}` is `GET /api/users/1`.
 */
import { viewAsConsumer } from 'fastify-dcrf'

export const restUserConsumer = viewAsConsumer({
  url: '/api/users/:id?',
  actions: { list: 'GET', retrieve: 'GET', create: 'POST', patch: 'PATCH' },
  // A browser's socket carries its token in the URL; the routes expect it as a header.
  headers: (ctx) => {
    const { token } = ctx.request.query as { token?: string }
    return typeof token === 'string' ? { authorization: `Bearer ${token}` } : {}
  }
})
