/**
 * fast-check generators of JSON *text* for the structural fuzzer: every JSON type, the edges of
 * numbers and strings, prototype keys, deep nesting and large values. Values are generated as text,
 * not as JavaScript values, so that they can carry what a JavaScript value cannot (`1e309`, `-0`,
 * `9007199254740993`, escaped lone surrogates, duplicate keys) and nest deeper than
 * `JSON.stringify` could write.
 */
import fc from 'fast-check'

/** Numbers a parser reads differently from how they are written, or that sit at an edge. */
const EDGE_NUMBERS = [
  '0', '-0', '1', '-1', '0.5', '1.5', '1e309', '-1e309', '1e-400', '9007199254740993', '-9007199254740993',
  '2147483647', '2147483648', '-2147483649', '4294967296', '123456789012345678901234567890', '1E2', '0.1e1',
  '5e-324', '1.7976931348623157e308'
]

/** Strings that have broken parsers, validators, databases and object models elsewhere. */
const TRICKY_STRINGS = [
  '', ' ', 'a', '1', '-1', '1.5', 'null', 'true', '__proto__', 'constructor', 'prototype', 'toString',
  'hasOwnProperty', 'valueOf', '\\u0000', 'nul \\u0000 byte', '\\ud800', '\\udfff', 'lone \\ud83d high',
  '\\udc00\\ud800', '😀', '日本語', 'עברית', '\\u202e', '\\ufeff', '\\r\\n', "' or 1=1 --",
  '1; drop table users; --', '%s%s%s', '$' + '{7*7}', '{{7*7}}', '<script>', 'a@example.com', 'test1',
  'password1', '../../etc/passwd', '%00', '\\\\', '\\"', '\\/'
]

/** The JSON text of a string. */
export const quote = (text: string): string => JSON.stringify(text)

/**
 * Strings in the shapes whose checks go super-linear when written naively (email, URI, host names,
 * dates, spaces): a short prefix, a unit repeated many times, and a suffix that makes the match fail
 * at the very end.
 */
export const pathologicalString = (maxRepeat: number): fc.Arbitrary<string> => fc.tuple(
  fc.constantFrom('', 'a@', 'a', 'http://', 'x@a', '0', '2026-01-01T', ' '),
  fc.constantFrom('a.', 'a', '.', 'a-', '0', ' ', '\\t', 'a@', '-a', '1:', '=', 'aa'),
  fc.integer({ min: 1, max: maxRepeat }),
  fc.constantFrom('', ' ', '!', '@', '.', '\\u0000', '-', '"')
).map(([prefix, unit, repeat, suffix]) => `"${prefix}${unit.repeat(repeat)}${suffix}"`)

/** Any string: generated from every code point (lone surrogates escaped by JSON.stringify), or tricky. */
export const stringText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }).map(quote) },
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY_STRINGS).map((s) => `"${s}"`) },
  { weight: 1, arbitrary: pathologicalString(2000) }
)

/** Numbers: the edges, integers, small ones, any finite double. */
export const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS),
  fc.integer().map(String),
  fc.integer({ min: -3, max: 12 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n))
)

/** `null`, booleans, numbers and strings. */
export const scalarText: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false') },
  { weight: 2, arbitrary: numberText },
  { weight: 3, arbitrary: stringText }
)

/** Object keys: field names of the app, prototype keys, anything. */
export const keyText = (fields: readonly string[]): fc.Arbitrary<string> => fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...fields, 'id', 'pk', '__proto__', 'constructor', 'prototype').map(quote) },
  { weight: 1, arbitrary: stringText }
)

/** A JSON object written from key/value texts (duplicate keys kept, as a hostile client may send them). */
export const objectOf = (entries: ReadonlyArray<readonly [string, string]>): string =>
  `{${entries.map(([key, value]) => `${key}:${value}`).join(',')}}`

/** Any JSON value of modest depth, with keys drawn from `fields`. */
export function valueText (fields: readonly string[]): fc.Arbitrary<string> {
  const { value } = fc.letrec<{ value: string, array: string, object: string }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarText, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
    object: fc.array(fc.tuple(keyText(fields), tie('value')), { maxLength: 5 }).map(objectOf)
  }))
  return value
}

/** A value nested `levels` deep: arrays, objects or both, around a scalar. */
export const deepText: fc.Arbitrary<string> = fc.tuple(
  fc.oneof(fc.integer({ min: 17, max: 64 }), fc.integer({ min: 65, max: 6000 })),
  fc.constantFrom('array', 'object', 'mixed'),
  fc.constantFrom('1', 'null', '"x"', '{}', '[]')
).map(([levels, shape, leaf]) => {
  if (shape === 'array') return '['.repeat(levels) + leaf + ']'.repeat(levels)
  if (shape === 'object') return '{"a":'.repeat(levels) + leaf + '}'.repeat(levels)
  return '[{"a":'.repeat(Math.ceil(levels / 2)) + leaf + '}]'.repeat(Math.ceil(levels / 2))
})

/** Large values within a 1 MiB frame: long strings and long arrays. */
export const largeText: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom('x', 'é', '😀', '\\u0000', 'a.', ' '), fc.integer({ min: 1000, max: 200_000 }))
    .map(([unit, n]) => `"${unit.repeat(n)}"`),
  fc.tuple(fc.constantFrom('0', 'null', '"a"', '{}', '[]', '1e309'), fc.integer({ min: 1000, max: 100_000 }))
    .map(([item, n]) => `[${new Array(n).fill(item).join(',')}]`),
  pathologicalString(60_000)
)

/** Any value for any field: mostly modest, sometimes deep or large. */
export function hostileText (fields: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: valueText(fields) },
    { weight: 2, arbitrary: deepText },
    { weight: 1, arbitrary: largeText }
  )
}

/** Text that is not a JSON object: broken JSON, other JSON types, control characters. */
export const notAnObjectText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '{', '}', '[1,2', '{"action":', '{"action": "list",}', "{'action': 'list'}", 'nul\u0000l',
    '{"a":"raw\ttab"}', '{"a":"raw\nnewline"}', 'NaN', 'Infinity', '-', '01', '{"a" 1}', '\ufeff{}', '[]', 'null',
    '"a string"', '0', 'true', '{"action":"list"}{"action":"list"}', '{"action":"list"} trailing'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  valueText([]).filter((text) => !text.startsWith('{')),
  deepText.filter((text) => text.startsWith('['))
)
