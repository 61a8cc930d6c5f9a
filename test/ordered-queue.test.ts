import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OrderedQueue } from '../plugin/ordered-queue.js'

const silent = { error () {} }

function recording (): { log: { error: (obj: { err: unknown }, msg: string) => void }, failures: unknown[] } {
  const failures: unknown[] = []
  return { log: { error: ({ err }) => { failures.push(err) } }, failures }
}

test('tasks run in the order they were pushed, each asynchronous one holding those after it', async () => {
  const queue = new OrderedQueue(silent)
  const order: string[] = []
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  queue.push(async () => {
    order.push('a start')
    await held
    order.push('a end')
  })
  queue.push(() => { order.push('b') })
  queue.push(async () => { order.push('c') })
  assert.deepEqual(order, ['a start'])
  assert.equal(queue.busy, true)
  release()
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(order, ['a start', 'a end', 'b', 'c'])
  assert.equal(queue.busy, false)
})

test('synchronous tasks run at once, without a turn of the microtask queue', () => {
  const queue = new OrderedQueue(silent)
  const order: number[] = []
  queue.push(() => {
    order.push(1)
    // Pushed while the first runs: it waits for it, then runs in the same turn.
    queue.push(() => { order.push(3) })
    order.push(2)
  })
  queue.push(() => { order.push(4) })
  assert.deepEqual(order, [1, 2, 3, 4])
  assert.equal(queue.busy, false)
})

test('a task that throws or rejects is logged and the queue goes on', async () => {
  const { log, failures } = recording()
  const queue = new OrderedQueue(log)
  const order: string[] = []
  const thrown = new Error('thrown')
  const rejected = new Error('rejected')
  queue.push(() => { throw thrown })
  queue.push(() => { order.push('after throw') })
  queue.push(async () => { throw rejected })
  queue.push(() => { order.push('after reject') })
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(order, ['after throw', 'after reject'])
  assert.deepEqual(failures, [thrown, rejected])
  assert.equal(queue.busy, false)
})

test('runIfIdle runs at once when idle, and runs nothing when busy', async () => {
  const queue = new OrderedQueue(silent)
  const self = { seen: [] as string[] }
  function handle (this: typeof self, a: string, b: string): void { this.seen.push(a + b) }
  assert.equal(queue.runIfIdle(self, handle, 'x', 'y'), true)
  assert.deepEqual(self.seen, ['xy'])
  assert.equal(queue.busy, false)

  let release!: () => void
  queue.push(() => new Promise<void>((resolve) => { release = resolve }))
  assert.equal(queue.runIfIdle(self, handle, 'p', 'q'), false)
  assert.deepEqual(self.seen, ['xy'])
  release()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(queue.busy, false)
})

test('a promise returned by runIfIdle holds the tasks pushed after it', async () => {
  const { log, failures } = recording()
  const queue = new OrderedQueue(log)
  const order: string[] = []
  let reject!: (err: Error) => void
  const err = new Error('late')
  queue.runIfIdle(null, () => new Promise((_resolve, _reject) => { reject = _reject }), 0, 0)
  queue.push(() => { order.push('next') })
  assert.deepEqual(order, [])
  reject(err)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(order, ['next'])
  assert.deepEqual(failures, [err])
})

test('a thenable that is not a promise holds the queue too', async () => {
  const queue = new OrderedQueue(silent)
  const order: string[] = []
  let settle!: () => void
  queue.push(() => ({ then (resolve: () => void) { settle = resolve } }))
  queue.push(() => { order.push('after') })
  assert.deepEqual(order, [])
  settle()
  assert.deepEqual(order, ['after'])
})

test('a long run of queued tasks empties and reuses its storage', async () => {
  const queue = new OrderedQueue(silent)
  let count = 0
  for (let round = 0; round < 3; round++) {
    let release!: () => void
    queue.push(() => new Promise<void>((resolve) => { release = resolve }))
    for (let i = 0; i < 1000; i++) queue.push(() => { count++ })
    release()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(queue.busy, false)
  }
  assert.equal(count, 3000)
})
