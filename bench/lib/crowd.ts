/**
 * Drives the dashboards process (dashboard-crowd.ts) from the orchestrator: start it with a plan
 * (it resolves once every watcher has its snapshot and every querier is connected), go, and stop,
 * which resolves with what the dashboards measured.
 */
import { fork, type ChildProcess } from 'node:child_process'
import type { DashboardsPlan, DashboardsReply, DashboardsReport } from './messages.js'
import { benchModule } from './paths.js'

export interface Crowd {
  go(): void
  stop(): Promise<DashboardsReport>
  /** SIGKILL, for cleanup after a failure; harmless after stop(). */
  kill(): void
}

export async function startCrowd(plan: DashboardsPlan): Promise<Crowd> {
  const child: ChildProcess = fork(benchModule('dashboard-crowd.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
  const waiters: ((r: DashboardsReply) => void)[] = []
  child.on('message', (r: DashboardsReply) => waiters.shift()?.(r))
  child.once('exit', (code, signal) => {
    for (const wake of waiters.splice(0)) wake({ kind: 'failed', message: `the dashboards process exited (${code ?? signal})` })
  })
  const next = () => new Promise<DashboardsReply>((resolve) => waiters.push(resolve))
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  const started = next()
  child.send({ kind: 'start', plan })
  const first = await started
  if (first.kind !== 'started') {
    kill()
    throw new Error(`dashboards: ${first.kind === 'failed' ? first.message : first.kind}`)
  }
  return {
    go: () => child.send({ kind: 'go' }),
    async stop() {
      const reply = next()
      child.send({ kind: 'stop' })
      const r = await reply
      if (r.kind !== 'report') {
        kill()
        throw new Error(`dashboards: ${r.kind === 'failed' ? r.message : r.kind}`)
      }
      return r.report
    },
    kill,
  }
}
