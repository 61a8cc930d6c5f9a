/**
 * The servers the README's wire blocks are replayed against (`test/readme.test.ts`), built from
 * the README's own snippets, by the snippet file a block names: its consumers mounted on a test
 * application (the snippet's own mounting code where the README shows it), on tables of
 * `schema.ts` with the rows the frames assume; and each `▶` step of a block, by its text.
 */
import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import type { Database } from 'fastify-dcrf'
import { messagesConsumer, start } from './external-changes.js'
import { userConsumer } from './generic.js'
import { watched } from './instance.js'
import { paginated, streamed } from './lists.js'
import { serve as serveMultiplex } from './multiplex.js'
import { serve as serveObservers, write } from './observers.js'
import { users } from './schema.js'

/** Steps a block runs between its frames, by the text of their `▶` line. */
export type Steps = Record<string, () => Promise<void>>

export interface ReadmeServer {
  /** The snippet is a whole program that listens itself: it is run as one, on a free port. */
  program?: true
  /** The tables and rows the frames assume. */
  ddl?: string
  /** Registers the plugin the snippet's own way; default: with the test database alone. */
  start?: (app: FastifyInstance, db: Database) => Promise<void>
  /** Mounts the snippet's consumers; returns its steps. `sql` runs SQL beside the application (psql). */
  setup?: (app: FastifyInstance, sql: (text: string) => Promise<unknown>) => Steps | void | Promise<Steps | void>
}

const TABLES = `
  create table users (id serial primary key, username text not null unique, email text not null, password text not null);
  create table comments (id serial primary key, text text not null, user_id integer not null references users(id));
  create table rooms (id serial primary key, name text not null, host_id integer not null);
  create table messages (id serial primary key, room_id integer not null, user_id integer not null, text text not null, created_at timestamp not null default now());
`

/** The tables, with `n` users: `test1`…`testN`, `testN@example.com`. */
const withUsers = (n: number): string => TABLES +
  `insert into users (username, email, password) select 'test' || i, 'test' || i || '@example.com', 'secret' from generate_series(1, ${n}) i;`

export const servers: Record<string, ReadmeServer> = {
  'test/readme/quick-start.ts': { program: true },
  'test/readme/generic.ts': {
    ddl: withUsers(3),
    setup (app) { app.dcrf.consumer('/ws/users/', userConsumer) }
  },
  'test/readme/lists.ts': {
    ddl: withUsers(5),
    setup (app) {
      app.dcrf.consumer('/ws/users/paginated/', paginated)
      app.dcrf.consumer('/ws/users/streamed/', streamed)
    }
  },
  'test/readme/observers.ts': {
    ddl: withUsers(1),
    setup (app) {
      const { signIn } = serveObservers(app)
      return {
        'the writes above: an insert, then an update in a transaction': () => write(app),
        "await app.dcrf.signal('user_signed_in', user)": signIn
      }
    }
  },
  'test/readme/instance.ts': {
    ddl: withUsers(7),
    setup (app) {
      app.dcrf.consumer('/ws/users/', watched)
      return {
        'row 7 is renamed ada': async () => { await app.dcrf.db.update(users).set({ username: 'ada' }).where(eq(users.id, 7)) },
        'row 7 is deleted': async () => { await app.dcrf.db.delete(users).where(eq(users.id, 7)) }
      }
    }
  },
  'test/readme/external-changes.ts': {
    ddl: withUsers(1) + "insert into rooms (name, host_id) values ('general', 1); insert into messages (room_id, user_id, text) values (1, 1, 'hello');",
    start,
    setup (app, sql) {
      app.dcrf.consumer('/ws/messages/', messagesConsumer)
      return {
        'psql "$DATABASE_URL" -c "update messages set text = \'edited in psql\' where id = 1"': async () => { await sql("update messages set text = 'edited in psql' where id = 1") }
      }
    }
  },
  'test/readme/multiplex.ts': {
    ddl: withUsers(7) + "insert into comments (text, user_id) values ('first', 1);",
    setup (app) { serveMultiplex(app) }
  }
}
