/**
 * Loaded first (`node --import`) by the replay of a README program that listens on port 3000
 * itself: that `listen` takes a free port instead, so the replay never meets another server there.
 */
import { Server } from 'node:net'

const listen = Server.prototype.listen
Server.prototype.listen = function (this: Server, ...args: unknown[]) {
  const [options] = args
  if (typeof options === 'object' && options !== null && (options as { port?: unknown }).port === 3000) args[0] = { ...options, port: 0 }
  return listen.apply(this, args as Parameters<typeof listen>)
} as typeof listen
