/**
 * `/ws/users/`: DCRF's "Generic API consumer" over the users table — the six CRUD actions and
 * subscriptions to single users. Like DCRF's demo consumer it is open: anonymous clients may
 * create, change and delete users here.
 *
 * Passwords are write-only, required on create, and stored hashed: the serializer's object-level
 * validation (DRF's `validate(attrs)`) replaces a valid password by its hash, so every write
 * through it — sign-up here, the REST API — stores the hash. Only `create` (sign-up) writes a
 * password on this socket: `update` and `patch` validate with a serializer without it (DCRF's
 * `get_serializer_class`), so a `password` they are sent is ignored, as DRF ignores unknown fields.
 * Otherwise anyone could set another user's password and sign in as them; owners change theirs
 * with `PATCH /api/users/:id`, which requires their token.
 */
import { Type } from '@sinclair/typebox'
import { crud, defineConsumer, instanceSubscriptions, serializer } from 'fastify-dcrf'
import { PASSWORD_MAX_LENGTH, withHashedPassword } from '../passwords.js'
import { users } from '../schema.js'

const profileSchema = {
  username: Type.String({ minLength: 1, maxLength: 150 }),
  email: Type.String({ format: 'email' })
}

/** `id`, `username`, `email`; `password` accepted on input, never sent, validated into its hash. */
export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password'],
  schema: {
    ...profileSchema,
    password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH })
  },
  validate: (attrs) => withHashedPassword(attrs)
})

/** `id`, `username`, `email`, and no password: what `update` and `patch` may change. */
export const userProfileSerializer = serializer(users, {
  fields: ['id', 'username', 'email'],
  schema: profileSchema
})

export const userConsumer = defineConsumer({
  table: users,
  serializer: userSerializer,
  getSerializer: (_ctx, action) => action === 'create' ? userSerializer : userProfileSerializer,
  actions: {
    ...crud(),
    ...instanceSubscriptions()
  }
})
