/**
 * Frames for the structural fuzzer: for each route of the example application, its actions with
 * valid and invalid arguments, hostile values in every field, and what is not a frame at all.
 */
import fc from 'fast-check'
import { deepText, hostileText, largeText, notAnObjectText, numberText, objectOf, pathologicalString, quote, stringText, valueText } from './json.js'

/** One frame to send: text, or bytes sent as a binary frame. */
export type Frame = { text: string } | { binary: Uint8Array }

/** A route's actions and the arguments each takes, as generators of JSON texts by key. */
export interface RouteFrames {
  actions: readonly string[]
  /** Argument generators by key; every frame gets a random subset. */
  args: Readonly<Record<string, fc.Arbitrary<string>>>
  /**
   * Well-formed calls, by action: the arguments that make it succeed most of the time, so that
   * sequences of them (subscribe, write, unsubscribe, list, cancel) reach the app's deeper states.
   */
  calls?: Readonly<Record<string, Readonly<Record<string, fc.Arbitrary<string>>>>>
}

/** A well-formed call of one of the route's actions, with a short request_id. */
export function callFrame (route: RouteFrames): fc.Arbitrary<string> | null {
  const calls = Object.entries(route.calls ?? {})
  if (calls.length === 0) return null
  return fc.oneof(...calls.map(([name, args]) => fc.tuple(
    fc.constantFrom('"s1"', '"s2"', '1', '2', '"w"'),
    fc.tuple(...Object.entries(args).map(([key, value]) => value.map((text) => [quote(key), text] as const)))
  ).map(([requestId, entries]) => objectOf([['"action"', quote(name)], ['"request_id"', requestId], ...entries]))))
}

/** A valid-looking value most of the time, any value sometimes. */
export const field = (valid: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: hostileText(['id', 'pk']) })

/** Primary keys: of rows that exist (as numbers or strings), of none, and not keys at all. */
export const smallPk = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 }).map(String) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => `"${n}"`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('0', '-1', '1.5', '99', '"1 OR 1=1"', '[1]', '{"id":1}', '1e309', '9007199254740993', '"\\ud800"',
      '"1\\u0000"', '"\\u0000"', '" 1"', '"１"', '"1/../2"', '"%2F"', '"?x=1"', '"#"', '""', 'true', 'null')
  }
)

/** Strings in fields that have a format or a length: valid, edge and pathological. */
export const shortString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).map(quote) },
  { weight: 2, arbitrary: stringText },
  { weight: 1, arbitrary: pathologicalString(50_000) }
)

/** Email addresses, valid and pathological. */
export const email = fc.oneof(
  { weight: 3, arbitrary: fc.emailAddress().map(quote) },
  { weight: 2, arbitrary: pathologicalString(50_000) },
  { weight: 1, arbitrary: stringText }
)

/** An object of some of `fields` (valid or not), and sometimes keys of no field. */
export function objectWith (fields: Readonly<Record<string, fc.Arbitrary<string>>>): fc.Arbitrary<string> {
  const names = Object.keys(fields)
  return fc.tuple(
    fc.subarray(names).chain((keys) => fc.tuple(...keys.map((key) => field(fields[key]!).map((value) => [quote(key), value] as const)))),
    fc.array(fc.tuple(fc.constantFrom('"__proto__"', '"constructor"', '"id"', '"pk"', '"unknown"'), valueText(names)), { maxLength: 2 })
  ).map(([known, extra]) => objectOf([...known, ...extra]))
}

/** An object frame for a route: an action (mostly a real one), a request_id, arguments, extras, in any order. */
export function objectFrame (route: RouteFrames): fc.Arbitrary<string> {
  const fields = [...Object.keys(route.args), 'action', 'request_id']
  const action = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...route.actions).map(quote) },
    { weight: 1, arbitrary: fc.constantFrom('nope', 'LIST', 'list ', '__proto__', 'constructor', 'toString', '').map(quote) },
    { weight: 2, arbitrary: hostileText(fields) }
  )
  const requestId = fc.oneof(
    { weight: 6, arbitrary: fc.oneof(fc.integer({ min: 0, max: 1000 }).map(String), fc.string({ maxLength: 8 }).map(quote)) },
    { weight: 3, arbitrary: valueText(fields) },
    { weight: 1, arbitrary: numberText },
    { weight: 1, arbitrary: deepText },
    { weight: 1, arbitrary: largeText }
  )
  const args = Object.entries(route.args)
  return fc.tuple(
    fc.option(action, { freq: 20, nil: undefined }),
    fc.option(requestId, { freq: 6, nil: undefined }),
    fc.subarray(args.map(([key]) => key)).chain((keys) => fc.tuple(...keys.map((key) => route.args[key]!.map((value) => [quote(key), value] as const)))),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...fields).map(quote), stringText), hostileText(fields)), { maxLength: 2 })
  ).chain(([a, r, known, extra]) => {
    const entries = [
      ...(a === undefined ? [] : [['"action"', a] as const]),
      ...(r === undefined ? [] : [['"request_id"', r] as const]),
      ...known,
      ...extra
    ]
    return fc.shuffledSubarray(entries, { minLength: entries.length })
  }).map(objectOf)
}

/** What is not an object frame: broken JSON, other JSON, binary frames (some of valid JSON). */
export function otherFrame (route: RouteFrames): fc.Arbitrary<Frame> {
  return fc.oneof(
    notAnObjectText.map((text) => ({ text })),
    fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })),
    objectFrame(route).map((text) => ({ binary: Buffer.from(text) }))
  )
}

/** Any frame for a plain route. */
export function plainFrame (route: RouteFrames): fc.Arbitrary<Frame> {
  const call = callFrame(route)
  return fc.oneof(
    ...(call === null ? [] : [{ weight: 6, arbitrary: call.map((text) => ({ text })) }]),
    { weight: 10, arbitrary: objectFrame(route).map((text) => ({ text })) },
    { weight: 2, arbitrary: otherFrame(route) }
  )
}

/** Any frame for a multiplexed route: envelopes of valid and invalid streams around any payload. */
export function multiplexedFrame (streams: readonly string[], route: RouteFrames): fc.Arbitrary<Frame> {
  const stream = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...streams).map(quote) },
    { weight: 1, arbitrary: fc.constantFrom('nope', '', 'THINGS', '__proto__', 'constructor', 'toString', 'things ').map(quote) },
    { weight: 2, arbitrary: hostileText(['stream', 'payload']) }
  )
  const payload = fc.oneof(
    { weight: 8, arbitrary: objectFrame(route) },
    { weight: 2, arbitrary: hostileText(['action', 'request_id']) }
  )
  const envelope = fc.tuple(
    fc.option(stream, { freq: 20, nil: undefined }),
    fc.option(payload, { freq: 20, nil: undefined }),
    fc.array(fc.tuple(fc.constantFrom('"stream"', '"payload"', '"__proto__"', '"x"'), hostileText(['stream'])), { maxLength: 1 })
  ).chain(([s, p, extra]) => {
    const entries = [...(s === undefined ? [] : [['"stream"', s] as const]), ...(p === undefined ? [] : [['"payload"', p] as const]), ...extra]
    return fc.shuffledSubarray(entries, { minLength: entries.length })
  }).map(objectOf)
  const call = callFrame(route)
  return fc.oneof(
    ...(call === null ? [] : [{ weight: 6, arbitrary: fc.tuple(fc.constantFrom(...streams), call).map(([name, text]) => ({ text: `{"stream":${quote(name)},"payload":${text}}` })) }]),
    { weight: 10, arbitrary: envelope.map((text) => ({ text })) },
    { weight: 2, arbitrary: otherFrame(route) }
  )
}
