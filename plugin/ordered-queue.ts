/** A queued piece of work; a returned thenable holds the queue until it settles. */
export type Task = () => unknown

/** Where a failing task is reported: a pino logger, or anything with its `error` method. */
export interface TaskLog {
  error: (obj: { err: unknown }, msg: string) => void
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === 'function'

/**
 * The tasks of one consumer instance (frames, group messages, hooks), one after another, as
 * mercurius' SubscriptionConnection; a failing task is logged and the queue goes on. No async
 * function on purpose: a group message to thousands of consumers costs no promise of the queue's
 * own, and a synchronous task no microtask turn.
 */
export class OrderedQueue {
  // A logger rather than a callback: a callback would be one more closure per consumer instance.
  readonly #log: TaskLog
  #tasks: Array<Task | undefined> | null = null
  #head = 0
  #draining = false
  #resume: [() => void, (err: unknown) => void] | null = null

  constructor (log: TaskLog) {
    this.#log = log
  }

  /** Whether a task is running or holding the queue. */
  get busy (): boolean {
    return this.#draining
  }

  /** Runs the task at once when the queue is idle, or after the tasks before it. */
  push (task: Task): void {
    if (this.#draining) {
      (this.#tasks ??= []).push(task)
      return
    }
    this.#draining = true
    this.#run(task)
  }

  /** Runs `fn.call(self, a, b)` if idle (true), else nothing (false): a hot path makes no closure. */
  runIfIdle<T, A, B> (self: T, fn: (this: T, a: A, b: B) => unknown, a: A, b: B): boolean {
    if (this.#draining) return false
    this.#draining = true
    let result: unknown
    try {
      result = fn.call(self, a, b)
    } catch (err) {
      this.#failed(err)
    }
    if (isThenable(result)) this.#wait(result)
    else this.#run(this.#next())
    return true
  }

  #run (task: Task | undefined): void {
    while (task !== undefined) {
      let result: unknown
      try {
        result = task()
      } catch (err) {
        this.#failed(err)
      }
      if (isThenable(result)) {
        this.#wait(result)
        return
      }
      task = this.#next()
    }
    this.#draining = false
  }

  #wait (result: PromiseLike<unknown>): void {
    this.#resume ??= [
      () => this.#run(this.#next()),
      (err) => {
        this.#failed(err)
        this.#run(this.#next())
      }
    ]
    result.then(this.#resume[0], this.#resume[1])
  }

  #failed (err: unknown): void {
    this.#log.error({ err }, 'consumer task failed')
  }

  #next (): Task | undefined {
    const tasks = this.#tasks
    if (tasks === null) return undefined
    if (this.#head < tasks.length) {
      const task = tasks[this.#head]
      tasks[this.#head++] = undefined
      return task
    }
    // Emptied once drained: setting the length of an empty array is not free.
    if (this.#head !== 0) {
      tasks.length = 0
      this.#head = 0
    }
    return undefined
  }
}
