/**
 * The public types of serializers: DRF's `ModelSerializer` over a Drizzle table. No runtime code
 * lives here; `plugin/serializer.ts` builds the values these types describe.
 */
import type { TObject, TSchema } from '@sinclair/typebox'
import type { InferInsertModel } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { SerializerContext } from './context.js'
import type { ColumnKey, RowOf } from './table.js'

/**
 * The primary key column of a table.
 *
 * @example
 * type K = PrimaryKeyOf<typeof users> // 'id'
 */
export type PrimaryKeyOf<TTable extends PgTable> = {
  [K in ColumnKey<TTable>]: TTable['_']['columns'][K]['_']['isPrimaryKey'] extends true ? K : never
}[ColumnKey<TTable>]

/**
 * What `validate()` returns: column values ready for `db.insert(table).values(…)` / `.set(…)`.
 *
 * @example
 * const values: ValidatedOf<typeof users> = await userSerializer.validate(data)
 */
export type ValidatedOf<TTable extends PgTable> = Partial<InferInsertModel<TTable>>

/**
 * The JSON form of a value: `Date` becomes an ISO 8601 string, `bigint` a number (or a string when
 * it is not a safe integer), binary data a base64 string, `undefined` null; deeply.
 *
 * @example
 * type T = Wire<{ at: Date, id: bigint, tags: string[] }> // { at: string, id: number | string, tags: string[] }
 */
export type Wire<T> =
  0 extends (1 & T) ? T // any
    : T extends Date ? string
      : T extends bigint ? number | string
        : T extends Uint8Array ? string
          : T extends undefined ? null
            : T extends ReadonlyArray<infer TItem> ? Array<Wire<TItem>>
              : T extends (...args: any[]) => unknown ? T
                : T extends object ? { [K in keyof T]: Wire<T[K]> }
                  : T

/**
 * DRF's `SerializerMethodField`: a read-only field computed from the row, maybe async.
 *
 * @example
 * computed: { created_at_formatted: (row, context) => row.createdAt.toISOString().slice(0, 10) }
 */
export type ComputedField<TTable extends PgTable> = (row: RowOf<TTable>, context: SerializerContext) => unknown

/**
 * A read-only nested serializer (DRF's `user = UserSerializer(read_only=True)`).
 *
 * @example
 * nested: {
 *   user: { serializer: userSerializer },                                   // row.user, loaded `with`
 *   messages: { serializer: messageSerializer, many: true, source: (room, { db }) => loadMessages(db, room.id) }
 * }
 */
export interface NestedField<TTable extends PgTable = PgTable> {
  serializer: AnySerializer
  /** A list of rows (`MessageSerializer(many=True)`). */
  many?: boolean
  /**
   * Where the related row(s) come from. Without it, `row[field]` is used: rows loaded with
   * Drizzle's relational `with`.
   */
  source?: (row: RowOf<TTable>, context: SerializerContext) => unknown
}

/**
 * Options of `validate()`.
 *
 * @example
 * await serializer.validate(args.data, { partial: action === 'patch', context: { user: ctx.user } })
 */
export interface ValidateOptions {
  /** A partial update (`patch`): no field is required. */
  partial?: boolean
  context?: SerializerContext
}

/**
 * DRF's `Serializer.validate(attrs)`: object-level checks after every field is valid. Return the
 * values to write (or nothing to keep them); throw `validationError(…)` to refuse.
 *
 * @example
 * validate: (attrs) => { if (attrs.start! > attrs.end!) throw validationError({ end: ['Must follow start.'] }) }
 */
export type ObjectValidator<TTable extends PgTable> = (
  attrs: ValidatedOf<TTable>,
  options: { partial: boolean, context: SerializerContext }
) => ValidatedOf<TTable> | undefined | void | Promise<ValidatedOf<TTable> | undefined | void>

/**
 * Options of `serializer(table, options)`; see there.
 *
 * @example
 * { fields: ['pk', 'name', 'host'], readOnly: ['host'], modelName: 'room' }
 */
export interface SerializerOptions<
  TTable extends PgTable,
  TFields extends string,
  TExclude extends string,
  TWriteOnly extends string,
  TPk extends boolean,
  TComputed,
  TNested,
  TReadOnly extends string = ColumnKey<TTable>
> {
  /** The fields, in output order: column keys, `'pk'`, computed and nested names (those not listed come last). */
  fields?: readonly TFields[]
  /** Every column but these (instead of `fields`). */
  exclude?: readonly TExclude[]
  /** Never written from input. Database-filled primary keys are read-only anyway. */
  readOnly?: readonly TReadOnly[]
  /** Accepted on input, never in output (a password). */
  writeOnly?: readonly TWriteOnly[]
  /** Output `pk`, the primary key value, first (DRF's `pk` field). */
  pk?: TPk
  /** TypeBox schemas replacing the derived ones on input, per column. */
  schema?: { [K in ColumnKey<TTable>]?: TSchema }
  /** Read-only fields computed from the row (DRF's `SerializerMethodField`); may be async. */
  computed?: { [K in keyof TComputed]: (row: RowOf<TTable>, context: SerializerContext) => TComputed[K] }
  /** Read-only nested serializers. */
  nested?: TNested & { [K in keyof TNested]: Pick<NestedField<TTable>, 'source'> }
  /** The model name of unique-violation messages. Default: the SQL table name without a trailing "s". */
  modelName?: string
  /** Object-level validation after the fields (DRF's `validate(attrs)`). */
  validate?: ObjectValidator<TTable>
}

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/**
 * The output of a nested field: a serialized row or `null`, or a list with `many: true`.
 *
 * @example
 * type M = NestedOutput<{ serializer: typeof messageSerializer, many: true }> // Message[]
 */
export type NestedOutput<TNested> =
  TNested extends { serializer: infer TSerializer, many: true } ? Array<inferSerialized<TSerializer>>
    : TNested extends { serializer: infer TSerializer } ? inferSerialized<TSerializer> | null
      : never

/** The columns a serializer outputs. */
type OutputColumns<TTable extends PgTable, TFields extends string, TExclude extends string> =
  [TFields] extends [never] ? Exclude<ColumnKey<TTable>, TExclude> : Extract<TFields, ColumnKey<TTable>>

/** Whether `pk` (the alias, not a column of that name) is output. */
type HasPkAlias<TTable extends PgTable, TFields extends string, TPk extends boolean> =
  'pk' extends ColumnKey<TTable> ? false : TPk extends true ? true : 'pk' extends TFields ? true : false

/**
 * The serialized form of a row, computed from the options (what `inferSerialized` reads back).
 *
 * @example
 * type User = SerializerOutput<typeof users, 'id' | 'username', never, never, false, {}, {}> // { id: number, username: string }
 */
export type SerializerOutput<
  TTable extends PgTable,
  TFields extends string,
  TExclude extends string,
  TWriteOnly extends string,
  TPk extends boolean,
  TComputed,
  TNested
> = Simplify<
  (HasPkAlias<TTable, TFields, TPk> extends true ? { pk: Wire<RowOf<TTable>[PrimaryKeyOf<TTable>]> } : unknown) &
  { [K in Exclude<OutputColumns<TTable, TFields, TExclude>, TWriteOnly | keyof TComputed | keyof TNested>]: Wire<RowOf<TTable>[K]> } &
  { [K in keyof TComputed]: Wire<Awaited<TComputed[K]>> } &
  { [K in keyof TNested]: NestedOutput<TNested[K]> }
>

/** A primary key the database fills (serial, identity, defaulted): never written from input. */
type DatabaseFilledKey<TTable extends PgTable> = {
  [K in ColumnKey<TTable>]: TTable['_']['columns'][K]['_'] extends { isPrimaryKey: true, hasDefault: true } ? K : never
}[ColumnKey<TTable>]

/**
 * `Pick` as JSON that keeps each key's `?` (a `Pick` over a generic table's keys loses the optional
 * ones); `Wire` goes per value, as over the object it would make an omitted key a `null` one.
 */
type PickWire<T, TKeys> = { [K in keyof T as K extends TKeys ? K : never]: Wire<Exclude<T[K], undefined>> }

/**
 * The input a serializer accepts (`data` of `create`, `update`, `patch`), as JSON: its writable
 * columns (not read-only, not shadowed by a computed or nested field, not a database-filled primary
 * key), required as the table requires them on insert: columns with a default and nullable columns
 * are optional, as in Drizzle's `InferInsertModel`.
 *
 * @example
 * type NewUser = SerializerInput<typeof users, 'username' | 'email' | 'password', never, never> // { username: string, email?: string, password: string }
 */
export type SerializerInput<
  TTable extends PgTable,
  TFields extends string,
  TExclude extends string,
  TReadOnly extends string,
  TComputed = Record<never, never>,
  TNested = Record<never, never>
> = Simplify<PickWire<
  InferInsertModel<TTable>,
  Exclude<OutputColumns<TTable, TFields, TExclude>, TReadOnly | keyof TComputed | keyof TNested | DatabaseFilledKey<TTable>>
>>

/**
 * A serializer: DRF's `ModelSerializer` instance, reusable and stateless. Build it with `serializer()`.
 *
 * @example
 * const values = await userSerializer.validate(data, { partial: true })  // patch
 * const [row] = await db.update(users).set(values).where(eq(users.id, pk)).returning()
 * const json = userSerializer.toRepresentationSync(row)                 // no async fields: no await
 */
export interface Serializer<TTable extends PgTable = PgTable, TOutput extends object = Record<string, unknown>, TInput extends object = Record<string, unknown>> {
  readonly table: TTable
  /** As unique-violation messages name the model ("user with this username already exists."). */
  readonly modelName: string
  /** The output fields, in order (write-only fields excluded). */
  readonly fields: readonly string[]
  /** The fields accepted on input. */
  readonly writableFields: readonly string[]
  /** The TypeBox schema of a full input (`create`, `update`); `patch` makes every field optional. */
  readonly inputSchema: TObject
  /** The TypeBox schema of the output. */
  readonly outputSchema: TObject
  /** A row as JSON (DRF's `serializer.data`). */
  toRepresentation (row: RowOf<TTable>, context?: SerializerContext): Promise<TOutput>
  /**
   * The same, synchronously, for hot paths. Throws when a computed or nested field answers with a
   * promise: use `toRepresentation` for those serializers.
   */
  toRepresentationSync (row: RowOf<TTable>, context?: SerializerContext): TOutput
  /** Rows as JSON (DRF's `many=True`). */
  toRepresentationMany (rows: ReadonlyArray<RowOf<TTable>>, context?: SerializerContext): Promise<TOutput[]>
  /**
   * Validates input (DRF's `is_valid(raise_exception=True)` + `validated_data`): resolves to the
   * column values to write, or rejects with a 400 validation error of DRF field errors.
   */
  validate (data: unknown, options?: ValidateOptions): Promise<ValidatedOf<TTable>>
  /** Types only, never set: what the serializer reads and writes on the wire (`inferSerialized`, `inferInput`). */
  readonly '~types'?: { readonly output: TOutput, readonly input: TInput }
}

/**
 * A serializer of any table and output.
 *
 * @example
 * const serializers: Record<string, AnySerializer> = { users: userSerializer, rooms: roomSerializer }
 */
export type AnySerializer = Serializer<any, any, any>

/**
 * The output type of a serializer, write-only fields absent.
 *
 * @example
 * const userSerializer = serializer(users, { fields: ['id', 'username', 'password'], writeOnly: ['password'] })
 * type User = inferSerialized<typeof userSerializer> // { id: number, username: string }
 */
export type inferSerialized<TSerializer> = TSerializer extends Serializer<any, infer TOutput, any> ? TOutput : never

/**
 * The input type of a serializer: the `data` its `create` and `update` accept (all optional for `patch`).
 *
 * @example
 * type NewUser = inferInput<typeof userSerializer> // { username: string, email: string, password: string }
 */
export type inferInput<TSerializer> = TSerializer extends Serializer<any, any, infer TInput> ? TInput : Record<string, unknown>
