/**
 * A text summary of a V8 CPU profile (`.cpuprofile`, as `--cpu-prof` or the bench's `--profile`
 * write them): where the time went by package, and the functions with the most self time, with
 * their inclusive time. Open the file itself in Chrome DevTools or https://www.speedscope.app for
 * the flame graph.
 *
 *   npx tsx bench/profile.ts bench/profiles/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Where a function lives: a package of node_modules, the plugin, the bench, Node itself… */
function areaOf (url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const modules = url.lastIndexOf('node_modules/')
  if (modules !== -1) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return 'node (internals)'
  const local = /\/(plugin|example|bench|types)\//.exec(url)
  return local !== null ? `${local[1]}/` : url
}

function keyOf (node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const file = url.replace(/^.*\/(node_modules|plugin|example|bench)\//, '$1/').replace(/^file:\/\//, '')
  return `${functionName || '(anonymous)'} ${file}${url === '' ? '' : `:${lineNumber + 1}`}`
}

const percent = (part: number, total: number): string => `${(100 * part / total).toFixed(1)}%`

/** The summary of one profile as Markdown: time by area, then the top functions by self time. */
export function summarizeProfile (file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  // A sample's time is the delta to the next sample, at most a few sampling intervals: a process
  // waking from idle shows a long delta after the sample taken just before it slept (it would put
  // the whole wait on the profiler's own `dispatch` when profiling starts).
  const intervals = profile.timeDeltas.slice(1).sort((a, b) => a - b)
  const longest = 4 * (intervals[intervals.length >> 1] ?? 0)
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.min(profile.timeDeltas[i + 1] ?? 0, longest)
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + delta)
  }
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  let total = 0
  let idle = 0
  const selfByKey = new Map<string, number>()
  const inclusiveByKey = new Map<string, number>()
  const byArea = new Map<string, number>()
  for (const [id, time] of self) {
    const node = byId.get(id)!
    total += time
    if (node.callFrame.functionName === '(idle)') { idle += time; continue }
    const key = keyOf(node)
    selfByKey.set(key, (selfByKey.get(key) ?? 0) + time)
    const area = areaOf(node.callFrame.url, node.callFrame.functionName)
    byArea.set(area, (byArea.get(area) ?? 0) + time)
    // Inclusive time: once per function on the stack, however deep it recurses.
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(byId.get(at)!)
      if (seen.has(k)) continue
      seen.add(k)
      inclusiveByKey.set(k, (inclusiveByKey.get(k) ?? 0) + time)
    }
  }
  const busy = total - idle
  const lines = [
    `busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled`,
    '',
    '| area | self |',
    '|---|---:|',
    ...[...byArea].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([area, time]) => `| ${area} | ${percent(time, busy)} |`),
    '',
    '| function | self | inclusive |',
    '|---|---:|---:|',
    ...[...selfByKey].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([key, time]) => `| \`${key}\` | ${percent(time, busy)} | ${percent(inclusiveByKey.get(key) ?? time, busy)} |`)
  ]
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2)
  if (file === undefined) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile> [top]')
    process.exit(2)
  }
  console.log(summarizeProfile(file, top === undefined ? 25 : Number(top)))
}
