/**
 * Just enough of the Redis protocol (RESP2) for the baseline server's cross-process mode: PUBLISH
 * on one connection, SUBSCRIBE and its messages on another. Written by hand, as directly as
 * possible, so the baseline carries no client library's overhead.
 */
import { connect, type Socket } from 'node:net'

type Reply = string | number | null | Error | Reply[]

/** Encodes a command as an array of bulk strings. */
function encode (args: string[]): string {
  let out = `*${args.length}\r\n`
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`
  return out
}

/** Parses one reply at `offset`; returns it and the offset after it, or null when incomplete. */
function parse (buffer: Buffer, offset: number): [Reply, number] | null {
  const end = buffer.indexOf('\r\n', offset)
  if (end === -1) return null
  const type = buffer[offset]
  const line = buffer.toString('utf8', offset + 1, end)
  switch (type) {
    case 0x2b: return [line, end + 2] // +
    case 0x2d: return [new Error(line), end + 2] // -
    case 0x3a: return [Number(line), end + 2] // :
    case 0x24: { // $
      const length = Number(line)
      if (length === -1) return [null, end + 2]
      if (buffer.length < end + 2 + length + 2) return null
      return [buffer.toString('utf8', end + 2, end + 2 + length), end + 2 + length + 2]
    }
    case 0x2a: { // *
      const count = Number(line)
      const items: Reply[] = []
      let at = end + 2
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, at)
        if (item === null) return null
        items.push(item[0])
        at = item[1]
      }
      return [items, at]
    }
    default: throw new Error(`RESP: unexpected reply type ${String.fromCharCode(type)}`)
  }
}

/** One Redis connection: commands in, replies out in order (pushed messages go to `onPush`). */
export class Resp {
  #socket: Socket
  #pending: Buffer = Buffer.alloc(0)
  #waiting: Array<(reply: Reply) => void> = []
  #subscribed = false
  onPush: (channel: string, message: string) => void = () => {}

  private constructor (socket: Socket) {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk) => this.#read(chunk))
  }

  static open (url: string): Promise<Resp> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port || 6379), hostname, () => resolve(new Resp(socket)))
      socket.once('error', reject)
    })
  }

  #read (chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    let offset = 0
    for (;;) {
      const parsed = parse(this.#pending, offset)
      if (parsed === null) break
      const [reply, next] = parsed
      offset = next
      // In subscriber mode, messages arrive unasked: ["message", channel, payload].
      if (this.#subscribed && Array.isArray(reply) && reply[0] === 'message') {
        this.onPush(reply[1] as string, reply[2] as string)
      } else {
        this.#waiting.shift()?.(reply)
      }
    }
    this.#pending = offset === this.#pending.length ? Buffer.alloc(0) : this.#pending.subarray(offset)
  }

  /** Sends a command; resolves with its reply (for SUBSCRIBE: the confirmation). */
  command (...args: string[]): Promise<Reply> {
    if (args[0] === 'SUBSCRIBE') this.#subscribed = true
    return new Promise((resolve) => {
      this.#waiting.push(resolve)
      this.#socket.write(encode(args))
    })
  }

  /** Sends a command whose reply nobody waits for (PUBLISH on the hot path). */
  send (...args: string[]): void {
    this.#waiting.push(() => {})
    this.#socket.write(encode(args))
  }

  close (): void {
    this.#socket.destroy()
  }
}
