import type { TSchema } from '@sinclair/typebox'
import type {
  ActionBuilders,
  ActionDefinition,
  ActionHandler,
  ActionReturn,
  AnyConsumer,
  ConsumerContext,
  ConsumerInput,
  ConsumerState,
  DefineConsumer,
  GetActionName,
  GroupHandler,
  ObserverBuilders,
  Permission,
  Validator
} from '../types/index.js'
import { errors } from './errors.js'
import { isPermissionList } from './permissions.js'
import { compileGeneric, type GenericConfig } from './generic-consumer.js'
import * as mixins from './mixins/index.js'
import { modelObserver, observer } from './observer/define.js'
import { compileValidator } from './validation.js'

const observerBuilders: ObserverBuilders<any> = { modelObserver, observer }
const actionBuilders: ActionBuilders<any, any, any> = { ...mixins, mixins, action: (definition) => definition }

/**
 * Defines a consumer: DCRF's consumer class as a plain object. Its `state`, `table`, `serializer`
 * and `observers` type every context it hands out. `actions` (and `observers`) is an object, or a
 * function given `action` and the mixins typed by this consumer (README, TypeScript).
 *
 * @example
 * const echo = defineConsumer({
 *   state: () => ({ count: 0 }),
 *   actions: ({ action }) => ({
 *     echo: (ctx, args) => ({ data: args }),
 *     slow: action({ detached: true, handler: async (ctx, args, { signal }) => ({ data: await work(signal) }) })
 *   })
 * })
 */
export const defineConsumer: DefineConsumer = (definition: ConsumerInput<any, any, any, any, any, any, any>): any => {
  const { actions, observers } = definition
  if (typeof actions !== 'function' && typeof observers !== 'function') return definition
  const built: Record<string, unknown> = { ...definition }
  if (typeof observers === 'function') built.observers = observers(observerBuilders)
  if (typeof actions === 'function') built.actions = actions(actionBuilders as never)
  return built
}

/**
 * Defines an action with options; its arguments are inferred from `schema`. Its `ctx` is any
 * consumer's: the `action` handed to `actions: ({ action }) => ({ … })` knows its consumer.
 *
 * @example
 * send_email: action({
 *   schema: Type.Object({ pk: Type.Integer(), to: Type.String({ format: 'email' }) }),
 *   async handler (ctx, { pk, to }) { ...; return { data: {}, status: 200 } }
 * })
 */
export function action<
  TArgsSchema extends TSchema | undefined = undefined,
  TReturn extends ActionReturn = ActionReturn,
  const TAliases extends readonly string[] = readonly [],
  const TSubscribes extends string = never
> (
  definition: ActionDefinition<ConsumerContext<ConsumerState, any, any, any>, TArgsSchema, TReturn, TAliases, TSubscribes>
): ActionDefinition<ConsumerContext<ConsumerState, any, any, any>, TArgsSchema, TReturn, TAliases, TSubscribes> {
  return definition
}

/** An action ready to run; `name` is the one it was defined under, not an alias. */
export interface CompiledAction {
  name: string
  handler: ActionHandler<any, any, ActionReturn>
  validate: Validator | null
  detached: boolean
  atomic: boolean | undefined
  permissions: readonly Permission[] | null
}

/** A consumer ready to serve connections. */
export interface CompiledConsumer {
  definition: AnyConsumer
  actions: Map<string, CompiledAction>
  /** `null`: the plugin's default permissions apply. */
  permissions: readonly Permission[] | null
  groupHandlers: Map<string, GroupHandler<any>>
  getActionName: GetActionName
  generic: GenericConfig | null
}

/** DCRF's default: `{"action": name, ...args}`; `request_id` is taken out before this runs. */
export const defaultGetActionName: GetActionName = (frame) => {
  const { action: name, ...args } = frame
  return { action: name, args }
}

function checkPermissions (where: string, permissions: unknown): readonly Permission[] {
  if (!isPermissionList(permissions)) {
    throw new errors.DCRF_ERR_INVALID_CONSUMER(where, 'permissions must be an array of permissions (objects with hasPermission or canConnect)')
  }
  return permissions
}

/** Checks a definition at mount time and builds its tables, once per definition. */
export function compileConsumer (definition: AnyConsumer, where: string, compiled: WeakMap<AnyConsumer, CompiledConsumer>): CompiledConsumer {
  const cached = compiled.get(definition)
  if (cached !== undefined) return cached
  if (typeof definition !== 'object' || definition === null) {
    throw new errors.DCRF_ERR_INVALID_CONSUMER(where, 'a consumer must be an object')
  }
  if (typeof definition.actions !== 'object' || definition.actions === null) {
    throw new errors.DCRF_ERR_INVALID_CONSUMER(where, 'actions must be an object of handlers')
  }
  const actions = new Map<string, CompiledAction>()
  const register = (name: string, compiledAction: CompiledAction): void => {
    if (actions.has(name)) {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `action "${name}" is defined twice`)
    }
    actions.set(name, compiledAction)
  }
  for (const [name, entry] of Object.entries(definition.actions as Record<string, unknown>)) {
    const def = (typeof entry === 'function' ? { handler: entry } : entry) as ActionDefinition<any, TSchema | undefined>
    if (typeof def !== 'object' || def === null || typeof def.handler !== 'function') {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `action "${name}" needs a handler function`)
    }
    if (def.detached === true && def.atomic === true) {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `action "${name}" cannot be both detached and atomic: open a transaction in its handler`)
    }
    const compiledAction: CompiledAction = {
      name,
      handler: def.handler,
      validate: def.schema ? compileValidator(def.schema) : null,
      detached: def.detached === true,
      atomic: def.atomic,
      permissions: def.permissions ? checkPermissions(`${where} action "${name}"`, def.permissions) : null
    }
    register(name, compiledAction)
    for (const alias of def.aliases ?? []) {
      if (typeof alias !== 'string') throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `aliases of "${name}" must be strings`)
      register(alias, compiledAction)
    }
  }
  const groupHandlers = new Map<string, GroupHandler<any>>()
  for (const [type, handler] of Object.entries(definition.groupHandlers ?? {})) {
    if (typeof handler !== 'function') {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `group handler "${type}" must be a function`)
    }
    groupHandlers.set(type, handler as GroupHandler<any>)
  }
  for (const hook of ['onConnect', 'onDisconnect', 'getActionName', 'state', 'queryset', 'filterQueryset', 'getSerializer', 'serializerContext', 'orderBy'] as const) {
    if (definition[hook] !== undefined && typeof definition[hook] !== 'function') {
      throw new errors.DCRF_ERR_INVALID_CONSUMER(where, `${hook} must be a function`)
    }
  }
  const result: CompiledConsumer = {
    definition,
    actions,
    permissions: definition.permissions ? checkPermissions(where, definition.permissions) : null,
    groupHandlers,
    getActionName: definition.getActionName ?? defaultGetActionName,
    generic: compileGeneric(definition, where)
  }
  compiled.set(definition, result)
  return result
}

/** The handler of a group message type: the type itself, or with dots as underscores (Channels' rule). */
export function groupHandlerFor (consumer: CompiledConsumer, type: string): GroupHandler<any> | undefined {
  return consumer.groupHandlers.get(type) ?? consumer.groupHandlers.get(type.replaceAll('.', '_'))
}
