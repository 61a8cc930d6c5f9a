/**
 * The public type surface of fastify-dcrf, one file per concept. No runtime code lives here:
 * `plugin/` imports its types from this folder so the published types cannot drift from the
 * implementation.
 */
export type * from './table.js'
export type * from './context.js'
export type * from './action.js'
export type * from './consumer.js'
export type * from './infer.js'
export type * from './mixins.js'
export type * from './observer.js'
export type * from './permission.js'
export type * from './serializer.js'
export type * from './plugin.js'
export type * from './diagnostics.js'
export type * from './change.js'
export type * from './errors.js'
export type * from './view-as-consumer.js'
