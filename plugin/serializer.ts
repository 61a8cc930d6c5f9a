import { Type, type TObject, type TSchema } from '@sinclair/typebox'
import { getTableColumns, getTableName, type Column, type Table } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import { createInsertSchema, createSelectSchema } from 'drizzle-typebox'
import type { ColumnKey } from '../types/table.js'
import type {
  ComputedField,
  NestedField,
  Serializer,
  SerializerInput,
  SerializerOptions,
  SerializerOutput,
  ValidateOptions,
  ValidatedOf
} from '../types/serializer.js'
import type { FieldErrors } from '../types/index.js'
import { errors, validationError } from './errors.js'
import { codecOf, Invalid, pythonType, toJson } from './serializer-fields.js'
import { isPromise, kRepresent, nestedReader, representer, then, type Reader, type Represent } from './serializer-readers.js'
import { nonNull, withMaxLength } from './serializer-schema.js'
import { compileValidator } from './validation.js'

export type { SerializerContext } from '../types/context.js'
export type { ColumnKey } from '../types/table.js'
export type {
  AnySerializer,
  ComputedField,
  inferInput,
  inferSerialized,
  SerializerInput,
  NestedField,
  Serializer,
  SerializerOptions,
  SerializerOutput,
  ValidateOptions,
  Wire
} from '../types/serializer.js'

const kContextFree = Symbol('fastify-dcrf.context-free')

/** Whether a serializer's output depends on the row alone, so that a fan-out serializes it once. */
export function isContextFree (serializer: unknown): boolean {
  const s = serializer as { [kContextFree]?: unknown, toRepresentation?: unknown } | null
  // The mark names the toRepresentation it vouches for: a copy with its own one is not vouched for.
  return s?.[kContextFree] !== undefined && s[kContextFree] === s.toRepresentation
}

const hasPlainPrototype = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Defines a serializer for a Drizzle table: DRF's `ModelSerializer`. Field names are the table's
 * JS column keys (a typo does not compile); the output type follows the options. A primary key the
 * database fills is read-only; read-only and unknown input fields are ignored, never written.
 * Output is JSON-safe (dates as ISO strings, bigints as numbers or strings).
 *
 * @example
 * const userSerializer = serializer(users, {
 *   fields: ['id', 'username', 'email', 'password'],
 *   writeOnly: ['password'],
 *   schema: { email: Type.String({ format: 'email' }) }
 * })
 * const values = await userSerializer.validate(args.data)        // throws DRF field errors (400)
 * const [row] = await db.insert(users).values(values).returning()
 * return { data: await userSerializer.toRepresentation(row), status: 201 }
 *
 * @example
 * const messageSerializer = serializer(messages, {
 *   computed: { created_at_formatted: (row) => row.createdAt.toISOString().slice(0, 19) },
 *   nested: { user: { serializer: userSerializer } }                 // rows loaded `with: { user: true }`
 * })
 * const roomSerializer = serializer(rooms, {
 *   fields: ['pk', 'name', 'host', 'messages'],
 *   nested: { messages: { serializer: messageSerializer, many: true } }
 * })
 */
export function serializer<
  TTable extends PgTable,
  TComputed = Record<never, never>,
  TNested extends Record<string, Omit<NestedField, 'source'>> = Record<never, never>,
  TFields extends ColumnKey<TTable> | 'pk' | (keyof TComputed & string) | (keyof TNested & string) = never,
  TExclude extends ColumnKey<TTable> = never,
  TWriteOnly extends ColumnKey<TTable> = never,
  TPk extends boolean = false,
  TReadOnly extends ColumnKey<TTable> = never
> (
  table: TTable,
  options: SerializerOptions<TTable, TFields, TExclude, TWriteOnly, TPk, TComputed, TNested, TReadOnly> = {}
): Serializer<TTable, SerializerOutput<TTable, TFields, TExclude, TWriteOnly, TPk, TComputed, TNested>, SerializerInput<TTable, TFields, TExclude, TReadOnly, TComputed, TNested>> {
  const tableName = getTableName(table)
  const invalid = (message: string): Error => new errors.DCRF_ERR_INVALID_SERIALIZER(tableName, message)
  const columns: Record<string, Column> = getTableColumns(table)
  const isColumn = (key: string): boolean => Object.hasOwn(columns, key)
  const computed: Record<string, ComputedField<TTable>> = options.computed ?? {}
  const nested: Record<string, NestedField<TTable>> = options.nested ?? {}
  const overrides: Record<string, TSchema | undefined> = options.schema ?? {}
  const declared = new Set([...Object.keys(computed), ...Object.keys(nested)])

  if (options.fields !== undefined && options.exclude !== undefined) throw invalid('give either fields or exclude, not both')
  for (const key of options.fields ?? []) {
    if (!isColumn(key) && key !== 'pk' && !declared.has(key)) throw invalid(`fields: "${key}" is not a column, "pk", a computed or a nested field`)
  }
  const columnLists = { exclude: options.exclude, readOnly: options.readOnly, writeOnly: options.writeOnly, schema: Object.keys(overrides) }
  for (const [option, keys] of Object.entries(columnLists)) {
    for (const key of keys ?? []) if (!isColumn(key)) throw invalid(`${option}: "${key}" is not a column`)
  }

  const names: string[] = options.fields !== undefined
    ? [...new Set<string>(options.fields)]
    : Object.keys(columns).filter((key) => !(options.exclude as readonly string[] | undefined)?.includes(key))
  if (options.pk === true && !names.includes('pk')) names.unshift('pk')
  for (const name of declared) if (!names.includes(name)) names.push(name)
  const primaryKeys = Object.keys(columns).filter((key) => columns[key].primary)
  const pkAlias = names.includes('pk') && !isColumn('pk')
  if (pkAlias && primaryKeys.length !== 1) throw invalid('"pk" needs a primary key of one column')
  const readOnly = new Set<string>(options.readOnly)
  const writeOnly = new Set<string>(options.writeOnly)
  for (const key of writeOnly) {
    if (!names.includes(key)) throw invalid(`writeOnly: "${key}" is not among the fields`)
    if (readOnly.has(key)) throw invalid(`"${key}" cannot be both read-only and write-only`)
  }

  const codecs = new Map(Object.entries(columns).map(([key, column]) => [key, codecOf(column)]))
  // drizzle-typebox wraps what a refinement function returns in the column's null/optional modifiers.
  const refine = (withOverrides: boolean): never => Object.fromEntries([...codecs].map(([key, codec]) => [
    key, (base: TSchema) => {
      const override = withOverrides ? overrides[key] : undefined
      return override === undefined ? codec.wireSchema(base) : withMaxLength(override, base)
    }
  ])) as never
  const insertSchema = createInsertSchema(table as Table, refine(true)) as unknown as TObject
  const selectSchema = createSelectSchema(table as Table, refine(false)) as unknown as TObject

  // Generated columns are not in the insert schema.
  const writable = names.filter((key) => isColumn(key) && !declared.has(key) && !readOnly.has(key) &&
    !(columns[key].primary && (columns[key].hasDefault || columns[key].generatedIdentity !== undefined)) &&
    Object.hasOwn(insertSchema.properties, key))
  const inputSchema = Type.Object(Object.fromEntries(writable.map((key) => [key, insertSchema.properties[key]])))
  const checkSchema = Type.Object(Object.fromEntries(writable.map((key) => [key, nonNull(inputSchema.properties[key])])))
  const checkFull = compileValidator(checkSchema)
  const checkPartial = compileValidator(Type.Partial(checkSchema))

  const readable = names.filter((name) => !writeOnly.has(name))
  const readers: Array<[string, Reader]> = []
  const outputProperties: Record<string, TSchema> = {}
  for (const name of readable) {
    if (Object.hasOwn(computed, name)) {
      const compute = computed[name]
      readers.push([name, (row, context) => then(compute(row as never, context), toJson)])
      outputProperties[name] = Type.Unknown()
    } else if (Object.hasOwn(nested, name)) {
      readers.push([name, nestedReader(name, nested[name], invalid)])
      const { serializer: child, many } = nested[name]
      outputProperties[name] = many === true ? Type.Array(child.outputSchema) : Type.Union([child.outputSchema, Type.Null()])
    } else {
      const key = pkAlias && name === 'pk' ? primaryKeys[0] : name
      const codec = codecs.get(key)!
      readers.push([name, (row) => {
        const value = row[key]
        return value === null || value === undefined ? null : codec.toWire(value)
      }])
      outputProperties[name] = selectSchema.properties[key]
    }
  }

  const represent = representer(readers)

  async function validate (data: unknown, { partial = false, context = {} }: ValidateOptions = {}): Promise<ValidatedOf<TTable>> {
    if (data === null || data === undefined) throw validationError({ non_field_errors: ['No data provided'] })
    if (typeof data !== 'object' || !hasPlainPrototype(data)) {
      throw validationError({ non_field_errors: [`Invalid data. Expected a dictionary, but got ${pythonType(data)}.`] })
    }
    const input = data as Record<string, unknown>
    // By own key: read-only and unknown keys (`__proto__` too) never reach the values (mass assignment).
    const values: Record<string, unknown> = {}
    const nonNullValues: Record<string, unknown> = {}
    const fieldErrors: Record<string, unknown> = {}
    for (const key of writable) {
      if (!Object.hasOwn(input, key) || input[key] === undefined) continue
      const raw = input[key]
      const value = raw === null
        ? (columns[key].notNull ? new Invalid('This field may not be null.') : null)
        : codecs.get(key)!.coerce(raw)
      if (value instanceof Invalid) fieldErrors[key] = [value.message]
      values[key] = value instanceof Invalid ? raw : value
      if (values[key] !== null) nonNullValues[key] = values[key]
    }
    const schemaErrors: Record<string, unknown> = (partial ? checkPartial : checkFull)(nonNullValues) ?? {}
    if (Object.keys(fieldErrors).length > 0 || Object.keys(schemaErrors).length > 0) {
      const ordered: Record<string, unknown> = {}
      for (const key of writable) {
        const fieldError = Object.hasOwn(fieldErrors, key) ? fieldErrors[key] : schemaErrors[key]
        if (fieldError !== undefined) ordered[key] = fieldError
      }
      for (const key of Object.keys(schemaErrors)) if (!Object.hasOwn(ordered, key)) ordered[key] = schemaErrors[key]
      throw validationError(ordered as FieldErrors)
    }
    const attrs: Record<string, unknown> = {}
    for (const key of writable) {
      if (Object.hasOwn(values, key)) attrs[key] = values[key] === null ? null : codecs.get(key)!.toDb(values[key])
    }
    const checked = options.validate === undefined ? undefined : await options.validate(attrs as ValidatedOf<TTable>, { partial, context })
    return checked ?? attrs as ValidatedOf<TTable>
  }

  const result: Serializer<TTable, any, any> & { [kRepresent]: Represent, [kContextFree]?: unknown } = {
    table,
    modelName: options.modelName ?? tableName.replace(/s$/, ''),
    fields: readable,
    writableFields: writable,
    inputSchema,
    outputSchema: Type.Object(outputProperties),
    async toRepresentation (row, context = {}) {
      return await represent(row, context)
    },
    toRepresentationSync (row, context = {}) {
      const output = represent(row, context)
      if (isPromise(output)) {
        output.then(undefined, () => {}) // nobody awaits it: keep a rejection from going unhandled
        throw invalid('toRepresentationSync met an asynchronous computed or nested field; use toRepresentation')
      }
      return output
    },
    async toRepresentationMany (rows, context = {}) {
      return await Promise.all(rows.map((row) => represent(row, context)))
    },
    validate,
    [kRepresent]: represent
  }
  if (readable.every((name) => !Object.hasOwn(computed, name) && !Object.hasOwn(nested, name))) {
    result[kContextFree] = result.toRepresentation
  }
  return result
}
