import { defineConsumer, instanceSubscriptions, mixins, serializer } from 'fastify-dcrf'
import { users } from './schema.js'

const userSerializer = serializer(users, { fields: ['id', 'username'] })

export const watched = defineConsumer({ table: users, serializer: userSerializer, actions: { ...mixins.retrieve(), ...instanceSubscriptions() } })
