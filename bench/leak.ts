/**
 * Leak measurement: thousands of connect / subscribe / disconnect cycles against a consumer with
 * instance subscriptions and a model observer, measuring what a long-running server would
 * accumulate — heap after a full GC, channel-layer groups, open sockets, active handles and timers.
 *
 *   npm run bench:leak              # 10,000 cycles
 *   npm run bench:leak -- 2000      # another number of cycles
 *
 * Prints a table and exits non-zero when anything is left over or the heap keeps growing.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import Fastify from 'fastify'
import WebSocket from 'ws'
import dcrf, { defineConsumer, instanceSubscriptions, mixins, modelObserver } from 'fastify-dcrf'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const cycles = Number(process.argv[2] ?? 10_000)
const batch = 50

const notes = pgTable('notes', { id: serial('id').primaryKey(), text: text('text').notNull(), owner: integer('owner').notNull() })
const client = new PGlite()
await client.exec('create table notes (id serial primary key, text text not null, owner integer not null); insert into notes (text, owner) select \'n\' || i, i % 10 from generate_series(1, 100) i')

const app = Fastify()
await app.register(dcrf, { db: drizzle(client), heartbeatInterval: 1000 })
app.dcrf.consumer('/ws/', defineConsumer({
  table: notes,
  observers: {
    activity: modelObserver(notes, {
      groupsForSignal: (row) => [`owner__${row.owner}`],
      groupsForConsumer: (_ctx, { owner }) => [`owner__${String(owner)}`]
    })
  },
  actions: {
    ...mixins.retrieve(),
    ...instanceSubscriptions(),
    watch: async (ctx, { owner }, { requestId }) => {
      await ctx.observer('activity').subscribe({ requestId, owner })
      return { status: 201 }
    }
  }
}))
const url = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws') + '/ws/'

async function cycle (i: number): Promise<void> {
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  let answers = 0
  const done = new Promise<void>((resolve) => ws.on('message', () => { if (++answers === 2) resolve() }))
  ws.send(JSON.stringify({ action: 'subscribe_instance', pk: (i % 100) + 1, request_id: i }))
  ws.send(JSON.stringify({ action: 'watch', owner: i % 10, request_id: i }))
  await done
  const closed = new Promise((resolve) => ws.once('close', resolve))
  ws.close()
  await closed
}

async function settle (): Promise<number> {
  for (let i = 0; i < 100 && app.dcrf.channelLayer.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 50))
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const handlesBefore = process.getActiveResourcesInfo().length
const samples: Array<{ cycles: number, heap: number }> = []
// A first round warms up the code paths and caches before measuring.
for (let i = 0; i < 1000; i += batch) await Promise.all(Array.from({ length: batch }, (_, j) => cycle(i + j)))
samples.push({ cycles: 0, heap: await settle() })
for (let done = 0; done < cycles;) {
  await Promise.all(Array.from({ length: batch }, (_, j) => cycle(done + j)))
  done += batch
  if (done % Math.max(batch, Math.floor(cycles / 10 / batch) * batch) === 0 || done >= cycles) samples.push({ cycles: done, heap: await settle() })
}
const leftGroups = app.dcrf.channelLayer.size
const leftHandles = process.getActiveResourcesInfo().length - handlesBefore

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(2)
console.log('| cycles | heap after GC (MiB) |')
console.log('|---:|---:|')
for (const sample of samples) console.log(`| ${sample.cycles} | ${mib(sample.heap)} |`)
// The slope of a least-squares line through the second half of the samples: the first cycles
// fill caches and compiled code once; a leak keeps growing after that.
const steady = samples.slice(Math.floor(samples.length / 2))
const meanX = steady.reduce((sum, s) => sum + s.cycles, 0) / steady.length
const meanY = steady.reduce((sum, s) => sum + s.heap, 0) / steady.length
const perCycle = steady.reduce((sum, s) => sum + (s.cycles - meanX) * (s.heap - meanY), 0) /
  steady.reduce((sum, s) => sum + (s.cycles - meanX) ** 2, 0)
console.log(`\nheap growth in the steady state: ${perCycle.toFixed(1)} bytes per cycle (least squares over the second half)`)
console.log(`channel-layer groups left: ${leftGroups}; handles left: ${leftHandles}`)

await app.close()
await client.close()
// A leak of a few objects per cycle shows as tens of bytes per cycle; noise stays well below.
const leaked = leftGroups > 0 || leftHandles > 0 || perCycle > 64
console.log(leaked ? 'LEAK: something is left behind' : 'no leak: nothing left behind, the heap does not grow')
process.exitCode = leaked ? 1 : 0
