/** What the figures were measured on, saved with every result. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { serverVersion, type DatabaseTarget } from './databases.js'
import { repoRoot } from './paths.js'

export interface Machine {
  cpuModel: string
  cores: number
  memoryGb: number
  freeMemoryGb: number
  os: string
  node: string
  database: string
  packages: Record<string, string>
  /** 1-minute load average when the run started and ended: above the core count, others were busy too. */
  loadAverageStart: number
  loadAverageEnd?: number
  git: { commit: string; dirty: boolean } | undefined
  date: string
}

export async function describeMachine(target: DatabaseTarget): Promise<Machine> {
  const list = cpus()
  const version = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return 'missing'
    }
  }
  let git: Machine['git']
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== ''
    git = { commit, dirty }
  } catch {
    git = undefined
  }
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    freeMemoryGb: Math.round(freemem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    database: await serverVersion(target),
    packages: Object.fromEntries(['better-sqlite3', 'ws', 'bufferutil', 'msgpackr', 'piscina', 'postgres'].map((p) => [p, version(p)])),
    loadAverageStart: loadavg()[0]!,
    git,
    date: new Date().toISOString(),
  }
}

export function finishMachine(m: Machine): Machine {
  return { ...m, loadAverageEnd: loadavg()[0]! }
}
