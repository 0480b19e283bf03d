/**
 * Drives the load generator process from the orchestrator: start it with a plan, wait until every
 * EA is connected and has its data ready, take the "before" readings, say go, collect results.
 */
import { fork } from 'node:child_process'
import type { LoadPlan, LoadReply, LoadRequest, LoadResult } from './messages.js'
import { benchModule } from './paths.js'

/** `abort` rejecting (the server died, or the run took too long) stops the load generator and fails the run. */
export async function runLoad(plan: LoadPlan, onReady: () => Promise<void> | void, abort: Promise<never>): Promise<LoadResult> {
  const child = fork(benchModule('load-generator.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
  const replies: LoadReply[] = []
  const waiters: ((r: LoadReply) => void)[] = []
  child.on('message', (r: LoadReply) => {
    const w = waiters.shift()
    if (w) w(r)
    else replies.push(r)
  })
  const exited = new Promise<LoadReply>((resolve) => child.once('exit', (code, signal) => resolve({ type: 'failed', message: `load generator exited (${code ?? signal})` })))
  const next = () => Promise.race([new Promise<LoadReply>((resolve) => (replies.length > 0 ? resolve(replies.shift()!) : waiters.push(resolve))), exited, abort])
  const request = (r: LoadRequest) => child.send(r)
  try {
    request({ type: 'start', plan })
    const ready = await next()
    if (ready.type !== 'ready') throw new Error(ready.type === 'failed' ? ready.message : 'load generator: unexpected reply')
    await onReady()
    request({ type: 'go' })
    const done = await next()
    if (done.type !== 'done') throw new Error(done.type === 'failed' ? done.message : 'load generator: unexpected reply')
    // it exits when we let go of it
    child.disconnect()
    return done.result
  } finally {
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }, 2000).unref()
  }
}
