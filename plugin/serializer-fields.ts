/** Serializer fields: a column's value read from the wire as leniently as DRF, and written back as JSON. */
import { Type, type TSchema } from '@sinclair/typebox'
import type { Column } from 'drizzle-orm'
import { BIGINT_TYPES, NUMBER_INTEGER_RANGES } from './column-types.js'

/** A value that could not be read, with DRF's message. */
export class Invalid {
  readonly message: string
  constructor (message: string) {
    this.message = message
  }
}

/** One column's conversions: wire → canonical wire value (or `Invalid`) → Drizzle, row → JSON. */
interface FieldCodec {
  coerce (value: unknown): unknown
  toDb (value: unknown): unknown
  toWire (value: unknown): unknown
  /** drizzle-typebox's schema of the column → its schema on the wire. */
  wireSchema (base: TSchema): TSchema
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
// DRF's BooleanField.TRUE_VALUES / FALSE_VALUES.
const TRUE_VALUES = new Set<unknown>([true, 1, '1', 't', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'])
const FALSE_VALUES = new Set<unknown>([false, 0, '0', 'f', 'F', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'])
// Anchored, and no two neighbouring runs take the same character: linear on hostile input.
const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/
const DECIMAL_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i
const MAX_STRING_LENGTH = 1000

const invalidInteger = new Invalid('A valid integer is required.')
const invalidNumber = new Invalid('A valid number is required.')
const tooLarge = new Invalid('String value too large.')

/** Python's name of a JSON value's type (`[]` → `list`), as DRF's messages print it. */
export function pythonType (value: unknown): string {
  if (value === null || value === undefined) return 'NoneType'
  if (Array.isArray(value)) return 'list'
  if (typeof value === 'string') return 'str'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'object') return Object.getPrototypeOf(value) === Object.prototype ? 'dict' : value.constructor?.name ?? 'object'
  return typeof value
}

// DRF's IntegerField: "1.0" is an integer, "1.2" is not.
function integerText (value: unknown): string | Invalid {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : invalidInteger
  if (typeof value !== 'string') return invalidInteger
  if (value.length > MAX_STRING_LENGTH) return tooLarge
  const text = value.replace(/\.0*\s*$/, '')
  return INTEGER_TEXT.test(text) ? text.trim() : invalidInteger
}

// DRF's DecimalField.validate_precision.
function precisionError (text: string, precision: number | undefined, scale: number | undefined): string | null {
  if (precision === undefined) return null
  const [, whole, fraction = '', exp = '0'] = /^[+-]?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text)!
  const digits = (whole + fraction).replace(/^0+/, '') || '0'
  const exponent = Number(exp) - fraction.length
  // Python's Decimal.as_tuple(): 1234500 | 123.45 | 0.001234
  const [total, wholeDigits, places] = exponent >= 0
    ? [digits.length + exponent, digits.length + exponent, 0]
    : digits.length > -exponent
      ? [digits.length, digits.length + exponent, -exponent]
      : [-exponent, 0, -exponent]
  // PostgreSQL's numeric(p) has scale 0.
  const maxPlaces = scale ?? 0
  if (total > precision) return `Ensure that there are no more than ${precision} digits in total.`
  if (places > maxPlaces) return `Ensure that there are no more than ${maxPlaces} decimal places.`
  if (wholeDigits > precision - maxPlaces) return `Ensure that there are no more than ${precision - maxPlaces} digits before the decimal point.`
  return null
}

function isoString (value: Date): string | null {
  return Number.isNaN(value.getTime()) ? null : value.toISOString()
}

function bigintToJson (value: bigint): number | string {
  const number = Number(value)
  return Number.isSafeInteger(number) ? number : value.toString()
}

/** Any value as JSON, deeply, so that it survives channel layers that do not speak JSON (msgpack has no Date). */
export function toJson (value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'bigint') return bigintToJson(value)
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Date) return isoString(value)
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (Array.isArray(value)) return value.map(toJson)
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  // fromEntries defines keys: a "__proto__" key stays a key.
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item)]))
}

const same = (value: unknown): unknown => value

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function codec (partial: Partial<FieldCodec>): FieldCodec {
  return { coerce: same, toDb: same, toWire: toJson, wireSchema: (base) => base, ...partial }
}

/** The conversions of one Drizzle (PostgreSQL) column. */
export function codecOf (column: Column): FieldCodec {
  const { columnType, dataType } = column
  const stringMode = columnType.endsWith('String')
  if (columnType === 'PgTimestamp' || columnType === 'PgTimestampString') {
    const wrongFormat = new Invalid('Datetime has wrong format.')
    return codec({
      coerce: (value) => value instanceof Date ? isoString(value) ?? wrongFormat : typeof value === 'string' ? value : wrongFormat,
      toDb: stringMode ? same : (value) => new Date(value as string),
      toWire: (value) => value instanceof Date ? isoString(value) : value,
      wireSchema: () => Type.String({ format: 'date-time' })
    })
  }
  if (columnType === 'PgDate' || columnType === 'PgDateString') {
    const wrongFormat = new Invalid('Date has wrong format.')
    return codec({
      coerce: (value) => value instanceof Date ? isoString(value)?.slice(0, 10) ?? wrongFormat : typeof value === 'string' ? value : wrongFormat,
      toDb: stringMode ? same : (value) => new Date(value as string),
      toWire: (value) => value instanceof Date ? isoString(value)?.slice(0, 10) ?? null : value,
      wireSchema: () => Type.String({ format: 'date' })
    })
  }
  if (columnType === 'PgNumeric') {
    const { precision, scale } = column as Column & { precision?: number, scale?: number }
    return codec({
      coerce (value) {
        if (typeof value === 'number') value = Number.isFinite(value) ? String(value) : ''
        if (typeof value !== 'string') return invalidNumber
        if (value.length > MAX_STRING_LENGTH) return tooLarge
        const text = value.trim()
        if (!DECIMAL_TEXT.test(text)) return invalidNumber
        const error = precisionError(text, precision, scale)
        return error === null ? text : new Invalid(error)
      },
      toWire: same
    })
  }
  if (columnType === 'PgArray') {
    const item = codecOf((column as Column & { baseColumn: Column }).baseColumn)
    return codec({
      coerce (value) {
        if (!Array.isArray(value)) return new Invalid(`Expected a list of items but got type "${pythonType(value)}".`)
        const items: unknown[] = []
        for (const element of value) {
          const coerced = element === null ? null : item.coerce(element)
          if (coerced instanceof Invalid) return coerced
          items.push(coerced)
        }
        return items
      },
      toDb: (value) => (value as unknown[]).map((element) => element === null ? null : item.toDb(element)),
      toWire: (value) => Array.isArray(value) ? value.map((element) => element === null ? null : item.toWire(element)) : value,
      wireSchema: (base) => ({ ...base, items: item.wireSchema(base.items as TSchema) })
    })
  }
  switch (dataType) {
    case 'number': {
      if (NUMBER_INTEGER_RANGES.has(columnType)) {
        return codec({
          coerce (value) {
            const text = integerText(value)
            return text instanceof Invalid ? text : Number(text)
          },
          toWire: same
        })
      }
      return codec({
        coerce (value) {
          if (typeof value === 'string' && value.length <= MAX_STRING_LENGTH && DECIMAL_TEXT.test(value.trim())) value = Number(value)
          return typeof value === 'number' && Number.isFinite(value) ? value : invalidNumber
        },
        toWire: same,
        // drizzle-typebox bounds real and double precision by integer ranges; they are floats.
        wireSchema: () => Type.Number()
      })
    }
    case 'bigint':
      return codec({
        coerce (value) {
          const text = integerText(value)
          if (text instanceof Invalid) return text
          const big = BigInt(text)
          if (BIGINT_TYPES.has(columnType) && big > INT64_MAX) return new Invalid(`Ensure this value is less than or equal to ${INT64_MAX}.`)
          if (BIGINT_TYPES.has(columnType) && big < INT64_MIN) return new Invalid(`Ensure this value is greater than or equal to ${INT64_MIN}.`)
          return big.toString()
        },
        toDb: (value) => BigInt(value as string),
        toWire: (value) => typeof value === 'bigint' ? bigintToJson(value) : value,
        wireSchema: () => Type.Union([Type.Integer(), Type.String({ pattern: '^-?\\d+$' })])
      })
    case 'boolean':
      return codec({
        coerce: (value) => TRUE_VALUES.has(value) ? true : FALSE_VALUES.has(value) ? false : new Invalid('Must be a valid boolean.'),
        toWire: same
      })
    case 'string': {
      const invalidString = new Invalid('Not a valid string.')
      const nullCharacter = new Invalid('Null characters are not allowed.')
      return codec({
        // PostgreSQL text holds neither NUL (DRF's ProhibitNullCharactersValidator) nor lone surrogates.
        coerce: (value) => {
          if (typeof value === 'number') return String(value)
          if (typeof value !== 'string' || LONE_SURROGATE.test(value)) return invalidString
          return value.includes('\u0000') ? nullCharacter : value
        },
        toWire: same,
        wireSchema (base) {
          if (columnType !== 'PgChar') return base
          // drizzle-typebox requires char(n) to be exactly n long; PostgreSQL pads shorter ones.
          const schema = { ...base }
          delete schema.minLength
          return schema
        }
      })
    }
    case 'json':
      return codec({ toWire: same })
    default:
      return codec({})
  }
}
