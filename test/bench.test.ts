/**
 * The benchmark still starts and finishes: `bench/run.ts --smoke` runs every scenario in a tiny
 * configuration (a few connections, a few hundred milliseconds) — both servers and the load
 * generator as processes of their own — and prints the results table. The figures of a smoke run
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
  assert.match(stdout, /^\| scenario \| metric \| fastify-dcrf \| baseline \| ratio \| target \|$/m)
  const rows = stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| scenario'))
  const row = (scenario: string, metric: string): string[] => {
    const found = rows.find((line) => line.startsWith(`| ${scenario} | ${metric}`))
    assert.ok(found, `a row "${scenario}: ${metric}" in\n${stdout}`)
    return found.split('|').slice(1, -1).map((cell) => cell.trim())
  }
  for (const connections of ['1 connection', '4 connections']) {
    const [, , dcrf, baseline, ratio, target] = row(`retrieve, ${connections}`, 'actions/s')
    assert.match(dcrf, /^[\d,.]+$/)
    assert.match(baseline, /^[\d,.]+$/)
    assert.match(ratio, /^[\d.]+×$/)
    assert.match(target, /^≥ 0\.85× [✓✗]$/)
    row(`retrieve, ${connections}`, 'latency p50 / p90 / p99, ms')
    assert.deepEqual(row(`retrieve, ${connections}`, 'errors').slice(2, 4), ['0', '0'])
  }
  const [, , dcrfDelivery, baselineDelivery] = row('fan-out, 10 subscribers', 'last delivery p50 / p99 / max, ms')
  assert.match(dcrfDelivery, /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
  assert.match(baselineDelivery, /^[\d.,]+ \/ [\d.,]+ \/ [\d.,]+$/)
  assert.deepEqual(row('fan-out, 10 subscribers', 'events lost').slice(2, 4), ['0', '0'])
  // (the fan-out targets hold from 100 subscribers on: the smoke run's 10 show the ratio alone)
  assert.match(row('fan-out, 10 subscribers', 'server CPU per event, ms')[4], /^[\d.]+×$/)
  assert.match(row('idle, 20 connections', 'server memory per connection')[5], /^≤ 1\.5× [✓✗]$/)
  if (crossProcess) {
    row('cross-process fan-out, 10 subscribers', 'last delivery p50 / p99 / max, ms')
    assert.match(row('cross-process fan-out, 10 subscribers', 'added over in-process')[5], /^≤ 5 ms [✓✗]$/)
  } else {
    assert.match(stdout, /Cross-process fan-out skipped: /)
  }
})
