/** Drizzle's integer column types held as JavaScript numbers, with their range: the one place that names them. */
export const NUMBER_INTEGER_RANGES: ReadonlyMap<string, readonly [min: number, max: number]> = new Map([
  ['PgSmallInt', [-(2 ** 15), 2 ** 15 - 1]],
  ['PgSmallSerial', [-(2 ** 15), 2 ** 15 - 1]],
  ['PgInteger', [-(2 ** 31), 2 ** 31 - 1]],
  ['PgSerial', [-(2 ** 31), 2 ** 31 - 1]],
  ['PgBigInt53', [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]],
  ['PgBigSerial53', [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]]
])

/** Drizzle's integer column types held as JavaScript bigints. */
export const BIGINT_TYPES: ReadonlySet<string> = new Set(['PgBigInt64', 'PgBigSerial64'])
