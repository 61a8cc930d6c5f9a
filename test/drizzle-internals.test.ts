import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as orm from 'drizzle-orm'
import * as pgCore from 'drizzle-orm/pg-core'
import { dialectOf, drizzleVersion, probeDrizzle } from '../plugin/observer/drizzle-internals.js'
import { captureChanges } from '../plugin/observer/capture.js'
import { backends } from './db.js'

const installed = (JSON.parse(readFileSync(new URL('../node_modules/drizzle-orm/package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The error the probe throws, asserted to be the coded one. */
function probeError (run: () => void): Error & { code: string } {
  try {
    run()
  } catch (err) {
    assert.equal((err as { code?: unknown }).code, 'DCRF_ERR_DRIZZLE_UNSUPPORTED')
    return err as Error & { code: string }
  }
  assert.fail('the probe passed')
}

test('the version is read from the installed drizzle-orm package.json', () => {
  assert.match(installed, /^0\.45\./)
  assert.equal(drizzleVersion(), installed)
})

for (const backend of backends) {
  test(`${backend.name}: the probe passes on the installed drizzle-orm, and builds nothing it runs`, async (t) => {
    const { db, queries } = await backend.create(t)
    probeDrizzle(db)
    assert.doesNotThrow(() => captureChanges(db, () => {}))
    assert.deepEqual(queries, [])
  })

  test(`${backend.name}: a drizzle-orm without an export fails in one coded error naming the version and every missing one`, async (t) => {
    const { db } = await backend.create(t)
    const err = probeError(() => probeDrizzle(db, { orm: { ...orm, mapResultRow: undefined }, pgCore }))
    assert.equal(err.message, `fastify-dcrf does not support drizzle-orm ${installed}: it has no mapResultRow (drizzle-orm)`)

    const both = probeError(() => probeDrizzle(db, { orm: { ...orm, StringChunk: undefined }, pgCore: { ...pgCore, extractUsedTable: undefined } }))
    assert.equal(both.message, `fastify-dcrf does not support drizzle-orm ${installed}: it has no StringChunk (drizzle-orm), extractUsedTable (drizzle-orm/pg-core)`)
  })

  test(`${backend.name}: a dialect without a helper capture calls is named as PgDialect.<method>`, async (t) => {
    const { db } = await backend.create(t)
    class PgDialect {}
    for (const method of ['buildSelection', 'buildFromTable', 'buildWithCTE', 'sqlToQuery']) {
      Object.defineProperty(PgDialect.prototype, method, { value: () => undefined })
    }
    const err = probeError(() => probeDrizzle(db, { orm, pgCore: { ...pgCore, PgDialect } }, '1.0.0-rc.1'))
    assert.equal(err.message, 'fastify-dcrf does not support drizzle-orm 1.0.0-rc.1: it has no PgDialect.buildJoins, PgDialect.buildInsertQuery, PgDialect.buildUpdateQuery, PgDialect.buildDeleteQuery')
  })

  test(`${backend.name}: a database whose dialect lost an internal (drizzle-orm 1.0 has no dialect.casing) is named by what it lost`, async (t) => {
    const { db } = await backend.create(t)
    const dialect = dialectOf(db) as unknown as { casing?: unknown }
    const casing = dialect.casing
    delete dialect.casing
    try {
      const err = probeError(() => probeDrizzle(db))
      // what renders through the casing fails with it, and is named too
      assert.equal(err.message, `fastify-dcrf does not support drizzle-orm ${installed}: it has no withList in write configs, dialect.casing, ` +
        'PgDialect.buildSelection, buildFromTable and buildJoins as capture calls them')
      assert.throws(() => captureChanges(db, () => {}), { code: 'DCRF_ERR_DRIZZLE_UNSUPPORTED', message: err.message })
    } finally {
      dialect.casing = casing
    }
    assert.doesNotThrow(() => probeDrizzle(db))
  })
}
