/**
 * The public types of permissions: DCRF's `BasePermission`, and Fastify hooks turned into one. No
 * runtime code lives here; `plugin/permissions.ts` builds the values.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ActionArgs, AnyContext } from './context.js'

/**
 * A permission, DCRF's `BasePermission`. Each check returns `true` to allow, `false` to deny
 * (403), or throws a coded error (e.g. `NotAuthenticated`, 401). Inside a consumer's definition its
 * `ctx` is that consumer's context; a permission declared apart (`const p: Permission = …`) gets
 * a context of any consumer and fits every one.
 *
 * @example
 * const isOwner: Permission = { hasPermission: (ctx, action, args) => args.user_pk === ctx.user?.id }
 */
export interface Permission<TCtx = AnyContext> {
  /** Checked before each action, before the action is even looked up. */
  hasPermission?: (ctx: TCtx, action: string, args: ActionArgs) => boolean | Promise<boolean>
  /** Checked during the handshake; a denial refuses the upgrade with an HTTP status. */
  canConnect?: (ctx: TCtx) => boolean | Promise<boolean>
}

/** A Fastify hook in `(request, reply)` or `(request, reply, done)` form, e.g. a JWT verify. */
export type FastifyAuthHook =
  | ((request: FastifyRequest, reply: FastifyReply) => unknown)
  | ((request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void)
