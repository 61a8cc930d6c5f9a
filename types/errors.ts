/**
 * The public types of errors as DRF shapes them: field errors, the 400 error carrying them, and
 * the options of turning a database violation into one. No runtime code lives here;
 * `plugin/errors.ts` holds the coded errors and `plugin/db-errors.ts` the mapping.
 */
import type { PgTable } from 'drizzle-orm/pg-core'

/** Field errors as DRF shapes them: `{"field": ["message", ...]}`; `non_field_errors` for the rest. */
export type FieldErrors = Record<string, string[]>

/** An error with the detail a 400 reply carries. */
export interface ValidationErrorDetail extends Error {
  code: 'DCRF_ERR_VALIDATION'
  statusCode: 400
  /** Field errors (sent as `[detail]`) or messages (sent as the `errors` array). */
  detail: FieldErrors | string[]
}

/** A compiled validator (`compileValidator(schema)`): returns `null` when valid, DRF field errors otherwise. */
export type Validator = (value: unknown) => FieldErrors | null

/**
 * Options of `databaseValidationError`.
 *
 * @example
 * { table: users, modelName: 'account', fieldLabel: (key) => key === 'username' ? 'login' : key }
 */
export interface DatabaseErrorOptions {
  /** The table written to: its columns give the field names. */
  table: PgTable
  /** As in "user with this username already exists." Default: the SQL table name without a trailing "s". */
  modelName?: string
  /** A field's label in messages. Default: the JS key in words (`user_name`, `userName` → "user name"). */
  fieldLabel?: (key: string) => string
}
