/**
 * The results table: every figure of fastify-dcrf beside the baseline's from the same run, the
 * ratio between them (absolute numbers drift on a shared machine; ratios much less), and the
 * issue's target for that ratio, checked.
 */
import type { ActionsRound, FanoutResult, IdleResult } from './load.js'

export interface Report {
  machine: string
  database: string
  date: string
  smoke: boolean
  actions: Array<{ label: string, connections: number, dcrf: ActionsRound, baseline: ActionsRound }>
  fanout: Array<{ label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult }>
  /** Cross-process fan-out, and in-process fan-out measured in the same turns. */
  cross: { label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult, local: { dcrf: FanoutResult, baseline: FanoutResult } } | null
  /** Why the cross-process rows are missing, when they are. */
  crossSkipped: string | null
  /** Memory of idle connections; `fastify` is bare Fastify + @fastify/websocket, the plugin's floor. */
  idle: { dcrf: IdleResult, baseline: IdleResult, fastify: IdleResult } | null
  pool: Array<{ max: number, rounds: ActionsRound[] }>
}

/** The targets, as bounds on dcrf / baseline. */
export const TARGETS = {
  throughput: 0.85,
  fanout: 1.25,
  cpuPerEvent: 1.5,
  memory: 1.5,
  /** Milliseconds that cross-process fan-out may add over in-process. */
  crossAdded: 5
}

function number (value: number, digits = 2): string {
  if (!Number.isFinite(value)) return '—'
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en')
  if (Math.abs(value) >= 100) return value.toFixed(0)
  if (Math.abs(value) >= 10) return value.toFixed(Math.max(0, digits - 1))
  return value.toFixed(digits)
}

const triple = (a: number, b: number, c: number): string => `${number(a)} / ${number(b)} / ${number(c)}`
/** dcrf / baseline; undefined (NaN) when the baseline's figure is not a positive number. */
const ratio = (dcrf: number, baseline: number): number => baseline > 0 ? dcrf / baseline : NaN
const times = (value: number): string => Number.isFinite(value) ? `${value.toFixed(2)}×` : '—'

/** "≥ 0.85× ✓" when the value meets the bound, "✗" when it does not. */
function target (value: number, bound: number, atLeast: boolean, unit = '×'): string {
  const met = Number.isFinite(value) && (atLeast ? value >= bound : value <= bound)
  return `${atLeast ? '≥' : '≤'} ${bound}${unit} ${met ? '✓' : '✗'}`
}

type Row = [scenario: string, metric: string, dcrf: string, baseline: string, ratio: string, target: string]

export function formatReport (report: Report): string {
  const rows: Row[] = []
  for (const { label, dcrf, baseline } of report.actions) {
    const r = ratio(dcrf.throughput, baseline.throughput)
    rows.push([label, 'actions/s', number(dcrf.throughput), number(baseline.throughput), times(r), target(r, TARGETS.throughput, true)])
    rows.push([label, 'latency p50 / p90 / p99, ms', triple(dcrf.p50, dcrf.p90, dcrf.p99), triple(baseline.p50, baseline.p90, baseline.p99), times(ratio(dcrf.p50, baseline.p50)), ''])
    rows.push([label, 'errors', String(dcrf.errors), String(baseline.errors), '', ''])
    rows.push([label, 'server CPU per action, µs', number(dcrf.cpuPerAction, 1), number(baseline.cpuPerAction, 1), times(ratio(dcrf.cpuPerAction, baseline.cpuPerAction)), ''])
    rows.push([label, 'load generator CPU per action, µs', number(dcrf.loadCpuPerAction, 1), number(baseline.loadCpuPerAction, 1), '', ''])
  }
  const fanoutRows = (label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult, targets: boolean): void => {
    const r = ratio(dcrf.p50, baseline.p50)
    rows.push([label, 'last delivery p50 / p99 / max, ms', triple(dcrf.p50, dcrf.p99, dcrf.max), triple(baseline.p50, baseline.p99, baseline.max), times(r),
      targets && subscribers >= 1000 ? target(r, TARGETS.fanout, false) : ''])
    rows.push([label, 'events lost', String(dcrf.lost), String(baseline.lost), '', ''])
    const c = ratio(dcrf.cpuPerEvent, baseline.cpuPerEvent)
    // The fan-out sizes are 100, 1,000 and 10,000; one subscriber shows the fixed cost of a write.
    rows.push([label, 'server CPU per event, ms', number(dcrf.cpuPerEvent), number(baseline.cpuPerEvent), times(c), targets && subscribers >= 100 ? target(c, TARGETS.cpuPerEvent, false) : ''])
  }
  for (const { label, subscribers, dcrf, baseline } of report.fanout) fanoutRows(label, subscribers, dcrf, baseline, true)
  if (report.cross !== null) {
    const { label, subscribers, dcrf, baseline, local } = report.cross
    fanoutRows(label, subscribers, dcrf, baseline, false)
    const added = dcrf.p50 - local.dcrf.p50
    rows.push([label, 'added over in-process (p50), ms', number(added), number(baseline.p50 - local.baseline.p50), '', target(added, TARGETS.crossAdded, false, ' ms')])
  }
  if (report.idle !== null) {
    const { dcrf, baseline, fastify } = report.idle
    for (let i = 0; i < dcrf.points.length; i++) {
      const d = dcrf.points[i]
      const b = baseline.points[i]
      const f = fastify.points[i]
      const label = `idle, ${d.connections.toLocaleString('en')} connections`
      const r = ratio(d.heapPerConnection, b.heapPerConnection)
      rows.push([label, 'server memory per connection (V8 heap + buffers), KB', number(d.heapPerConnection / 1024, 1), number(b.heapPerConnection / 1024, 1), times(r), target(r, TARGETS.memory, false)])
      rows.push([label, 'the same, bare Fastify + @fastify/websocket (no fastify-dcrf), KB', number(f.heapPerConnection / 1024, 1), number(b.heapPerConnection / 1024, 1), times(ratio(f.heapPerConnection, b.heapPerConnection)), ''])
      rows.push([label, 'server RSS growth per connection (noisy), KB', number(d.rssPerConnection / 1024, 1), number(b.rssPerConnection / 1024, 1), times(ratio(d.rssPerConnection, b.rssPerConnection)), ''])
    }
  }

  const out = [
    `## fastify-dcrf against the hand-written baseline${report.smoke ? ' (smoke run: tiny sizes, figures meaningless)' : ''}`,
    '',
    `${report.machine}; ${report.database}; ${report.date}`,
    '',
    '| scenario | metric | fastify-dcrf | baseline | ratio | target |',
    '|---|---|---:|---:|---:|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ]
  if (report.crossSkipped !== null) out.push('', `Cross-process fan-out skipped: ${report.crossSkipped}.`)
  if (report.pool.length > 0) {
    const rounds = report.pool[0].rounds.length
    out.push(
      '',
      '### postgres.js pool size under sustained load (baseline server, retrieve on 256 connections, back-to-back rounds)',
      '',
      `| \`max\` | ${Array.from({ length: rounds }, (_, i) => `round ${i + 1}, actions/s`).join(' | ')} | last / first |`,
      `|---:|${'---:|'.repeat(rounds)}---:|`,
      ...report.pool.map(({ max, rounds }) =>
        `| ${max} | ${rounds.map((r) => number(r.throughput)).join(' | ')} | ${times(rounds[rounds.length - 1].throughput / rounds[0].throughput)} |`)
    )
  }
  return out.join('\n')
}
