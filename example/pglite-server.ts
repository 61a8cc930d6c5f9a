/**
 * The embedded database (PGlite) served to outside clients over the PostgreSQL wire protocol
 * (`@electric-sql/pglite-socket`), so that `psql` can change rows while the pages watch them.
 *
 * PGlite has one session: a NOTIFY raised by a socket client's statement goes out in that client's
 * own stream, not to the application's in-process LISTEN. So the server reads the notifications
 * out of what it sends its clients and hands them to the application's listeners too — which
 * `listen` (the plugin's `externalChanges.listener`) registers.
 */
import type { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { ExternalListen } from 'fastify-dcrf'

type Listener = (payload: string) => void

/** The application's LISTEN on PGlite, hearing what socket clients' statements notify as well. */
export class PgliteNotifications {
  readonly #client: PGlite
  readonly #listeners = new Map<string, Set<Listener>>()

  constructor (client: PGlite) {
    this.#client = client
  }

  /** For `externalChanges.listener`. */
  readonly listen: ExternalListen = async (channel, onNotify, onListen) => {
    const unlisten = await this.#client.listen(channel, onNotify)
    let set = this.#listeners.get(channel)
    if (set === undefined) this.#listeners.set(channel, set = new Set())
    set.add(onNotify)
    onListen()
    return async () => {
      set.delete(onNotify)
      await unlisten()
    }
  }

  /**
   * Starts serving on `port` of `host` (0, or a port already taken: a free one); resolves to the
   * server and its port.
   */
  async serve (port: number, host = '127.0.0.1'): Promise<{ server: PGLiteSocketServer, port: number }> {
    const server = new PGLiteSocketServer({ db: this.#tapped(), port, host, maxConnections: 8 })
    try {
      await server.start()
    } catch (err) {
      // a PostgreSQL of its own may already listen there: the example still starts
      if (port !== 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') return this.serve(0, host)
      throw err
    }
    return { server, port: Number(server.getServerConn().split(':').pop()) }
  }

  /** The client as the socket server sees it: its raw output read for notifications on the way. */
  #tapped (): PGlite {
    const client = this.#client
    const dispatch = (channel: string, payload: string): void => {
      for (const listener of this.#listeners.get(channel) ?? []) listener(payload)
    }
    const execProtocolRawStream: PGlite['execProtocolRawStream'] = (message, options) => {
      const scan = notificationScanner(dispatch)
      return client.execProtocolRawStream(message, {
        ...options,
        onRawData: (chunk) => {
          scan(chunk)
          options.onRawData(chunk)
        }
      })
    }
    // a proxy, not a prototype child: PGlite's methods use private fields of the instance itself
    return new Proxy(client, {
      get (target, property) {
        if (property === 'execProtocolRawStream') return execProtocolRawStream
        const value = Reflect.get(target, property, target) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
  }
}

/** Reads NotificationResponse messages ('A') out of a backend's output, chunk by chunk. */
function notificationScanner (onNotification: (channel: string, payload: string) => void): (chunk: Uint8Array) => void {
  let carry: Buffer = Buffer.alloc(0)
  return (chunk) => {
    let data = carry.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([carry, chunk])
    let offset = 0
    // a message: its type byte, then its length (counting itself), then its body
    while (data.length - offset >= 5) {
      const length = data.readUInt32BE(offset + 1)
      if (data.length - offset < 1 + length) break
      if (data[offset] === 0x41) {
        const body = data.subarray(offset + 9, offset + 1 + length)
        const channelEnd = body.indexOf(0)
        const payloadEnd = body.indexOf(0, channelEnd + 1)
        onNotification(body.toString('utf8', 0, channelEnd), body.toString('utf8', channelEnd + 1, payloadEnd))
      }
      offset += 1 + length
    }
    data = data.subarray(offset)
    carry = Buffer.from(data)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The URL the embedded database is served on (`pgliteSocketPort`), when it is. */
    pgliteUrl?: string
  }
}
