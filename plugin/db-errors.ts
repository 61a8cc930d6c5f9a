/** Database constraint violations as DRF answers them; the SQLSTATE decides, as in Feathers. */
import { getTableColumns, getTableName, type Column } from 'drizzle-orm'
import type { DatabaseErrorOptions, FieldErrors, ValidationErrorDetail } from '../types/index.js'
import { validationError } from './errors.js'

// What both drivers (postgres.js, PGlite) tell of an error, under one set of names.
interface PgError {
  code: string
  message: string
  detail: string
  constraint: string | undefined
  column: string | undefined
  table: string | undefined
}

const MAPPED = new Set(['23505', '23503', '23502', '23514', '23P01', '22001', '22003', '22P02', '22P05', '22021', '22007', '22008'])

// drizzle-orm wraps the driver's error in a `DrizzleQueryError` whose `cause` it is.
function findPgError (err: unknown): PgError | null {
  let current = err
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const e = current as Record<string, unknown>
    if (typeof e.code === 'string' && MAPPED.has(e.code)) {
      const text = (value: unknown): string | undefined => typeof value === 'string' ? value : undefined
      return {
        code: e.code,
        message: text(e.message) ?? '',
        detail: text(e.detail) ?? '',
        constraint: text(e.constraint_name) ?? text(e.constraint),
        column: text(e.column_name) ?? text(e.column),
        table: text(e.table_name) ?? text(e.table)
      }
    }
    current = e.cause
  }
  return null
}

/** The SQL name of the table a constraint violation is about, when the driver names it. */
export function tableOfDatabaseError (err: unknown): string | undefined {
  return findPgError(err)?.table
}

/** `a, "b c", lower(d)` → its top-level items, identifiers unquoted. */
function splitList (list: string): string[] {
  const items: string[] = []
  let depth = 0
  let quoted = false
  let item = ''
  for (const char of list) {
    if (char === '"') quoted = !quoted
    else if (!quoted && char === '(') depth++
    else if (!quoted && char === ')') depth--
    if (!quoted && depth === 0 && char === ',') {
      items.push(item.trim())
      item = ''
    } else {
      item += char
    }
  }
  items.push(item.trim())
  return items.map((name) => name.length >= 2 && name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name)
}

/** `Key (a, b)=(1, 2) …` → `{ columns: ['a', 'b'], values: '1, 2' }`. */
function parseKey (detail: string): { columns: string[], values: string } | null {
  if (!detail.startsWith('Key (')) return null
  let depth = 0
  let quoted = false
  for (let i = 4; i < detail.length; i++) {
    const char = detail[i]
    if (char === '"') quoted = !quoted
    if (quoted) continue
    if (char === '(') depth++
    if (char === ')' && --depth === 0) {
      // `s`: a client's value may hold line breaks
      const values = /^=\((.*)\)/s.exec(detail.slice(i + 1))
      return values === null ? null : { columns: splitList(detail.slice(5, i)), values: values[1] }
    }
  }
  return null
}

const defaultLabel = (key: string): string => key.replace(/_/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()

/**
 * The 400 that DRF would answer for a PostgreSQL constraint violation, or `null` when `err` is not
 * one: unique `{"username": ["user with this username already exists."]}`, foreign key
 * `{"user_id": ["Invalid pk \"99\" - object does not exist."]}`, not null, check and exclusion
 * (`non_field_errors`), and a value the column's type cannot take (DRF's message for the type).
 *
 * @example
 * try {
 *   await db.insert(users).values(values)
 * } catch (err) {
 *   throw databaseValidationError(err, { table: users }) ?? err
 * }
 */
export function databaseValidationError (err: unknown, options: DatabaseErrorOptions): ValidationErrorDetail | null {
  const pg = findPgError(err)
  if (pg === null) return null
  const { table } = options
  const tableName = getTableName(table)
  const modelName = options.modelName ?? tableName.replace(/s$/, '')
  const label = options.fieldLabel ?? defaultLabel
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>)
  // Column names in the error are this table's only when the error is about this table.
  const ours = pg.table === undefined || pg.table === tableName
  const keyOf = (name: string): string | undefined => ours ? columns.find(([, column]) => column.name === name)?.[0] : undefined
  const nonField = (message: string): ValidationErrorDetail => validationError({ non_field_errors: [message] })
  const onField = (key: string | undefined, message: string): ValidationErrorDetail =>
    key === undefined ? nonField(message) : validationError({ [key]: [message] } as FieldErrors)
  const violated = `Constraint “${pg.constraint ?? 'unknown'}” is violated.`
  const key = parseKey(pg.detail)
  const keys = key?.columns.map(keyOf) ?? []
  const allKnown = keys.length > 0 && keys.every((k) => k !== undefined)

  switch (pg.code) {
    case '23505':
      if (!allKnown) return nonField(violated)
      if (keys.length === 1) return onField(keys[0], `${modelName} with this ${label(keys[0]!)} already exists.`)
      return nonField(`The fields ${keys.join(', ')} must make a unique set.`)
    case '23503': {
      const referenced = referencingTable(pg.detail)
      if (referenced !== undefined) return nonField(`This ${modelName} is still referenced from table "${referenced}".`)
      const message = `Invalid pk "${key?.values ?? ''}" - object does not exist.`
      return allKnown && keys.length === 1 ? onField(keys[0], message) : nonField(message)
    }
    case '23502':
      return onField(pg.column === undefined ? undefined : keyOf(pg.column), 'This field may not be null.')
    case '23514':
    case '23P01':
      return nonField(violated)
  }
  return valueError(pg, columns)
}

// PostgreSQL's messages quote the client's values: they are read by string search, never by a
// pattern that could backtrack over them.

/** `Key (id)=(1) is still referenced from table "comments".` → `comments`. */
function referencingTable (detail: string): string | undefined {
  const marker = ' is still referenced from table "'
  // The table's name comes after the key's value: the last marker is PostgreSQL's own.
  const start = detail.lastIndexOf(marker)
  if (start < 0 || !detail.endsWith('".') || start + marker.length >= detail.length - 2) return undefined
  return detail.slice(start + marker.length, -2)
}

/** `… for type integer: "x"` → `integer`; `integer out of range` → `integer`; '' when no type is named. */
function typeNameOf (message: string): string {
  const marker = 'for type '
  const start = message.indexOf(marker)
  if (start >= 0) {
    const rest = message.slice(start + marker.length)
    const colon = rest.indexOf(':')
    return colon < 0 ? rest : rest.slice(0, colon)
  }
  return /^(\w+) out of range$/.exec(message)?.[1] ?? ''
}

function valueError (pg: PgError, columns: Array<[string, Column]>): ValidationErrorDetail {
  const { message } = pg
  const typeName = typeNameOf(message)
  // A database-filled primary key is never the culprit of a value the client sent.
  const candidates = (test: (sqlType: string) => boolean): string | undefined => {
    const found = columns.filter(([, column]) => !(column.primary && column.hasDefault) && test(column.getSQLType()))
    return found.length === 1 ? found[0][0] : undefined
  }
  const sameType = (sqlType: string): boolean => sqlTypeName(sqlType) === typeName
  let text: string
  let field: string | undefined
  if (pg.code === '22001') {
    const length = /\((\d+)\)$/.exec(typeName)?.[1]
    text = length === undefined ? 'Ensure this field has fewer characters.' : `Ensure this field has no more than ${length} characters.`
    field = candidates(sameType)
  } else if (pg.code === '22003') {
    const overflow = /precision (\d+), scale (\d+)/.exec(pg.detail)
    const value = /^value "(.*)" is out of range/.exec(message)?.[1]
    const limit = INTEGER_LIMITS[typeName]
    if (overflow !== null) {
      const whole = Number(overflow[1]) - Number(overflow[2])
      text = `Ensure that there are no more than ${whole} digits before the decimal point.`
      field = candidates((sqlType) => sqlType === `numeric(${overflow[1]}, ${overflow[2]})`)
    } else {
      text = value !== undefined && limit !== undefined
        ? (value.startsWith('-') ? `Ensure this value is greater than or equal to ${-limit}.` : `Ensure this value is less than or equal to ${limit - 1n}.`)
        : `${message.charAt(0).toUpperCase()}${message.slice(1)}.`
      field = candidates(sameType)
    }
  } else if (pg.code === '22P02' && message.startsWith('invalid input value for enum')) {
    const [, enumName = '', value = ''] = /^invalid input value for enum (\S+): "(.*)"$/s.exec(message) ?? []
    text = `"${value}" is not a valid choice.`
    field = candidates((sqlType) => sqlType === enumName)
  } else if (typeName === '' && (pg.code === '22007' || pg.code === '22008')) {
    // "date/time field value out of range" names no type.
    text = TYPE_MESSAGES.timestamp
    field = candidates((sqlType) => sqlType.startsWith('timestamp') || sqlType === 'date')
  } else {
    text = TYPE_MESSAGES[typeName] ?? (typeName.startsWith('timestamp') ? TYPE_MESSAGES.timestamp : 'Invalid value.')
    field = candidates(sameType)
  }
  return field === undefined
    ? validationError({ non_field_errors: [text] })
    : validationError({ [field]: [text] } as FieldErrors)
}

/** Drizzle's SQL type of a column as PostgreSQL's messages name it. */
function sqlTypeName (sqlType: string): string {
  return sqlType
    .replace(/^varchar/, 'character varying').replace(/^char\b/, 'character')
    .replace(/^serial$/, 'integer').replace(/^smallserial$/, 'smallint').replace(/^bigserial$/, 'bigint')
    .replace(/^timestamp( \(\d+\))?( with time zone)?$/, (_, _p, tz: string | undefined) => tz === undefined ? 'timestamp without time zone' : 'timestamp with time zone')
}

const INTEGER_LIMITS: Record<string, bigint> = { smallint: 2n ** 15n, integer: 2n ** 31n, bigint: 2n ** 63n }

const TYPE_MESSAGES: Record<string, string> = {
  smallint: 'A valid integer is required.',
  integer: 'A valid integer is required.',
  bigint: 'A valid integer is required.',
  numeric: 'A valid number is required.',
  real: 'A valid number is required.',
  'double precision': 'A valid number is required.',
  boolean: 'Must be a valid boolean.',
  uuid: 'Must be a valid UUID.',
  json: 'Value must be valid JSON.',
  jsonb: 'Value must be valid JSON.',
  date: 'Date has wrong format.',
  timestamp: 'Datetime has wrong format.',
  'time without time zone': 'Time has wrong format.',
  'time with time zone': 'Time has wrong format.',
  interval: 'Duration has wrong format.'
}
