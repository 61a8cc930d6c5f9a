/**
 * The benchmark still starts and finishes: `bench/run.ts --smoke` runs every scenario in a tiny
 * configuration (a few connections, a few hundred milliseconds) — fastify-dcrf, the baseline and
 * FeathersJS, and the load generator, as processes of their own — and prints the results table,
 * FeathersJS in its own columns. The figures of a smoke run
 * mean nothing; what is checked is that each scenario produced its rows. On PGlite without
 * DATABASE_URL; with it, in a schema of its own on that server (and across two processes per
 * server through Redis when REDIS_URL is set too).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const crossProcess = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL)

test('the benchmark runs end to end and prints the table with ratios', { timeout: 180_000 }, async () => {
  const { stdout } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', 'bench/run.ts', '--smoke'], {
    cwd: root,
    timeout: 170_000,
    maxBuffer: 16 * 1024 * 1024
  })
  assert.match(stdout, /^\| scenario \| metric \| fastify-dcrf \| baseline \| ratio \| target \| FeathersJS \| FeathersJS \/ baseline \|$/m)
  const rows = stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| scenario'))
  const row = (scenario: string, metric: string): string[] => {
    const found = rows.find((line) => line.startsWith(`| ${scenario} | ${metric}`))
    assert.ok(found, `a row "${scenario}: ${metric}" in\n${stdout}`)
    return found.split('|').slice(1, -1).map((cell) => cell.trim())
  }
  for (const connections of ['1 connection', '4 connections']) {
    const [, , dcrf, baseline, ratio, target, feathers, feathersRatio] = row(`retrieve, ${connections}`, 'actions/s')
    assert.match(dcrf, /^[\d,.]+$/)
    assert.match(baseline, /^[\d,.]+$/)
    assert.match(ratio, /^[\d.]+×$/)
    assert.match(target, /^≥ 0\.95× [✓✗]$/)
    assert.match(feathers, /^[\d,.]+$/)
    assert.match(feathersRatio, /^[\d.]+×$/)
    assert.match(row(`retrieve, ${connections}`, 'latency p50 / p90 / p99, ms')[6], /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
    // Errors count replies that are not the row asked for, without its password for FeathersJS.
    assert.deepEqual(row(`retrieve, ${connections}`, 'errors').slice(2, 7), ['0', '0', '', '', '0'])
  }
  const [, , dcrfDelivery, baselineDelivery, , , feathersDelivery, feathersRatio] = row('fan-out, 10 subscribers', 'last delivery p50 / p99 / max, ms')
  assert.match(dcrfDelivery, /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
  assert.match(baselineDelivery, /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
  assert.match(feathersDelivery, /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
  assert.match(feathersRatio, /^[\d.]+×$/)
  for (const cell of row('fan-out, 10 subscribers', 'first delivery p50 / p99, ms').filter((_, i) => [2, 3, 6].includes(i))) {
    assert.match(cell, /^[\d.,]+ \/ [\d.,]+$/)
  }
  // Every subscriber had every event: for FeathersJS, the row's channel reached each, without the password.
  assert.deepEqual(row('fan-out, 10 subscribers', 'events lost').slice(2, 7), ['0', '0', '', '', '0'])
  // The delivery targets hold from 1,000 subscribers on; CPU per event at every size.
  const cpu = row('fan-out, 10 subscribers', 'server CPU per event, ms')
  assert.match(cpu[4], /^[\d.]+×$/)
  assert.match(cpu[5], /^≤ 1\.25× [✓✗]$/)
  assert.match(cpu[7], /^[\d.]+×$/)
  const memory = row('idle, 20 connections', 'server memory per connection')
  assert.match(memory[5], /^≤ 1× [✓✗]$/)
  assert.match(memory[6], /^[\d,.]+$/)
  if (crossProcess) {
    row('cross-process fan-out, 10 subscribers', 'last delivery p50 / p99 / max, ms')
    assert.match(row('cross-process fan-out, 10 subscribers', 'added over in-process')[5], /^≤ 5 ms [✓✗]$/)
  } else {
    assert.match(stdout, /Cross-process fan-out skipped: /)
  }
})
