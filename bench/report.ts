/**
 * The results table: every figure of fastify-dcrf beside the baseline's from the same run, the
 * ratio between them (absolute numbers drift on a shared machine; ratios much less), and the
 * target for that ratio, checked; then FeathersJS's figure and its ratio to the baseline.
 */
import type { ActionsRound, FanoutResult, IdleResult } from './load.js'

export interface Report {
  machine: string
  database: string
  date: string
  smoke: boolean
  /** `feathers`: FeathersJS 5 in the same turns, when the run had it. */
  actions: Array<{ label: string, connections: number, dcrf: ActionsRound, baseline: ActionsRound, feathers?: ActionsRound }>
  fanout: Array<{ label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult, feathers?: FanoutResult }>
  /** Cross-process fan-out, and in-process fan-out measured in the same turns. */
  cross: { label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult, local: { dcrf: FanoutResult, baseline: FanoutResult } } | null
  /** Why the cross-process rows are missing, when they are. */
  crossSkipped: string | null
  /** Memory of idle connections; `fastify` is bare Fastify + @fastify/websocket, the plugin's floor. */
  idle: { dcrf: IdleResult, baseline: IdleResult, fastify: IdleResult, feathers?: IdleResult } | null
  pool: Array<{ max: number, rounds: ActionsRound[] }>
}

/** Our targets, as bounds on dcrf / baseline. */
export const TARGETS = {
  throughput: 0.95,
  fanout: 1.1,
  firstDelivery: 1.3,
  cpuPerEvent: 1.25,
  /** Memory per idle connection: below the floor's. */
  memory: 1,
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

type Row = [scenario: string, metric: string, dcrf: string, baseline: string, ratio: string, target: string, feathers: string, feathersRatio: string]

export function formatReport (report: Report): string {
  const rows: Row[] = []
  /** FeathersJS's cells: its figure, and its ratio to the baseline's when `of` is given. */
  const beside = <T>(value: T | undefined, show: (value: T) => string, of?: (value: T) => number, baseline?: number): [string, string] =>
    value === undefined ? ['', ''] : [show(value), of === undefined ? '' : times(ratio(of(value), baseline!))]
  for (const { label, dcrf, baseline, feathers } of report.actions) {
    const r = ratio(dcrf.throughput, baseline.throughput)
    rows.push([label, 'actions/s', number(dcrf.throughput), number(baseline.throughput), times(r), target(r, TARGETS.throughput, true),
      ...beside(feathers, (f) => number(f.throughput), (f) => f.throughput, baseline.throughput)])
    rows.push([label, 'latency p50 / p90 / p99, ms', triple(dcrf.p50, dcrf.p90, dcrf.p99), triple(baseline.p50, baseline.p90, baseline.p99), times(ratio(dcrf.p50, baseline.p50)), '',
      ...beside(feathers, (f) => triple(f.p50, f.p90, f.p99), (f) => f.p50, baseline.p50)])
    rows.push([label, 'errors', String(dcrf.errors), String(baseline.errors), '', '', ...beside(feathers, (f) => String(f.errors))])
    rows.push([label, 'server CPU per action, µs', number(dcrf.cpuPerAction, 1), number(baseline.cpuPerAction, 1), times(ratio(dcrf.cpuPerAction, baseline.cpuPerAction)), '',
      ...beside(feathers, (f) => number(f.cpuPerAction, 1), (f) => f.cpuPerAction, baseline.cpuPerAction)])
    rows.push([label, 'load generator CPU per action, µs', number(dcrf.loadCpuPerAction, 1), number(baseline.loadCpuPerAction, 1), '', '',
      ...beside(feathers, (f) => number(f.loadCpuPerAction, 1))])
  }
  const fanoutRows = (label: string, subscribers: number, dcrf: FanoutResult, baseline: FanoutResult, feathers: FanoutResult | undefined, targets: boolean): void => {
    const r = ratio(dcrf.p50, baseline.p50)
    rows.push([label, 'last delivery p50 / p99 / max, ms', triple(dcrf.p50, dcrf.p99, dcrf.max), triple(baseline.p50, baseline.p99, baseline.max), times(r),
      targets && subscribers >= 1000 ? target(r, TARGETS.fanout, false) : '', ...beside(feathers, (f) => triple(f.p50, f.p99, f.max), (f) => f.p50, baseline.p50)])
    const first = ratio(dcrf.firstP50, baseline.firstP50)
    rows.push([label, 'first delivery p50 / p99, ms', `${number(dcrf.firstP50)} / ${number(dcrf.firstP99)}`, `${number(baseline.firstP50)} / ${number(baseline.firstP99)}`, times(first),
      targets && subscribers >= 1000 ? target(first, TARGETS.firstDelivery, false) : '', ...beside(feathers, (f) => `${number(f.firstP50)} / ${number(f.firstP99)}`, (f) => f.firstP50, baseline.firstP50)])
    rows.push([label, 'events lost', String(dcrf.lost), String(baseline.lost), '', '', ...beside(feathers, (f) => String(f.lost))])
    const c = ratio(dcrf.cpuPerEvent, baseline.cpuPerEvent)
    rows.push([label, 'server CPU per event, ms', number(dcrf.cpuPerEvent), number(baseline.cpuPerEvent), times(c), targets ? target(c, TARGETS.cpuPerEvent, false) : '',
      ...beside(feathers, (f) => number(f.cpuPerEvent), (f) => f.cpuPerEvent, baseline.cpuPerEvent)])
  }
  for (const { label, subscribers, dcrf, baseline, feathers } of report.fanout) fanoutRows(label, subscribers, dcrf, baseline, feathers, true)
  if (report.cross !== null) {
    const { label, subscribers, dcrf, baseline, local } = report.cross
    fanoutRows(label, subscribers, dcrf, baseline, undefined, false)
    const added = dcrf.p50 - local.dcrf.p50
    rows.push([label, 'added over in-process (p50), ms', number(added), number(baseline.p50 - local.baseline.p50), '', target(added, TARGETS.crossAdded, false, ' ms'), '', ''])
  }
  if (report.idle !== null) {
    const { dcrf, baseline, fastify, feathers } = report.idle
    for (let i = 0; i < dcrf.points.length; i++) {
      const d = dcrf.points[i]
      const b = baseline.points[i]
      const f = fastify.points[i]
      const label = `idle, ${d.connections.toLocaleString('en')} connections`
      const r = ratio(d.heapPerConnection, b.heapPerConnection)
      const kb = (bytes: number): string => number(bytes / 1024, 1)
      rows.push([label, 'server memory per connection (V8 heap + buffers), KB', kb(d.heapPerConnection), kb(b.heapPerConnection), times(r), target(r, TARGETS.memory, false),
        ...beside(feathers?.points[i], (p) => kb(p.heapPerConnection), (p) => p.heapPerConnection, b.heapPerConnection)])
      rows.push([label, 'the same, bare Fastify + @fastify/websocket (no fastify-dcrf), KB', kb(f.heapPerConnection), kb(b.heapPerConnection), times(ratio(f.heapPerConnection, b.heapPerConnection)), '', '', ''])
      rows.push([label, 'server RSS growth per connection (noisy), KB', kb(d.rssPerConnection), kb(b.rssPerConnection), times(ratio(d.rssPerConnection, b.rssPerConnection)), '',
        ...beside(feathers?.points[i], (p) => kb(p.rssPerConnection), (p) => p.rssPerConnection, b.rssPerConnection)])
    }
  }

  // The FeathersJS columns when the run had it (`--without=feathers` leaves them out).
  const feathers = report.actions.some((a) => a.feathers !== undefined) || report.fanout.some((f) => f.feathers !== undefined) || report.idle?.feathers !== undefined
  const cells = (row: Row): string[] => feathers ? row : row.slice(0, 6)
  const out = [
    `## fastify-dcrf${feathers ? ' and FeathersJS' : ''} against the hand-written baseline${report.smoke ? ' (smoke run: tiny sizes, figures meaningless)' : ''}`,
    '',
    `${report.machine}; ${report.database}; ${report.date}`,
    '',
    `| scenario | metric | fastify-dcrf | baseline | ratio | target |${feathers ? ' FeathersJS | FeathersJS / baseline |' : ''}`,
    `|---|---|---:|---:|---:|---|${feathers ? '---:|---:|' : ''}`,
    ...rows.map((row) => `| ${cells(row).join(' | ')} |`)
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
