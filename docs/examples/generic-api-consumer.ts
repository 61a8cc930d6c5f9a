import type { FastifyInstance } from 'fastify'
import { crud, defineConsumer, serializer } from 'fastify-dcrf'
import { users } from './schema.js'

// serializers.py
export const userSerializer = serializer(users, {
  fields: ['id', 'username', 'email', 'password'],
  writeOnly: ['password']
})

// consumers.py
export const userConsumer = defineConsumer({
  table: users,                    // queryset = User.objects.all()
  serializer: userSerializer,      // serializer_class = UserSerializer
  actions: {
    ...crud()                      // the List, Retrieve, Create, Update, Patch and Delete mixins
  }
})

// routing.py
export async function setup (app: FastifyInstance): Promise<void> {
  app.dcrf.consumer('/ws/', userConsumer)
}
