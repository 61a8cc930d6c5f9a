/**
 * The input type of a serializer: which columns are required, optional or absent.
 */
import { expect, test } from 'tstyche'
import { boolean, integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { crud, defineConsumer, serializer, type inferInput } from 'fastify-dcrf'
import { connect } from 'fastify-dcrf/client'

const accounts = pgTable('accounts', {
  id: serial('id').primaryKey(),
  username: text('username').notNull(),
  email: text('email').notNull().default(''),
  password: text('password').notNull().default(''),
  bio: text('bio'),
  active: boolean('active').notNull().default(true),
  score: integer('score').notNull().default(0),
  secret: text('secret').notNull()
})

const accountSerializer = serializer(accounts, {
  fields: ['id', 'username', 'email', 'password', 'bio', 'active', 'score', 'secret'],
  writeOnly: ['password'],
  readOnly: ['score']
})

type AccountIn = inferInput<typeof accountSerializer>

// Values, as on a server; the tests take only their types.
export const excluding = serializer(accounts, { exclude: ['secret', 'bio'] })
export const shadowing = serializer(accounts, { fields: ['username', 'email'], computed: { email: () => 'hidden' } })
export const accountConsumer = defineConsumer({ table: accounts, serializer: accountSerializer, actions: { ...crud() } })

test('columns with a default and nullable columns are optional; read-only ones and the serial key absent', () => {
  expect<AccountIn>().type.toBe<{
    username: string
    email?: string
    password?: string
    bio?: string | null
    active?: boolean
    secret: string
  }>()
  expect<AccountIn>().type.toBeAssignableFrom({ username: 'a', email: 'b', secret: 's' })
  expect<AccountIn>().type.toBeAssignableFrom({ username: 'a', secret: 's' })
  expect<AccountIn>().type.not.toBeAssignableFrom({ username: 'a', emial: 'b', secret: 's' })
  expect<AccountIn>().type.not.toBeAssignableFrom({ username: 'a', email: null, secret: 's' })
  expect<AccountIn>().type.not.toBeAssignableFrom({ email: 'b', secret: 's' })
})

test('excluded fields and fields shadowed by a computed field are not input', () => {
  expect<inferInput<typeof excluding>>().type.toBe<{ username: string, email?: string, password?: string, active?: boolean, score?: number }>()
  expect<inferInput<typeof shadowing>>().type.toBe<{ username: string }>()
})

test('the typed client accepts defaulted columns in create and patch', () => {
  const client = connect<typeof accountConsumer>('ws://localhost/ws/accounts/')
  expect(client.create({ data: { username: 'a', email: 'a@example.com', secret: 's' } })).type.not.toRaiseError()
  expect(client.patch({ pk: 1, data: { email: 'b@example.com' } })).type.not.toRaiseError()
  expect(client.patch({ pk: 1, data: { password: 'x', active: false } })).type.not.toRaiseError()
  expect(client.create).type.not.toBeCallableWith({ data: { email: 'a@example.com' } })
  expect(client.patch).type.not.toBeCallableWith({ pk: 1, data: { emial: 'b@example.com' } })
  expect(client.patch).type.not.toBeCallableWith({ pk: 1, data: { score: 3 } })
})
