/** Validation with TypeBox's compiler, answered in DRF's field errors and messages. */
import { isIPv4, isIPv6 } from 'node:net'
import { FormatRegistry, Kind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import type { FieldErrors, Validator } from '../types/index.js'
import { pythonType } from './serializer-fields.js'

// Every check runs in linear time: a client chooses the value, and backtracking would hold the event loop.

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isAsciiLetter = (c: number): boolean => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a
// Django's "unicode letters" \u00a1-\uffff, less whitespace and surrogates (a pair is above \uffff).
const isWide = (c: number): boolean => c >= 0xa1 && !(c >= 0xd800 && c <= 0xdfff) &&
  c !== 0x1680 && !(c >= 0x2000 && c <= 0x200a) && c !== 0x2028 && c !== 0x2029 && c !== 0x202f &&
  c !== 0x205f && c !== 0x3000 && c !== 0xfeff

const isAlphanumeric = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (!isAsciiLetter(text.charCodeAt(i)) && !isDigit(text.charCodeAt(i))) return false
  return true
}

// Django's `hostname_re`.
function isLabel (label: string): boolean {
  if (label.length === 0 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return false
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i)
    if (!isAsciiLetter(c) && !isDigit(c) && !isWide(c) && c !== 0x2d) return false
  }
  return true
}

// Django's `tld_no_fqdn_re`.
function isTopLabel (label: string): boolean {
  if (label.length < 2 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return false
  if (label.length > 4 && label.slice(0, 4).toLowerCase() === 'xn--' && isAlphanumeric(label.slice(4))) return true
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i)
    if (!isAsciiLetter(c) && !isWide(c) && c !== 0x2d) return false
  }
  return true
}

function isDomainName (domain: string): boolean {
  const labels = domain.split('.')
  return labels.length >= 2 && labels.slice(0, -1).every(isLabel) && isTopLabel(labels[labels.length - 1])
}

// RFC 5322 atext, less letters and digits.
const ATEXT = new Set("!#$%&'*+-/=?^_`{|}~")

// Django's `user_regex`: a dot-atom, or a quoted string.
function isUserPart (user: string): boolean {
  if (user.length >= 2 && user.startsWith('"') && user.endsWith('"')) {
    for (let i = 1; i < user.length - 1; i++) {
      const c = user.charCodeAt(i)
      if (c === 0x5c) {
        const next = user.charCodeAt(++i)
        if (i === user.length - 1 || !(next >= 0x01 && next <= 0x7f) || next === 0x0a || next === 0x0d) return false
      } else if (!(c >= 0x01 && c <= 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20 || c === 0x22) {
        return false
      }
    }
    return true
  }
  if (user.length === 0 || user.startsWith('.') || user.endsWith('.') || user.includes('..')) return false
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i)
    if (!isAsciiLetter(c) && !isDigit(c) && c !== 0x2e && !ATEXT.has(user[i])) return false
  }
  return true
}

function isDomainPart (domain: string): boolean {
  if (domain === 'localhost') return true
  if (domain.startsWith('[') && domain.endsWith(']')) {
    const address = domain.slice(1, -1)
    // Django's literal_regex admits hex digits, colons and dots only (no zone index).
    for (let i = 0; i < address.length; i++) {
      const c = address.charCodeAt(i)
      if (!isDigit(c) && !((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) && c !== 0x3a && c !== 0x2e) return false
    }
    return isIPv4(address) || (address.length <= 39 && isIPv6(address))
  }
  return isDomainName(domain)
}

// Django's EmailValidator, except that whitespace such as U+3000 is refused in the domain too.
function isEmail (value: string): boolean {
  if (value.length === 0 || value.length > 320) return false
  const at = value.lastIndexOf('@')
  return at >= 0 && isUserPart(value.slice(0, at)) && isDomainPart(value.slice(at + 1))
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

// As Python's `datetime.date` takes it.
function isCalendarDate (year: number, month: number, day: number): boolean {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1])
}

// Anchored, each quantified run followed by a character it cannot take: linear.
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[t ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:z|[+-](\d{2}):?(\d{2}))?$/i
const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i

function isDateTime (value: string): boolean {
  const match = DATE_TIME.exec(value)
  if (match === null) return false
  const [, year, month, day, hour, minute, second = '0', offsetHours = '0', offsetMinutes = '0'] = match
  return isCalendarDate(Number(year), Number(month), Number(day)) && Number(hour) <= 23 && Number(minute) <= 59 &&
    Number(second) <= 59 && Number(offsetHours) <= 23 && Number(offsetMinutes) <= 59 && !Number.isNaN(Date.parse(value))
}

function isDate (value: string): boolean {
  const match = DATE.exec(value)
  return match !== null && isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3])) && !Number.isNaN(Date.parse(value))
}

const URL_SCHEMES = new Set(['http', 'https', 'ftp', 'ftps'])

// Django's URLValidator.
function isUrl (value: string): boolean {
  if (value.length > 2048) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    // The WHATWG parser would silently drop tabs and newlines, and trim spaces and controls.
    if (c <= 0x20 || c === 0x7f || (c >= 0x80 && !isWide(c) && !(c >= 0xd800 && c <= 0xdfff))) return false
  }
  const separator = value.indexOf('://')
  if (separator < 0 || !URL_SCHEMES.has(value.slice(0, separator).toLowerCase())) return false
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return false
  }
  const { hostname } = url
  if (hostname.length > 253) return false
  if (hostname === 'localhost' || isIPv4(hostname)) return true
  if (hostname.startsWith('[')) return true // the parser has checked the IPv6 address
  return isDomainName(hostname.endsWith('.') ? hostname.slice(0, -1) : hostname)
}

/** DRF's string formats, registered in TypeBox's FormatRegistry unless the application has its own. */
export const FORMAT_CHECKS: Readonly<Record<string, (value: string) => boolean>> = {
  email: isEmail,
  'date-time': isDateTime,
  date: isDate,
  uuid: (value) => UUID.test(value),
  uri: isUrl
}
for (const [format, check] of Object.entries(FORMAT_CHECKS)) {
  if (!FormatRegistry.Has(format)) FormatRegistry.Set(format, check)
}

const FORMAT_MESSAGES: Record<string, string> = {
  email: 'Enter a valid email address.',
  'date-time': 'Datetime has wrong format.',
  date: 'Date has wrong format.',
  uuid: 'Must be a valid UUID.',
  uri: 'Enter a valid URL.'
}

function typeMessage (schema: TSchema, value: unknown): string {
  switch (schema[Kind]) {
    case 'Integer': return 'A valid integer is required.'
    case 'Number': return 'A valid number is required.'
    case 'String': return 'Not a valid string.'
    case 'Boolean': return 'Must be a valid boolean.'
    case 'Array': return `Expected a list of items but got type "${pythonType(value)}".`
    case 'Object': return `Invalid data. Expected a dictionary, but got ${pythonType(value)}.`
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

function drfMessage (error: ValueError): string {
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

// `/a/b` into `{a: {b: [...]}}`, the root into `non_field_errors`.
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

/** Compiles a TypeBox schema once into a validator that answers in DRF's words. */
export function compileValidator (schema: TSchema): Validator {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    if (compiled.Check(value)) return null
    const fieldErrors: Record<string, unknown> = {}
    const seen = new Set<string>()
    for (const error of compiled.Errors(value)) {
      // The first error of a field is DRF's; TypeBox adds follow-ups.
      if (seen.has(error.path)) continue
      seen.add(error.path)
      put(fieldErrors, error.path, drfMessage(error))
    }
    return fieldErrors as FieldErrors
  }
}
