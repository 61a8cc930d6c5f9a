/** How a serializer reads a row: one reader per field, a promise only where a field is async. */
import type { NestedField, SerializerContext } from '../types/index.js'
import { pythonType } from './serializer-fields.js'

export type Represent = (row: unknown, context: SerializerContext) => unknown
export type Reader = (row: Record<string, unknown>, context: SerializerContext) => unknown

/** Where a serializer made by `serializer()` keeps its `Represent`, for nested serializers. */
export const kRepresent = Symbol('fastify-dcrf.represent')

export const isPromise = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === 'function'

/** Applies `fn` to a value, or to what a promise resolves to. */
export const then = (value: unknown, fn: (value: unknown) => unknown): unknown => isPromise(value) ? value.then(fn) : fn(value)

/** The representation function of a serializer whose fields are read by `readers`, in order. */
export function representer (readers: ReadonlyArray<readonly [string, Reader]>): Represent {
  return (row, context) => {
    const output: Record<string, unknown> = {}
    let pending: Array<PromiseLike<void>> | undefined
    for (const [name, read] of readers) {
      const value = read(row as Record<string, unknown>, context)
      if (isPromise(value)) {
        output[name] = null // holds the key's place in the output order
        pending ??= []
        pending.push(value.then((resolved) => { output[name] = resolved }))
      } else {
        output[name] = value
      }
    }
    return pending === undefined ? output : Promise.all(pending).then(() => output)
  }
}

/** Reads a nested field: the related row(s), serialized by the nested serializer. */
export function nestedReader (name: string, field: NestedField<any>, invalid: (message: string) => Error): Reader {
  const represent = (field.serializer as { [kRepresent]?: Represent })[kRepresent]
  if (represent === undefined) throw invalid(`nested.${name}: the serializer must come from serializer()`)
  const serialize = (value: unknown, context: SerializerContext): unknown => {
    if (field.many !== true) return value === null || value === undefined ? null : represent(value, context)
    if (value === null || value === undefined) return []
    if (!Array.isArray(value)) throw invalid(`nested.${name}: expected a list of rows, got ${pythonType(value)}`)
    const items = value.map((item) => represent(item, context))
    return items.some(isPromise) ? Promise.all(items) : items
  }
  const { source } = field
  return (row, context) => {
    if (source !== undefined) return then(source(row, context), (value) => serialize(value, context))
    // A relation that was not loaded is a mistake to report, not a null to send.
    if (row[name] === undefined) throw invalid(`nested.${name}: the row has no "${name}"; load it with Drizzle's \`with\` or give a source`)
    return serialize(row[name], context)
  }
}
