/**
 * What `mt5b_tick` costs the EA thread while the engine is up, slow (`--write-delay-ms`) and
 * down: builds native-bridge's bench program, starts an engine on a fresh SQLite file, and runs
 * bench/bridge-tick-cost.c against it in the three states. The call must never block: its maximum
 * stays in microseconds whatever the engine does. A fourth run uses a 4096-tick ring with the engine
 * down, so almost every call takes the overflow path (drop the oldest, count the gap).
 *
 *   npm run build && node dist/bench/bridge-tick-cost.js [--seconds 3] [--rate 20000] [--delay-ms 500] [--json]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js')
const bridgeDir = join(repoRoot, 'native-bridge')
const program = join(bridgeDir, 'build', 'bridge-tick-cost')

interface Row {
  label: string
  calls: number
  p50_ns: number
  p99_ns: number
  p999_ns: number
  max_ns: number
  over_10us: number
  timer_ns: number
  dropped: number
  acked_seq: number
  connected: number
  reconnects: number
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => ok(port))
    })
  })
}

function startEngine(database: string, port: number, extra: string[]): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [cli, 'start', '--database', database, '--port', String(port), ...extra], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()))
  return new Promise((ok, fail) => {
    const timer = setInterval(() => {
      if (/connect to ws:\/\//.test(out)) {
        clearInterval(timer)
        ok({
          stop: async () => {
            child.kill('SIGTERM')
            await exited
          },
        })
      }
    }, 20)
    void exited.then(() => {
      clearInterval(timer)
      fail(new Error(`engine exited:\n${out}`))
    })
  })
}

function runBench(url: string, token: string, label: string, seconds: number, rate: number, ring = 65536): Row {
  const r = spawnSync(program, [url, token, label, String(seconds), String(rate), String(ring)], { encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`bridge-tick-cost ${label} failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Row
}

const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1)

export function formatTable(rows: Row[]): string {
  const head = ['engine', 'calls', 'p50 us', 'p99 us', 'p99.9 us', 'max us', '>10 us', 'dropped', 'acked seq']
  const lines = rows.map((r) => [r.label, String(r.calls), us(r.p50_ns), us(r.p99_ns), us(r.p999_ns), us(r.max_ns), String(r.over_10us), String(r.dropped), String(r.acked_seq)])
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')
  return [fmt(head), fmt(width.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n')
}

async function main(): Promise<void> {
  const seconds = option('seconds', 3)
  const rate = option('rate', 20000)
  const delayMs = option('delay-ms', 500)
  const make = spawnSync('make', ['-C', bridgeDir, 'build/bridge-tick-cost'], { encoding: 'utf8' })
  if (make.status !== 0) throw new Error(`make failed:\n${make.stdout}${make.stderr}`)
  const dir = mkdtempSync(join(tmpdir(), 'mt5e-tick-cost-'))
  try {
    const database = join(dir, 'bench.db')
    const made = spawnSync(process.execPath, [cli, 'token', 'create', '--role', 'ea', '--name', 'tick-cost', '--unscoped', '--database', database, '--json'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
    if (made.status !== 0) throw new Error(`token create failed: ${made.stderr}`)
    const token = (JSON.parse(made.stdout) as { token: string }).token
    const port = await freePort()
    const url = `ws://127.0.0.1:${port}/v1`
    const rows: Row[] = []
    const log = (s: string) => process.stderr.write(`${s}\n`)

    log(`engine up: ${seconds} s at ${rate} ticks/s`)
    let engine = await startEngine(database, port, [])
    rows.push(runBench(url, token, 'up', seconds, rate))
    await engine.stop()

    log(`engine slow (--write-delay-ms ${delayMs})`)
    engine = await startEngine(database, port, ['--write-delay-ms', String(delayMs)])
    rows.push(runBench(url, token, `slow-${delayMs}ms`, seconds, rate))
    await engine.stop()

    log('engine down')
    rows.push(runBench(url, token, 'down', seconds, rate))
    log('engine down, 4096-tick ring: every call drops the oldest tick')
    rows.push(runBench(url, token, 'down-ring4096', seconds, rate, 4096))

    if (process.argv.includes('--json')) console.log(JSON.stringify({ seconds, rate, delayMs, rows }))
    else {
      console.log(`mt5b_tick on the EA thread, ${rate} ticks/s in 1 ms bursts for ${seconds} s (timer cost ${rows[0]!.timer_ns} ns):\n`)
      console.log(formatTable(rows))
      const worst = Math.max(...rows.map((r) => r.max_ns))
      console.log(`\nworst single call: ${us(worst)} us${worst < 1_000_000 ? ' (never blocked: no call reached a millisecond)' : ''}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
