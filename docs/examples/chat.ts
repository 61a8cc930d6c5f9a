import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import { roomConsumer } from '../../example/consumers/chat-room.js'
import { DDL as EXAMPLE_DDL } from '../../example/db.js'
import { messages, users } from '../../example/schema.js'

// The example application's tables, two users and a room.
export const ddl = EXAMPLE_DDL + `
  insert into users (username, email, password) values ('test1', 'test1@example.com', ''), ('test2', 'test2@example.com', '');
  insert into rooms (name, host_id) values ('general', 1);
`

export async function setup (app: FastifyInstance): Promise<void> {
  await app.register(async (scope) => {
    // The example signs users in with a token (?token=); this page names them: ?user=test1.
    scope.addHook('onRequest', async (request) => {
      const { user } = request.query as { user?: string }
      const [row] = await app.dcrf.db.select({ id: users.id, username: users.username }).from(users).where(eq(users.username, user ?? ''))
      request.user = row ?? null
    })
    scope.dcrf.consumer('/ws/chat/room/', roomConsumer(app.dcrf.db))
  })
}

// What the other user does meanwhile, in another browser.
export const steps = {
  async test2Writes (app: FastifyInstance): Promise<void> {
    await app.dcrf.db.insert(messages).values({ room: 1, user: 2, text: 'hello from test2' })
  }
}
