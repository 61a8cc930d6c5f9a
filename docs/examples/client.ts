import WebSocket from 'ws'
import { connect, DcrfError } from 'fastify-dcrf/client'
// Types only: nothing of the server reaches the client's bundle.
import type { streams, userConsumer } from './client-server.js'

export async function main (): Promise<void> {
  // Browsers have a WebSocket; on Node 20, pass the `ws` package's.
  const users = connect<typeof userConsumer>('ws://127.0.0.1:3000/ws/users/', { WebSocket, timeout: 10_000 })

  const ada = await users.retrieve({ pk: 1 }) // { id: number, username: string, email: string }
  await users.patch({ pk: ada.id, data: { username: 'ada' } })
  try {
    await users.retrieve({ pk: 999 }, { timeout: 2_000 })
  } catch (err) {
    if (err instanceof DcrfError) console.log(err.status, err.errors) // 404 [ 'Not found' ]
  }

  // A streamed list: a page per reply; leaving the loop early sends list_cancel.
  for await (const page of users.$stream('list')) {
    console.log(page.offset, page.results.map((user) => user.username))
    if (page.offset >= 100) break
  }

  // Events by callback…
  const row = await users.$subscribe('subscribe_instance', { pk: 1 }, {
    onEvent: (event) => {
      if (event.action === 'update') console.log('now', event.data.username)
      else console.log('deleted', event.data.pk)
    }
  })
  // …or by async iterator. Both are sent again, with their request ids, after a reconnect.
  const activity = await users.$subscribe('subscribe_to_comment_activity', {}, { unsubscribe: 'unsubscribe_from_comment_activity' })
  for await (const event of activity) {
    console.log(event.action, event.data.text)
    if (event.data.text === 'bye') break // sends unsubscribe_from_comment_activity
  }
  await row.unsubscribe() // sends unsubscribe_instance with the subscription's request id
  users.close()

  // A multiplexed route: one typed consumer per stream.
  const client = connect<typeof streams>('ws://127.0.0.1:3000/ws/', { WebSocket })
  console.log(await client.stream('users').list())
  client.close()
}
