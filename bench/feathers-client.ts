/**
 * The load generator's Feathers clients: one connection is one Feathers client application over
 * its own Socket.io socket (websocket transport), with the users service registered as the
 * generated app's `users.shared.ts` registers it, custom method included.
 */
import { feathers } from '@feathersjs/feathers'
import socketio from '@feathersjs/socketio-client'
import { io, type Socket } from 'socket.io-client'

/** A user as the Feathers server sends it: no password. */
export interface FeathersUser { id: number, username: string, email: string, password?: unknown }

/** The users service, as its client sees it. */
export interface FeathersUsers {
  get (id: number): Promise<FeathersUser>
  patch (id: number, data: Partial<FeathersUser>): Promise<FeathersUser>
  subscribe (data: { id: number }): Promise<{ id: number }>
  on (event: 'patched', listener: (user: FeathersUser) => void): unknown
}

export interface FeathersClient {
  socket: Socket
  users: FeathersUsers
}

const USER_METHODS = ['find', 'get', 'create', 'patch', 'remove', 'subscribe']
// A CommonJS module whose `module.exports` is the function and also has it as `default`, as typed.
const socketioClient = socketio.default

/**
 * Connects one client to the Feathers server at `url` (http://host:port); rejects on a refused
 * handshake or after `timeoutMs`. Each client has a socket of its own (`forceNew`: Socket.io would
 * otherwise share one socket between the clients of a URL), and does not reconnect: a connection
 * lost during a measurement shows as events lost, not as a silent reconnection.
 */
export function openFeathers (url: string, timeoutMs: number): Promise<FeathersClient> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
  // (Its types name socket.io-client's CommonJS build; this ESM module loads the ESM one, the same API.)
  const connection = socketioClient(socket as unknown as Parameters<typeof socketioClient>[0])
  const client = feathers()
  client.configure(connection)
  client.use('users', connection.service('users'), { methods: USER_METHODS })
  const users = client.service('users') as unknown as FeathersUsers
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.disconnect(); reject(new Error(`no Socket.io handshake within ${timeoutMs} ms`)) }, timeoutMs)
    socket.once('connect', () => { clearTimeout(timer); resolve({ socket, users }) })
    socket.once('connect_error', (err) => { clearTimeout(timer); socket.disconnect(); reject(err) })
  })
}

/** Disconnects clients and waits (bounded) for their transports to be closed. */
export async function closeFeathers (clients: FeathersClient[]): Promise<void> {
  await Promise.all(clients.map(({ socket }) => new Promise<void>((resolve) => {
    const engine = socket.io.engine
    if (engine === undefined || engine.readyState === 'closed') {
      socket.disconnect()
      return resolve()
    }
    const timer = setTimeout(resolve, 2000)
    engine.once('close', () => { clearTimeout(timer); resolve() })
    socket.disconnect()
  })))
}
