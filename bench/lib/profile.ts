/**
 * Summarises V8 CPU profiles (`--profile DIR`, or any `node --cpu-prof` output): self time by
 * function, and by source (engine module, dependency, Node internals, native), for each thread.
 *
 *   node dist/bench/lib/profile.js DIR [top]
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  file: string
  totalMs: number
  /** Not idle, not garbage collection. */
  busyMs: number
  gcMs: number
  top: { name: string; ms: number; share: number }[]
  bySource: { source: string; ms: number; share: number }[]
}

function source(url: string, name: string): string {
  if (name === '(garbage collector)') return 'gc'
  if (name === '(program)' || name === '(idle)') return name
  if (url === '') return 'native'
  if (url.startsWith('node:')) return 'node internals'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]!
  const own = /dist\/(src\/.+?)\.js/.exec(url)
  return own ? own[1]! : url
}

export function summarise(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0))
  const byName = new Map<string, number>()
  const bySource = new Map<string, number>()
  let total = 0
  let idle = 0
  let gc = 0
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame
    const ms = us / 1000
    total += ms
    if (f.functionName === '(idle)') idle += ms
    if (f.functionName === '(garbage collector)') gc += ms
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : ''
    const name = `${f.functionName || '(anonymous)'} ${where}`.trim()
    byName.set(name, (byName.get(name) ?? 0) + ms)
    const s = source(f.url, f.functionName)
    bySource.set(s, (bySource.get(s) ?? 0) + ms)
  }
  const busy = total - idle
  const sorted = (m: Map<string, number>) => [...m].filter(([k]) => k !== '(idle)' && !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1])
  return {
    file,
    totalMs: total,
    busyMs: busy,
    gcMs: gc,
    top: sorted(byName).slice(0, top).map(([name, ms]) => ({ name, ms, share: ms / busy })),
    bySource: sorted(bySource).map(([s, ms]) => ({ source: s, ms, share: ms / busy })),
  }
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`
  const lines = [`${s.file}: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (gc ${s.gcMs.toFixed(0)} ms)`, '  by source:']
  for (const x of s.bySource.slice(0, 12)) lines.push(`    ${pct(x.share)} ${x.ms.toFixed(0).padStart(7)} ms  ${x.source}`)
  lines.push('  by function (self time):')
  for (const x of s.top) lines.push(`    ${pct(x.share)} ${x.ms.toFixed(0).padStart(7)} ms  ${x.name}`)
  return lines.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2]
  if (!dir) {
    process.stderr.write('usage: node dist/bench/lib/profile.js DIR [top]\n')
    process.exit(2)
  }
  const top = Number(process.argv[3] ?? 20)
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    process.stdout.write(`${formatSummary(summarise(join(dir, f), top))}\n\n`)
  }
}
