/**
 * Change capture: a Drizzle database whose inserts, updates and deletes report the rows they
 * changed once their transaction commits. It is a prototype child of the real database with
 * `insert`, `update`, `delete`, `with` and `transaction` replaced; write builders run the statement
 * of `./statement.ts`. Not captured: raw SQL, writes inside a CTE of another statement,
 * `prepare(…).all()`, and triggers, cascades or other clients' writes (see `./external.ts`).
 */
import type { PgTable } from 'drizzle-orm/pg-core'
import type { CaptureOptions, ChangeAction, ChangeEvent, Database } from '../../types/index.js'
import { netEffect, type Change } from './change.js'
import { probeDrizzle, writeBuilder } from './drizzle-internals.js'
import { executeCaptured, prepareCaptured, type Outcome, type RenderedShapes } from './statement.js'
import { tableInfo } from './table-info.js'

interface Capture {
  onCommit: (events: ChangeEvent[]) => void
  capture: ((table: PgTable) => boolean) | undefined
  shapes: RenderedShapes
}

/** The changes of one transaction or savepoint so far. */
interface Scope {
  changes: Change[]
}

/**
 * Wraps a Drizzle database (`drizzle-orm/postgres-js` or `drizzle-orm/pglite`) so that the rows its
 * writes change reach `onCommit` once committed, as the net effect per row of each transaction
 * ({@link netEffect}); a rolled back transaction or savepoint publishes nothing. `onCommit` runs
 * before the write resolves, with at least one event; what it throws or rejects is swallowed.
 * Throws `DCRF_ERR_DRIZZLE_UNSUPPORTED` when the installed drizzle-orm lacks what capture needs.
 *
 * @example
 * ```ts
 * const db = captureChanges(drizzle(client), (events) => observers.publish(events))
 * await db.update(users).set({ name: 'x' }).where(eq(users.id, 7))
 * // onCommit([{ action: 'update', tableName: 'users', pk: 7, row: {…}, previous: {…}, table: users }])
 * ```
 */
export function captureChanges<TDb extends Database> (db: TDb, onCommit: (events: ChangeEvent[]) => void, options: CaptureOptions = {}): TDb {
  probeDrizzle(db)
  return wrapDatabase(db, { onCommit, capture: options.capture, shapes: new Map() }, null)
}

type AnyFunction = (...args: any[]) => any

/** The name captured statements are prepared under (PGlite ignores it). */
const CAPTURED_STATEMENT = 'dcrf_capture'

interface DatabaseMembers {
  insert (table: PgTable): Record<string, AnyFunction>
  update (table: PgTable): Record<string, AnyFunction>
  delete (table: PgTable): Record<string, AnyFunction>
  with (...queries: unknown[]): Record<string, AnyFunction>
  transaction (run: (tx: unknown) => Promise<unknown>, config?: unknown): Promise<unknown>
}

function wrapDatabase<TDb> (db: TDb, capture: Capture, scope: Scope | null): TDb {
  const target = db as unknown as DatabaseMembers
  const wrapped = Object.create(target) as DatabaseMembers
  const writers = writersOf(target, capture, scope)
  wrapped.insert = writers.insert
  wrapped.update = writers.update
  wrapped.delete = writers.delete
  wrapped.with = (...queries) => {
    const builders = target.with(...queries)
    return { ...builders, ...writersOf(builders as unknown as DatabaseMembers, capture, scope) }
  }
  wrapped.transaction = (run, config) => transaction(target, run, config, capture, scope)
  return wrapped as TDb
}

function writersOf (target: Pick<DatabaseMembers, 'insert' | 'update' | 'delete'>, capture: Capture, scope: Scope | null) {
  const captured = (table: PgTable) => capture.capture === undefined || capture.capture(table)
  return {
    insert (table: PgTable) {
      const builder = target.insert(table)
      if (!captured(table)) return builder
      // insert(t) is a builder of builders: values() and select() make the statement
      const { values, select } = builder
      builder.values = (...args) => instrument(values.apply(builder, args), table, 'create', capture, scope)
      builder.select = (...args) => instrument(select.apply(builder, args), table, 'create', capture, scope)
      return builder
    },
    update (table: PgTable) {
      const builder = target.update(table)
      if (!captured(table)) return builder
      const { set } = builder
      builder.set = (...args) => instrument(set.apply(builder, args), table, 'update', capture, scope)
      return builder
    },
    delete (table: PgTable) {
      const builder = target.delete(table)
      return captured(table) ? instrument(builder, table, 'delete', capture, scope) : builder
    }
  }
}

/** Makes a statement builder run captured: awaiting it runs its `execute`, which its chainable methods keep. */
function instrument (builder: Record<string, AnyFunction>, table: PgTable, action: ChangeAction, capture: Capture, scope: Scope | null) {
  const info = tableInfo(table)
  const internals = writeBuilder(builder)
  let upsert = false
  if (action === 'create') {
    const { onConflictDoUpdate } = builder
    builder.onConflictDoUpdate = (...args) => {
      upsert = true
      return onConflictDoUpdate.apply(builder, args)
    }
  }
  const { prepare } = builder
  builder.execute = async (placeholders?: Record<string, unknown>) => {
    // named, so that postgres.js prepares it once per connection and statement text
    return settle(await executeCaptured(internals, info, action, upsert, capture.shapes, CAPTURED_STATEMENT, placeholders), capture, scope)
  }
  builder.prepare = (name?: string) => {
    const captured = prepareCaptured(internals, info, action, upsert, name)
    const query = Object.create(prepare.call(builder, name))
    query.execute = async (placeholders?: Record<string, unknown>) => settle(await captured.execute(placeholders), capture, scope)
    return query
  }
  return builder
}

/** Records a statement's changes in its transaction, or publishes them if it ran on its own. */
function settle ({ result, changes }: Outcome, capture: Capture, scope: Scope | null): unknown {
  if (scope !== null) append(scope.changes, changes)
  else publish(capture, changes)
  return result
}

async function transaction (target: DatabaseMembers, run: (tx: unknown) => Promise<unknown>, config: unknown, capture: Capture, parent: Scope | null) {
  const scope: Scope = { changes: [] }
  const result = await target.transaction((tx) => run(wrapDatabase(tx, capture, scope)), config)
  // committed (or, for a savepoint, released): its changes now belong to the enclosing transaction
  if (parent !== null) append(parent.changes, scope.changes)
  else publish(capture, scope.changes)
  return result
}

function publish (capture: Capture, changes: Change[]) {
  if (changes.length === 0) return
  const events = netEffect(changes)
  if (events.length === 0) return
  try {
    const returned = capture.onCommit(events) as unknown
    if (returned instanceof Promise) returned.catch(noop)
  } catch {
    // the write is committed: its caller must see it succeed
  }
}

function append (into: Change[], changes: Change[]) {
  // no push(...changes): a bulk write may change more rows than a call has room for arguments
  for (const change of changes) into.push(change)
}

function noop () {}
