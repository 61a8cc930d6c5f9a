/**
 * The AsyncAPI 3.0 document of the mounted consumers, as @fastify/swagger's OpenAPI: a channel per
 * route, each action a `receive` operation with its reply correlated by `request_id`, each
 * observer's events a `send` operation.
 */
import type { AsyncApiOptions, AsyncApiPluginOptions } from '../types/diagnostics.js'
import type { AnyConsumer } from '../types/index.js'
import { compileConsumer, type CompiledConsumer } from './consumer.js'
import { errors } from './errors.js'

type Schema = Record<string, unknown>
type Doc = Record<string, any>

/** The consumers mounted by one plugin registration, by route, in mount order. */
export class Mounts {
  readonly routes: Array<{ path: string, streams: Map<string | null, AnyConsumer> }> = []
  #cached: Doc | null = null
  readonly #compiled: WeakMap<AnyConsumer, CompiledConsumer>

  constructor (compiled: WeakMap<AnyConsumer, CompiledConsumer>) {
    this.#compiled = compiled
  }

  add (path: string, streams: Map<string | null, AnyConsumer>): void {
    this.routes.push({ path, streams })
    this.#cached = null
  }

  /** The document, built on first use and whenever a route was mounted since. */
  document (options: AsyncApiOptions): Doc {
    this.#cached ??= buildAsyncApi(this.routes, options, this.#compiled)
    return this.#cached
  }
}

const GENERIC = new Set(['list', 'retrieve', 'create', 'update', 'patch', 'delete', 'subscribe_instance', 'unsubscribe_instance'])

// Non-JSON kinds (dates, big integers, bytes) as they travel.
function toJsonSchema (schema: unknown): Schema {
  const plain = JSON.parse(JSON.stringify(schema ?? {})) as Schema
  return wire(plain) as Schema
}

function wire (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(wire)
  if (typeof node !== 'object' || node === null) return node
  const schema = node as Schema
  switch (schema.type) {
    case 'Date': return { type: 'string', format: 'date-time' }
    case 'bigint': return { type: 'string', pattern: '^-?[0-9]+$' }
    case 'Uint8Array': return { type: 'string', contentEncoding: 'base64' }
    case 'undefined': case 'symbol': case 'Function': case 'Constructor': case 'Void': return {}
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, wire(value)]))
}

// AsyncAPI allows letters, digits, `.`, `-` and `_` in a component key.
function keyOf (text: string): string {
  const key = text.replace(/[^\w.-]+/g, '_')
  let start = 0
  let end = key.length
  while (key[start] === '_') start++
  while (end > start && key[end - 1] === '_') end--
  return key.slice(start, end) || 'root'
}

function actionsOf (definition: AnyConsumer): Array<{ name: string, names: string[], schema: unknown, detached: boolean }> {
  return Object.entries(definition.actions as Record<string, unknown>).map(([name, entry]) => {
    const def = (typeof entry === 'function' ? {} : entry) as { schema?: unknown, aliases?: string[], detached?: boolean }
    return { name, names: [name, ...(def.aliases ?? [])], schema: def.schema, detached: def.detached === true }
  })
}

function genericSchemas (compiled: CompiledConsumer, action: string): { args: Schema, data: Schema } | null {
  const generic = compiled.generic
  if (generic === null || !GENERIC.has(action)) return null
  const serializer = generic.serializer as { outputSchema?: unknown, inputSchema?: unknown }
  const output = serializer.outputSchema === undefined ? {} : toJsonSchema(serializer.outputSchema)
  const input = serializer.inputSchema === undefined ? { type: 'object' } : toJsonSchema(serializer.inputSchema)
  const pkSchema = (output.properties as Record<string, Schema> | undefined)?.[generic.pkKey] ?? {}
  const lookup = { type: 'object', properties: { [generic.lookupKwarg]: pkSchema }, required: [generic.lookupKwarg] }
  const partial = { ...input, required: undefined }
  delete partial.required
  switch (action) {
    case 'list': return {
      args: { type: 'object' },
      data: {
        anyOf: [
          { type: 'array', items: output },
          { type: 'object', properties: { count: { type: 'integer' }, results: { type: 'array', items: output }, limit: { type: 'integer' }, offset: { type: 'integer' } } }
        ]
      }
    }
    case 'retrieve': return { args: lookup, data: output }
    case 'create': return { args: { type: 'object', properties: { data: input }, required: ['data'] }, data: output }
    case 'update': return { args: { ...lookup, properties: { ...lookup.properties, data: input }, required: [generic.lookupKwarg, 'data'] }, data: output }
    case 'patch': return { args: { ...lookup, properties: { ...lookup.properties, data: partial }, required: [generic.lookupKwarg, 'data'] }, data: output }
    default: return { args: lookup, data: { type: 'null' } }
  }
}

function replySchema (names: string[], data: Schema): Schema {
  return {
    type: 'object',
    properties: {
      errors: { type: 'array', maxItems: 0 },
      data,
      action: names.length === 1 ? { const: names[0] } : { enum: names },
      response_status: { type: 'integer', minimum: 200, maximum: 299 },
      request_id: {}
    },
    required: ['errors', 'data', 'action', 'response_status', 'request_id']
  }
}

const ERROR_REPLY: Schema = {
  type: 'object',
  properties: {
    errors: { type: 'array', items: {}, description: 'Messages, or one object of field errors' },
    data: { type: 'null' },
    action: {},
    response_status: { type: 'integer', minimum: 400, maximum: 599 },
    request_id: {}
  },
  required: ['errors', 'data', 'action', 'response_status', 'request_id']
}

const inStream = (stream: string | null, payload: Schema): Schema => stream === null
  ? payload
  : { type: 'object', properties: { stream: { const: stream }, payload }, required: ['stream', 'payload'] }

function buildAsyncApi (routes: ReadonlyArray<{ path: string, streams: Map<string | null, AnyConsumer> }>, options: AsyncApiOptions, compiledConsumers: WeakMap<AnyConsumer, CompiledConsumer>): Doc {
  const channels: Doc = {}
  const operations: Doc = {}
  const messages: Doc = {}
  for (const { path, streams } of routes) {
    const channelId = keyOf(path)
    const channel: Doc = {
      address: path,
      title: path,
      messages: {},
      bindings: { ws: { method: 'GET', bindingVersion: '0.1.0' } }
    }
    channels[channelId] = channel
    const channelRef = { $ref: `#/channels/${channelId}` }
    for (const [stream, consumer] of streams) {
      const compiled = compileConsumer(consumer, stream === null ? path : `${path} stream "${stream}"`, compiledConsumers)
      const base = stream === null ? channelId : `${channelId}.${keyOf(stream)}`
      const correlationId = { location: stream === null ? '$message.payload#/request_id' : '$message.payload#/payload/request_id' }
      const addMessage = (key: string, name: string, summary: string, payload: Schema, correlated: boolean): Doc => {
        const id = `${base}.${key}`
        messages[id] = { name, summary, contentType: 'application/json', payload: inStream(stream, payload), ...(correlated ? { correlationId } : {}) }
        channel.messages[id] = { $ref: `#/components/messages/${id}` }
        return { $ref: `#/channels/${channelId}/messages/${id}` }
      }
      const errorRef = addMessage('error', 'error', 'An error reply (400–599), to any action', ERROR_REPLY, true)
      for (const action of actionsOf(consumer)) {
        const generic = genericSchemas(compiled, action.name)
        const args = action.schema !== undefined ? toJsonSchema(action.schema) : generic?.args ?? { type: 'object' }
        const request = {
          allOf: [
            {
              type: 'object',
              properties: { action: action.names.length === 1 ? { const: action.name } : { enum: action.names }, request_id: { description: 'Any JSON value; the reply carries it back' } },
              required: ['action']
            },
            args
          ]
        }
        const requestRef = addMessage(`${keyOf(action.name)}.request`, action.name, `The ${action.name} action`, request, true)
        const replyRef = addMessage(`${keyOf(action.name)}.reply`, `${action.name} reply`, `What ${action.name} answers`, replySchema(action.names, generic?.data ?? {}), true)
        operations[`${base}.${keyOf(action.name)}`] = {
          action: 'receive',
          channel: channelRef,
          summary: action.detached ? `${action.name} (detached: other actions are served while it runs)` : action.name,
          messages: [requestRef],
          reply: { channel: channelRef, messages: [replyRef, errorRef] }
        }
      }
      const generic = compiled.generic
      if (generic !== null && compiled.actions.has('subscribe_instance')) {
        const output = genericSchemas(compiled, 'retrieve')!.data
        const events = [
          addMessage('instance.update', 'update', `A subscribed ${generic.tableName} row changed`, replySchema(['update'], output), true),
          addMessage('instance.delete', 'delete', `A subscribed ${generic.tableName} row was deleted`, replySchema(['delete'], { type: 'object', properties: { pk: {} } }), true)
        ]
        operations[`${base}.instance`] = { action: 'send', channel: channelRef, summary: `Changes of the ${generic.tableName} rows a client subscribed to`, messages: events }
      }
      for (const [name, observer] of Object.entries(consumer.observers ?? {})) {
        const actions = observer.kind === 'model' ? ['create', 'update', 'delete'] : [observer.signal]
        const events = actions.map((event) => addMessage(`${keyOf(name)}.${keyOf(event)}`, event, `Observer ${name}: ${event}`, {
          ...replySchema([event], {}),
          description: 'Sent once per request id that subscribed; `data` is what the observer serializes'
        }, true))
        operations[`${base}.${keyOf(name)}`] = { action: 'send', channel: channelRef, summary: `Events of observer ${name}`, messages: events }
      }
    }
  }
  const doc: Doc = {
    asyncapi: '3.0.0',
    info: {
      title: options.info?.title ?? 'fastify-dcrf API',
      version: options.info?.version ?? '0.0.0',
      ...(options.info?.description === undefined ? {} : { description: options.info.description })
    },
    defaultContentType: 'application/json'
  }
  if (options.servers !== undefined) doc.servers = options.servers
  doc.channels = channels
  doc.operations = operations
  doc.components = { messages }
  return doc
}

/** Checks the plugin's `asyncapi` option at `register`. */
export function checkAsyncApiOptions (options: unknown): AsyncApiPluginOptions {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw new errors.DCRF_ERR_INVALID_OPTION('asyncapi', 'must be an object')
  const { route, info, servers } = options as AsyncApiPluginOptions
  if (route !== undefined && (typeof route !== 'string' || !route.startsWith('/'))) throw new errors.DCRF_ERR_INVALID_OPTION('asyncapi.route', 'must be a path starting with /')
  if (info !== undefined && (typeof info !== 'object' || info === null)) throw new errors.DCRF_ERR_INVALID_OPTION('asyncapi.info', 'must be an object')
  if (servers !== undefined && (typeof servers !== 'object' || servers === null)) throw new errors.DCRF_ERR_INVALID_OPTION('asyncapi.servers', 'must be an object of AsyncAPI servers')
  return options as AsyncApiPluginOptions
}
