/**
 * `/ws/users/`: DCRF's "Generic API consumer" over the users table — the six CRUD actions and
 * subscriptions to single users. Passwords are write-only, required on create, and stored hashed:
 * the serializer's object-level validation (DRF's `validate(attrs)`) replaces a valid password by
 * its hash, so every write through it — these actions, the REST API — stores the hash.
 */
import { Type } from '@sinclair/typebox'
import { crud, defineConsumer, instanceSubscriptions, serializer } from 'fastify-dcrf'
import { withHashedPassword } from '../passwords.js'
import { users } from '../schema.js'

/** `id`, `username`, `email`; `password` accepted on input, never sent, validated into its hash. */
export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password'],
  schema: {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    email: Type.String({ format: 'email' }),
    password: Type.String({ minLength: 1 })
  },
  validate: (attrs) => withHashedPassword(attrs)
})

export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  actions: {
    ...crud(),
    ...instanceSubscriptions()
  }
})
