/**
 * Runs a server under test (the engine host or the naive server) as a child process and measures
 * it from outside: CPU per thread from /proc/<pid>/task, peak RSS from /proc/<pid>/status (VmHWM,
 * the kernel's own high-water mark) and an RSS time series for the overload scenario.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import type { HostReply, HostRequest, HostStats } from './messages.js'
import { benchModule } from './paths.js'

/** Linux USER_HZ: /proc times are in these ticks. */
const CLOCK_TICKS_PER_SEC = 100

export interface ThreadTimes {
  /** CPU ms (user + system) by thread id. */
  byThread: Map<number, number>
  /** From /proc/<pid>/task/<tid>/schedstat: ms on a CPU and ms runnable but waiting for one. */
  sched: Map<number, { runMs: number; waitMs: number }>
  at: number
}

export interface ServerProcess {
  readonly pid: number
  readonly url: string
  /** Rejects when the process exits before stop() asked it to, with what it wrote to stderr. */
  readonly died: Promise<never>
  stats(): Promise<HostStats>
  /** CPU ms of every thread now. */
  threadTimes(): ThreadTimes
  /** VmRSS and VmHWM in bytes. */
  memory(): { rss: number; hwm: number }
  /** Samples RSS every `ms` until the returned function is called; it returns the samples. */
  sampleRss(ms: number): () => { at: number; rss: number }[]
  /** Graceful stop: the engine commits what is in flight. Resolves with its last stats. */
  stop(): Promise<HostStats | undefined>
  /** SIGKILL, for cleanup after a failure. */
  kill(): void
}

export interface ServerOptions {
  /** `engine-host.js` or `naive-server.js`. */
  module: string
  args: unknown
  /** Write a V8 CPU profile of every thread into this folder. */
  cpuProfileDir?: string
  /** More Node options for the child (`--trace-gc`, ...). */
  nodeArgs?: string[]
  /** Mirror the child's stderr (errors) to ours. */
  quiet?: boolean
}

export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const execArgv = [...(options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : []), ...(options.nodeArgs ?? [])]
  const child: ChildProcess = fork(benchModule(options.module), [JSON.stringify(options.args)], {
    execArgv,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: stripEngineEnv(process.env),
    serialization: 'advanced',
  })
  const waiters: ((reply: HostReply) => void)[] = []
  let exited = false
  let stopping = false
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000)
    if (!options.quiet) process.stderr.write(d)
  })
  child.on('message', (reply: HostReply) => waiters.shift()?.(reply))
  let onDied: (err: Error) => void = () => {}
  const died = new Promise<never>((_, reject) => (onDied = reject))
  died.catch(() => {})
  child.once('exit', (code, signal) => {
    exited = true
    for (const wake of waiters.splice(0)) wake({ type: 'failed', message: `server exited (${code ?? signal})` })
    if (!stopping) onDied(new Error(`the server under test exited (${code ?? signal}) during the run${stderr ? `:\n${stderr}` : ''}`))
  })
  const next = () => new Promise<HostReply>((resolve) => waiters.push(resolve))
  const request = (req: HostRequest) => {
    const reply = next()
    child.send(req)
    return reply
  }
  const first = await next()
  if (first.type !== 'listening') {
    child.kill('SIGKILL')
    throw new Error(`the server did not start: ${first.type === 'failed' ? first.message : first.type}`)
  }
  const pid = first.pid
  return {
    pid,
    url: first.url,
    died,
    async stats() {
      const reply = await request({ type: 'stats' })
      if (reply.type !== 'stats') throw new Error(`stats: ${reply.type === 'failed' ? reply.message : reply.type}`)
      return reply.stats
    },
    threadTimes: () => threadTimes(pid),
    memory: () => memory(pid),
    sampleRss(ms) {
      const samples: { at: number; rss: number }[] = []
      const timer = setInterval(() => {
        try {
          samples.push({ at: Date.now(), rss: memory(pid).rss })
        } catch {
          // the process is gone
        }
      }, ms)
      return () => {
        clearInterval(timer)
        return samples
      }
    },
    async stop() {
      if (exited) return undefined
      stopping = true
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      const reply = await request({ type: 'stop' })
      // it exits when we let go of it (it never exits before its reply arrived)
      if (child.connected) child.disconnect()
      await done
      return reply.type === 'stopped' ? reply.stats : undefined
    },
    kill() {
      stopping = true
      if (!exited) child.kill('SIGKILL')
    },
  }
}

export function threadTimes(pid: number): ThreadTimes {
  const byThread = new Map<number, number>()
  const sched = new Map<number, { runMs: number; waitMs: number }>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      // fields after "(comm)": state is 3rd overall, utime the 14th, stime the 15th
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      byThread.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC)
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number)
      sched.set(Number(tid), { runMs: (run ?? 0) / 1e6, waitMs: (wait ?? 0) / 1e6 })
    } catch {
      // the thread ended between readdir and read (or the kernel keeps no schedstat)
    }
  }
  return { byThread, sched, at: Date.now() }
}

export interface CpuSplit {
  /** CPU ms in the interval: the main thread, the `writers` busiest other threads, the rest. */
  mainMs: number
  writerMs: number
  otherMs: number
  totalMs: number
  wallMs: number
  /** Share of the wall time the main thread and the writer(s) spent runnable but waiting for a CPU. */
  mainWaiting: number
  writerWaiting: number
}

/** Splits the CPU between two readings into main thread, writer threads and the rest (GC, libuv). */
export function cpuSplit(pid: number, before: ThreadTimes, after: ThreadTimes, writers: number): CpuSplit {
  const deltas: { tid: number; ms: number }[] = []
  for (const [tid, ms] of after.byThread) deltas.push({ tid, ms: ms - (before.byThread.get(tid) ?? 0) })
  const main = deltas.find((d) => d.tid === pid)?.ms ?? 0
  const others = deltas.filter((d) => d.tid !== pid).sort((a, b) => b.ms - a.ms)
  const writer = others.slice(0, writers).reduce((n, d) => n + d.ms, 0)
  const rest = others.slice(writers).reduce((n, d) => n + d.ms, 0)
  const wallMs = after.at - before.at
  const waiting = (tids: number[]) =>
    tids.reduce((n, tid) => n + (after.sched.get(tid)?.waitMs ?? 0) - (before.sched.get(tid)?.waitMs ?? 0), 0) / wallMs / Math.max(1, tids.length)
  return {
    mainMs: main,
    writerMs: writer,
    otherMs: rest,
    totalMs: main + writer + rest,
    wallMs,
    mainWaiting: waiting([pid]),
    writerWaiting: waiting(others.slice(0, writers).map((d) => d.tid)),
  }
}

export function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

function stripEngineEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('MT5E_')) out[k] = v
  return out
}
