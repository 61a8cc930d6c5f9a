/**
 * `/ws/users/`: DCRF's "Generic API consumer" over the users table — the six CRUD actions,
 * subscriptions to single users, and a model observer on every user (`subscribe_to_users`,
 * `unsubscribe_from_users`), which the users page follows to keep its table live. Like DCRF's demo consumer it is open: anonymous clients may
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
  observers: ({ modelObserver }) => ({
    // Every change to any user, made here, over REST or in psql: `id`, `username`, `email`.
    user_activity: modelObserver(users, { serialize: (row) => userSerializer.toRepresentationSync(row) })
  }),
  actions: ({ action }) => ({
    ...crud(),
    ...instanceSubscriptions(),
    subscribe_to_users: action({
      subscribes: 'user_activity',
      async handler (ctx, _args, { requestId }) {
        await ctx.observer('user_activity').subscribe({ requestId })
        return { status: 201 }
      }
    }),
    // With a `request_id`, only that subscription stops; without, every one of the socket.
    unsubscribe_from_users: async (ctx, _args, { requestId }) => {
      await ctx.observer('user_activity').unsubscribe({ requestId: requestId ?? undefined })
      return { status: 204 }
    }
  })
})
