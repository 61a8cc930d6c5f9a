/**
 * A structural, property-based fuzzer (fast-check) against every WebSocket route of the example
 * application, on PGlite and, when `DATABASE_URL` is set, on PostgreSQL; the in-process channel layer.
 *
 * Each run sends one socket a few batches of generated frames — every JSON type in every field,
 * `__proto__`/`constructor` keys, nesting thousands of levels deep, strings and arrays up to the
 * frame limit, NUL, lone surrogates, numbers at the edges, multiplexed envelopes of valid and invalid
 * streams, real actions with bad arguments, non-JSON text, binary frames — and sometimes ends with a
 * frame over the limit or invalid UTF-8. After every run:
 *
 * - every frame was answered with a reply in DCRF's envelope and a status below 500 (streamed lists:
 *   pages up to their last one, fewer when cancelled; subscriptions: events with their request_id;
 *   frames nested deeper than the default `maxDepth` of 32: a 400 with a null request_id), and
 *   nothing else arrived;
 * - a socket closed only with the code its last frame called for (1009 too big, 1007 invalid UTF-8):
 *   never with 1013, since it reads all it is sent, however large the replies it asks for;
 * - a fresh client of the route gets its reply to a known-good request, no frame held the event loop
 *   for two seconds, nothing was thrown out of a socket's events, and nothing was logged at error level.
 *
 * `FUZZ_RUNS=<n>` sets the runs per route (default 6 on PGlite, 3 on PostgreSQL); `FUZZ_SEED=<n>`
 * the seed (default a fixed one, so that `npm test` sends the same frames every time). A failure
 * prints the seed to replay it with (the routes share one app, run in order: replay the whole file).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import fc from 'fast-check'
import postgres from 'postgres'
import { buildApp, type ExampleOptions } from '../example/app.js'
import { sleep, urlOf, type LogLines } from './helpers.js'
import { email, field, multiplexedFrame, objectWith, plainFrame, shortString, smallPk, type Frame, type RouteFrames } from './fuzz/frames.js'
import { account, expect, FuzzSocket, show, type Expectation, type RouteModel } from './fuzz/harness.js'
import { numberText, quote } from './fuzz/json.js'

const DATABASE_URL = process.env.DATABASE_URL
const SEED = process.env.FUZZ_SEED === undefined ? 20261201 : Number(process.env.FUZZ_SEED)
const runsOn = (backend: string): number => process.env.FUZZ_RUNS === undefined ? (backend === 'pglite' ? 6 : 3) : Number(process.env.FUZZ_RUNS)
const MAX_FRAME = 1024 * 1024
/** How long a socket may take to answer a batch, and the event loop may be held at most. */
const ANSWER_WITHIN = 10_000
const MAX_STALL = 2000

interface Route {
  path: string
  /** Signed-in users only: the socket carries test1's token. */
  auth?: boolean
  model: RouteModel
  frames: RouteFrames
  /** A request every state of the app answers (in the first stream), and the statuses it may have. */
  good: Record<string, unknown>
  goodStatus: number[]
}

const CUD = ['create', 'update', 'delete']
const crud = ['list', 'retrieve', 'create', 'update', 'patch', 'delete']
const pageArgs = { limit: field(smallPk), offset: field(fc.oneof(smallPk, numberText)) }
const userData = objectWith({ username: shortString, email, password: shortString })
const seeded = fc.constantFrom('1', '2', '3')
const someText = fc.string({ minLength: 1, maxLength: 20 }).map(quote)
const goodEmail = fc.emailAddress().filter((e) => e.length < 60).map(quote)
const newUser = fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.emailAddress().filter((e) => e.length < 60), someText)
  .map(([username, address, password]) => `{"username":${quote(username)},"email":${quote(address)},"password":${password}}`)
const none: Record<string, fc.Arbitrary<string>> = {}

// In this order: the routes that need test1's token before /ws/users/, where test1 may be deleted.
const ROUTES: Route[] = [
  {
    path: '/ws/me/',
    auth: true,
    model: {},
    frames: { actions: ['whoami'], args: {}, calls: { whoami: none } },
    good: { action: 'whoami' },
    goodStatus: [200]
  },
  {
    path: '/ws/chat/room/',
    auth: true,
    model: { subscribe: { join_room: ['update_users'], subscribe_to_messages_in_room: ['create'], subscribe_instance: ['update', 'delete'] } },
    frames: {
      actions: ['retrieve', 'subscribe_instance', 'unsubscribe_instance', 'join_room', 'leave_room', 'create_message', 'subscribe_to_messages_in_room', 'unsubscribe_from_messages_in_room'],
      args: { pk: field(smallPk), message: field(shortString) },
      calls: {
        join_room: { pk: fc.constant('1') },
        leave_room: { pk: fc.constant('1') },
        create_message: { message: someText },
        subscribe_to_messages_in_room: { pk: fc.constant('1') },
        unsubscribe_from_messages_in_room: { pk: fc.constant('1') },
        subscribe_instance: { pk: fc.constant('1') },
        retrieve: { pk: fc.constant('1') }
      }
    },
    good: { action: 'retrieve', pk: 1 },
    goodStatus: [200, 404]
  },
  {
    path: '/ws/rest/users/',
    auth: true,
    model: {},
    frames: {
      actions: ['list', 'retrieve', 'create', 'patch', 'update', 'delete'],
      args: { parameters: field(objectWith({ id: smallPk })), query: field(objectWith({ id: smallPk, fields: shortString })), data: field(userData) },
      calls: {
        list: none,
        retrieve: { parameters: seeded.map((id) => `{"id":${id}}`) },
        create: { data: newUser },
        patch: { parameters: fc.constant('{"id":1}'), data: goodEmail.map((e) => `{"email":${e}}`) }
      }
    },
    good: { action: 'list' },
    goodStatus: [200]
  },
  {
    path: '/ws/lobby/',
    model: { broadcast: ['message'] },
    frames: {
      actions: ['ping', 'set_name', 'say'],
      args: { name: field(shortString), text: field(shortString) },
      calls: { ping: none, set_name: { name: someText }, say: { text: someText } }
    },
    good: { action: 'ping' },
    goodStatus: [200]
  },
  {
    path: '/ws/users/paginated/',
    model: {},
    frames: { actions: ['list'], args: pageArgs, calls: { list: { limit: fc.constantFrom('1', '2', '3'), offset: fc.constantFrom('0', '1', '2', '5') } } },
    good: { action: 'list' },
    goodStatus: [200]
  },
  {
    path: '/ws/users/streamed/',
    model: { detached: ['list'], cancel: 'list_cancel' },
    frames: {
      actions: ['list', 'list_cancel'],
      args: pageArgs,
      calls: { list: { limit: fc.constantFrom('1', '2', '3'), offset: fc.constantFrom('0', '1', '2', '5') }, list_cancel: none }
    },
    good: { action: 'list_cancel' },
    goodStatus: [200]
  },
  {
    path: '/ws/comments/',
    model: { subscribe: { subscribe_to_comment_activity: CUD, subscribe_to_user_comments: CUD } },
    frames: {
      actions: ['list', 'create', 'patch', 'delete', 'subscribe_to_comment_activity', 'subscribe_to_user_comments', 'unsubscribe_from_comment_activity'],
      args: { pk: field(smallPk), user_pk: field(smallPk), data: field(objectWith({ text: shortString, user: smallPk })) },
      calls: {
        subscribe_to_comment_activity: none,
        subscribe_to_user_comments: { user_pk: seeded },
        unsubscribe_from_comment_activity: none,
        create: { data: fc.tuple(someText, seeded).map(([text, user]) => `{"text":${text},"user":${user}}`) },
        patch: { pk: seeded, data: fc.tuple(someText, seeded).map(([text, user]) => `{"text":${text},"user":${user}}`) },
        delete: { pk: seeded },
        list: none
      }
    },
    good: { action: 'list' },
    goodStatus: [200]
  },
  {
    path: '/ws',
    model: { streams: ['things', 'things_with_id'], subscribe: { subscribe_instance: ['update', 'delete'] } },
    frames: {
      actions: [...crud, 'subscribe_instance', 'unsubscribe_instance'],
      args: { pk: field(smallPk), data: field(objectWith({ name: shortString, counter: numberText })) },
      calls: {
        subscribe_instance: { pk: fc.constantFrom('1', '2') },
        unsubscribe_instance: { pk: fc.constantFrom('1', '2') },
        patch: { pk: fc.constantFrom('1', '2'), data: fc.integer({ min: 0, max: 99 }).map((n) => `{"counter":${n}}`) },
        update: { pk: fc.constantFrom('1', '2'), data: fc.tuple(someText, fc.integer({ min: 0, max: 99 })).map(([name, n]) => `{"name":${name},"counter":${n}}`) },
        create: { data: someText.map((name) => `{"name":${name}}`) },
        delete: { pk: fc.constantFrom('3', '4', '5') },
        list: none
      }
    },
    good: { action: 'list' },
    goodStatus: [200]
  },
  {
    path: '/ws/users/',
    model: { subscribe: { subscribe_instance: ['update', 'delete'] } },
    frames: {
      actions: [...crud, 'subscribe_instance', 'unsubscribe_instance'],
      args: { pk: field(smallPk), data: field(userData) },
      calls: {
        subscribe_instance: { pk: seeded },
        unsubscribe_instance: { pk: seeded },
        patch: { pk: seeded, data: goodEmail.map((e) => `{"email":${e}}`) },
        create: { data: newUser },
        delete: { pk: fc.constantFrom('3', '4', '5') },
        list: none
      }
    },
    good: { action: 'list' },
    goodStatus: [200]
  }
]

/** A frame closing the socket: over the frame limit (1009), by a little or by megabytes, or text that is not UTF-8 (1007). */
type Ending = 'oversized' | 'oversized 2 MiB' | 'oversized 4 MiB' | 'invalid-utf8'

interface Run {
  batches: Frame[][]
  end: Ending | undefined
}

const sizeOf = (frame: Frame): number => 'text' in frame ? Buffer.byteLength(frame.text) : frame.binary.length
const withinLimit = (frame: Frame): boolean => sizeOf(frame) <= MAX_FRAME

function runs (route: Route): fc.Arbitrary<Run> {
  const frame = (route.model.streams === undefined ? plainFrame(route.frames) : multiplexedFrame(route.model.streams, route.frames)).filter(withinLimit)
  return fc.record({
    // A batch: frames, some sent many times in a row (floods of one action, past the per-socket caps).
    batches: fc.array(
      fc.array(fc.tuple(frame, fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 30 }) })), { minLength: 1, maxLength: 10 })
        // Large frames are not repeated: a flood of them would only take long to echo.
        .map((groups) => groups.flatMap(([f, times]) => new Array<Frame>(sizeOf(f) > 16_384 ? 1 : times).fill(f))),
      { minLength: 1, maxLength: 3 }
    ),
    end: fc.oneof(
      { weight: 12, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constantFrom<Ending>('oversized', 'invalid-utf8') },
      { weight: 1, arbitrary: fc.constantFrom<Ending>('oversized 2 MiB', 'oversized 4 MiB') }
    )
  })
}

/** A frame of the route: wrapped in its first stream when multiplexed. */
function inRoute (route: Route, payload: Record<string, unknown>, stream = route.model.streams?.[0]): string {
  return JSON.stringify(stream === undefined ? payload : { stream, payload })
}

interface Backend {
  name: 'pglite' | 'postgres'
  database (): Promise<{ options: ExampleOptions, drop (): Promise<void> }>
}

const backends: Backend[] = [{ name: 'pglite', database: async () => ({ options: {}, drop: async () => {} }) }]
if (DATABASE_URL !== undefined) {
  backends.push({
    name: 'postgres',
    async database () {
      const schema = `fuzz_${randomBytes(6).toString('hex')}`
      const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
      await admin.unsafe(`create schema ${schema}`)
      const url = new URL(DATABASE_URL)
      url.searchParams.set('search_path', schema)
      return {
        options: { databaseUrl: url.href },
        async drop () {
          await admin.unsafe(`drop schema ${schema} cascade`)
          await admin.end({ timeout: 5 })
        }
      }
    }
  })
}

/** The example with its log lines captured (warnings and errors). */
async function start (t: TestContext, backend: Backend): Promise<{ app: FastifyInstance, logs: LogLines, token: string }> {
  const logs: LogLines = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line))
      callback()
    }
  })
  const database = await backend.database()
  const app = await buildApp({ ...database.options, logger: { level: 'warn', stream } })
  t.after(async () => {
    await app.close()
    await database.drop()
  })
  const login = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'test1', password: 'password1' } })
  assert.equal(login.statusCode, 200, login.body)
  return { app, logs, token: login.json().token }
}

/** What went wrong outside of replies: exceptions thrown out of socket events. */
const uncaught: unknown[] = []
const onUncaught = (err: unknown): void => { uncaught.push(err) }

/** One run: the batches on one socket, each accounted for after a barrier; then the checks of the whole app. */
/** What the runs of a route sent and received, shown after them: what the fuzzer exercised. */
interface Tally {
  runs: number
  frames: number
  replies: number
  /** Subscription events and broadcasts among the replies. */
  events: number
  deep: number
  closes: Record<number, number>
}

async function fuzzRun (app: FastifyInstance, logs: LogLines, token: string, route: Route, run: Run, tally: Tally): Promise<void> {
  const path = route.auth === true ? `${route.path}?token=${token}` : route.path
  const url = await urlOf(app, path)
  const logsBefore = logs.length
  const stall = monitorEventLoopDelay({ resolution: 10 })
  stall.enable()
  let socket: FuzzSocket | null = null
  const fail = (what: string, sent: readonly Expectation[]): never => {
    const received = socket === null ? '' : `\nreplies received:\n${socket.received.slice(0, 60).map((r) => `  ${show(r.text)}`).join('\n')}`
    throw new Error(`${route.path}: ${what}\nframes sent on this socket:\n${sent.map((e) => `  ${e.shown}`).join('\n')}${received}`)
  }
  socket = await FuzzSocket.open(url, route.model)
  const sent: Expectation[] = []
  const tallied = tally.replies
  const events = tally.events
  let barriers = 0
  try {
    // After the batches, one more barrier when something subscribed: events arrive after the replies.
    for (let b = 0; b <= run.batches.length; b++) {
      const batch = run.batches[b] ?? []
      if (b === run.batches.length) {
        if (!sent.some((e) => e.subscribes.length > 0)) break
        await sleep(50)
      }
      for (const frame of batch) {
        if ('binary' in frame) {
          socket.send(Buffer.from(frame.binary), true)
          sent.push(expect(route.model, null, `<binary, ${frame.binary.length} bytes>`))
        } else {
          socket.send(frame.text)
          sent.push(expect(route.model, frame.text, show(frame.text)))
        }
      }
      // A barrier per queue: once it is answered, every frame before it in that queue was.
      const waits = (route.model.streams ?? [undefined]).map((stream) => {
        const requestId = `barrier-${++barriers}`
        const text = inRoute(route, { action: 'fuzz_barrier', request_id: requestId }, stream)
        socket.send(text)
        sent.push(expect(route.model, text, text))
        return [JSON.stringify(requestId), stream ?? null] as const
      })
      const answered = await socket.until(() => waits.every(([id, stream]) => socket.has(id, stream)), ANSWER_WITHIN)
      // This client reads all it is sent: even 1013 (too slow) would be wrong.
      if (socket.closed !== null) fail(`the socket was closed with ${socket.closed.code} ${socket.closed.reason}`, sent)
      if (!answered) fail(`no reply to a barrier within ${ANSWER_WITHIN} ms: the socket stopped answering`, sent)
      let result = account(route.model, sent, socket.received)
      if (result.pending) {
        await socket.until(() => !(result = account(route.model, sent, socket.received)).pending, ANSWER_WITHIN)
      }
      const problems = [...socket.malformed, ...result.problems]
      tally.replies = tallied + socket.received.length
      tally.events = events + result.events
      if (problems.length > 0) fail(problems.slice(0, 8).join('\n'), sent)
    }
    if (run.end !== undefined) {
      const size = { oversized: MAX_FRAME, 'oversized 2 MiB': 2 * MAX_FRAME, 'oversized 4 MiB': 4 * MAX_FRAME, 'invalid-utf8': 0 }[run.end]
      if (size > 0) socket.send(`{"action":"ping","data":"${'x'.repeat(size)}"}`)
      else socket.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), false)
      const expected = size > 0 ? 1009 : 1007
      await socket.until(() => false, 5000)
      const code = (socket.closed as { code: number } | null)?.code
      if (code !== expected) {
        fail(`after ${size > 0 ? `a frame of ${size} bytes, over the limit` : 'text that is not UTF-8'}: ` +
          `closed with ${code ?? 'nothing in 5 s'}, not ${expected}`, sent)
      }
    }
  } finally {
    tally.runs++
    tally.frames += sent.length
    tally.deep += sent.filter((e) => e.deep).length
    if (socket.closed !== null) tally.closes[socket.closed.code] = (tally.closes[socket.closed.code] ?? 0) + 1
    socket.close()
    stall.disable()
  }

  // The app lives on: a fresh client gets its answer.
  const fresh = await FuzzSocket.open(url, route.model)
  try {
    fresh.send(inRoute(route, { ...route.good, request_id: 'alive' }))
    const stream = route.model.streams?.[0] ?? null
    const alive = await fresh.until(() => fresh.has('"alive"', stream), ANSWER_WITHIN)
    if (!alive) fail(`a fresh client got no reply to ${JSON.stringify(route.good)} within ${ANSWER_WITHIN} ms`, sent)
    const status = fresh.received.find((r) => r.requestId === '"alive"')!.reply.response_status
    if (!route.goodStatus.includes(status)) fail(`a fresh client's ${JSON.stringify(route.good)} was answered ${status}`, sent)
  } finally {
    fresh.close()
  }
  const held = stall.max / 1e6
  if (held > MAX_STALL) fail(`the event loop was held for ${Math.round(held)} ms`, sent)
  if (uncaught.length > 0) fail(`thrown out of a socket's events: ${String((uncaught[0] as Error)?.stack ?? uncaught[0])}`, sent)
  const errors = logs.slice(logsBefore).filter((line) => line.level >= 50)
  if (errors.length > 0) {
    fail(`logged at error level: ${errors.slice(0, 3).map((line) => JSON.stringify({ msg: line.msg, err: line.err?.message ?? line.err?.type })).join('; ')}`, sent)
  }
}

for (const backend of backends) {
  test(`[${backend.name}] fuzzing every WebSocket route of the example: every frame answered, the app alive, no error logged`, { timeout: 600_000 }, async (t) => {
    const { app, logs, token } = await start(t, backend)
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUncaught)
    t.after(() => {
      process.off('uncaughtException', onUncaught)
      process.off('unhandledRejection', onUncaught)
    })
    for (const [index, route] of ROUTES.entries()) {
      await t.test(route.path, async (st) => {
        uncaught.length = 0
        const seed = SEED + index
        const tally: Tally = { runs: 0, frames: 0, replies: 0, events: 0, deep: 0, closes: {} }
        const details = await fc.check(fc.asyncProperty(runs(route), (run) => fuzzRun(app, logs, token, route, run, tally)), {
          seed,
          numRuns: runsOn(backend.name),
          // No shrinking: each step would replay a run against an app the failing run changed.
          endOnFailure: true
        })
        st.diagnostic(`${tally.runs} runs, ${tally.frames} frames (${tally.deep} too deep), ${tally.replies} replies (${tally.events} events), closes ${JSON.stringify(tally.closes)}`)
        if (details.failed) {
          const err = details.errorInstance as Error | undefined
          assert.fail(`${err?.message ?? 'failed'}\n(replay: FUZZ_SEED=${SEED}; this route's seed ${seed}, path ${details.counterexamplePath ?? ''})`)
        }
      })
    }
  })
}
