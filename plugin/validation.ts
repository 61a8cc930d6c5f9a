/**
 * Validation with TypeBox's compiler, answered the way Django REST framework answers: field errors
 * `{"field": ["This field is required."]}` with DRF's messages.
 */
import { FormatRegistry, Kind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import type { FieldErrors } from './errors.js'

// Formats that TypeBox leaves to the application, with the meaning DRF gives them.
const FORMATS: Record<string, (value: string) => boolean> = {
  // DRF's EmailValidator, simplified: one @, a dotted domain, no spaces.
  email: (value) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value),
  'date-time': (value) => /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$/.test(value) && !Number.isNaN(Date.parse(value)),
  date: (value) => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)),
  uuid: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value),
  uri: (value) => URL.canParse(value)
}
for (const [format, check] of Object.entries(FORMATS)) {
  if (!FormatRegistry.Has(format)) FormatRegistry.Set(format, check)
}

const FORMAT_MESSAGES: Record<string, string> = {
  email: 'Enter a valid email address.',
  'date-time': 'Datetime has wrong format.',
  date: 'Date has wrong format.',
  uuid: 'Must be a valid UUID.',
  uri: 'Enter a valid URL.'
}

/** DRF's wording of a type mismatch, by the kind of schema that was expected. */
function typeMessage (schema: TSchema, value: unknown): string {
  switch (schema[Kind]) {
    case 'Integer': return 'A valid integer is required.'
    case 'Number': return 'A valid number is required.'
    case 'String': return 'Not a valid string.'
    case 'Boolean': return 'Must be a valid boolean.'
    case 'Array': return `Expected a list of items but got type "${jsonType(value)}".`
    case 'Object': return `Invalid data. Expected a dictionary, but got ${jsonType(value)}.`
    case 'Literal': return `"${String(value)}" is not a valid choice.`
    case 'Date': return 'Datetime has wrong format.'
    case 'Union': {
      // Nullable columns are `Union([T, Null])`: speak of T.
      const members = (schema.anyOf as TSchema[]).filter((s) => s[Kind] !== 'Null')
      if (members.length === 1) return typeMessage(members[0], value)
      if (members.every((s) => s[Kind] === 'Literal')) return `"${String(value)}" is not a valid choice.`
      return 'Invalid value.'
    }
    default: return 'Invalid value.'
  }
}

function jsonType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'list'
  if (typeof value === 'object') return 'dict'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'boolean') return 'bool'
  return 'str'
}

/** One TypeBox error in DRF's words. */
export function drfMessage (error: ValueError): string {
  const { schema, value } = error
  switch (error.type) {
    case ValueErrorType.Union: {
      // `T | null`: T's own reason, not "wrong type".
      const members = schema.anyOf as TSchema[]
      const inner = value !== null && members.length === 2 && members.some((s) => s[Kind] === 'Null')
        ? error.errors[members.findIndex((s) => s[Kind] !== 'Null')]?.First()
        : undefined
      if (inner !== undefined) return drfMessage(inner)
      return value === null ? 'This field may not be null.' : typeMessage(schema, value)
    }
    case ValueErrorType.ObjectRequiredProperty: return 'This field is required.'
    case ValueErrorType.StringMaxLength: return `Ensure this field has no more than ${schema.maxLength} characters.`
    case ValueErrorType.StringMinLength:
      return schema.minLength === 1 ? 'This field may not be blank.' : `Ensure this field has at least ${schema.minLength} characters.`
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown: return FORMAT_MESSAGES[schema.format] ?? 'Enter a valid value.'
    case ValueErrorType.StringPattern: return 'This value does not match the required pattern.'
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum: return `Ensure this value is less than or equal to ${schema.maximum}.`
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum: return `Ensure this value is greater than or equal to ${schema.minimum}.`
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.NumberExclusiveMaximum: return `Ensure this value is less than ${schema.exclusiveMaximum}.`
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMinimum: return `Ensure this value is greater than ${schema.exclusiveMinimum}.`
    case ValueErrorType.ArrayMaxItems: return `Ensure this field has no more than ${schema.maxItems} elements.`
    case ValueErrorType.ArrayMinItems: return schema.minItems === 1 ? 'This list may not be empty.' : `Ensure this field has at least ${schema.minItems} elements.`
    case ValueErrorType.ObjectAdditionalProperties: return 'Unknown field.'
    default:
      if (value === null) return 'This field may not be null.'
      return typeMessage(schema, value)
  }
}

/** Where an error goes: `/a/b` into `{a: {b: [...]}}`, the root into `non_field_errors`. */
function put (target: Record<string, unknown>, path: string, message: string): void {
  const segments = path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (segments.length === 0) segments.push('non_field_errors')
  let node = target
  for (let i = 0; i < segments.length - 1; i++) {
    const next = Object.hasOwn(node, segments[i]) ? node[segments[i]] : undefined
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      const created: Record<string, unknown> = {}
      Object.defineProperty(node, segments[i], { value: created, enumerable: true, writable: true, configurable: true })
      node = created
    } else {
      node = next as Record<string, unknown>
    }
  }
  const key = segments[segments.length - 1]
  const existing = Object.hasOwn(node, key) ? node[key] : undefined
  if (Array.isArray(existing)) {
    if (!existing.includes(message)) existing.push(message)
  } else {
    // defineProperty: a field named "__proto__" must stay a plain key of the error object.
    Object.defineProperty(node, key, { value: [message], enumerable: true, writable: true, configurable: true })
  }
}

/** A compiled validator: returns `null` when valid, DRF field errors otherwise. */
export type Validator = (value: unknown) => FieldErrors | null

/** Compiles a TypeBox schema once into a validator that answers in DRF's words. */
export function compileValidator (schema: TSchema): Validator {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    if (compiled.Check(value)) return null
    const fieldErrors: Record<string, unknown> = {}
    const seen = new Set<string>()
    for (const error of compiled.Errors(value)) {
      // The first error of a field is the one DRF would give; skip the follow-ups TypeBox adds.
      if (seen.has(error.path)) continue
      seen.add(error.path)
      put(fieldErrors, error.path, drfMessage(error))
    }
    return fieldErrors as FieldErrors
  }
}
