/**
 * The load generator: a process of its own (forked by load.ts), so that neither the simulated EAs
 * nor the bench share the engine's process. Its EAs run in worker threads (`threads` of them, the
 * EAs spread evenly). It waits until every EA has generated its data and connected, starts them
 * together on `go`, and returns what they measured with the CPU it used from `go` on.
 */
import { Worker } from 'node:worker_threads'
import type { ClientThreadData, EaResult, LoadPlan, LoadReply, LoadRequest, ThreadReply } from './messages.js'
import { benchModule } from './paths.js'

const send = (reply: LoadReply) => process.send!(reply)

let threads: Worker[] = []
/** CPU of this process when the EAs were told to go: generating the data does not count. */
let atGo = process.cpuUsage()

async function start(plan: LoadPlan): Promise<void> {
  const count = Math.max(1, Math.min(plan.threads, plan.workload.eas))
  const results: Promise<EaResult[]>[] = []
  const ready: Promise<void>[] = []
  for (let k = 0; k < count; k++) {
    const eas: number[] = []
    for (let i = k; i < plan.workload.eas; i += count) eas.push(i)
    const data: ClientThreadData = { plan, eas }
    const worker = new Worker(benchModule('client-thread.js'), { workerData: data, name: `clients-${k}` })
    threads.push(worker)
    let onReady: () => void = () => {}
    ready.push(new Promise<void>((resolve) => (onReady = resolve)))
    results.push(
      new Promise<EaResult[]>((resolve, reject) => {
        worker.on('message', (m: ThreadReply) => {
          if (m.type === 'ready') onReady()
          else if (m.type === 'done') resolve(m.results)
          else reject(new Error(`client thread ${k}: ${m.message}`))
        })
        worker.once('error', reject)
        worker.once('exit', (code) => reject(new Error(`client thread ${k} exited (${code}) before it finished`)))
      }),
    )
  }
  // the first thread to fail before all are ready fails the start
  const failed = Promise.race(results.map((r) => r.then(() => new Promise<never>(() => {}))))
  failed.catch(() => {})
  await Promise.race([Promise.all(ready), failed])
  send({ type: 'ready' })
  Promise.all(results).then(
    (lists) => {
      const cpu = process.cpuUsage(atGo)
      const eas = lists.flat().sort((a, b) => a.index - b.index)
      // the orchestrator disconnects once it has the result; exiting first could beat the message
      send({ type: 'done', result: { eas, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000 } })
      void Promise.all(threads.map((t) => t.terminate()))
    },
    (err: Error) => fail(err.message),
  )
}

function fail(message: string): void {
  send({ type: 'failed', message })
  void Promise.all(threads.map((t) => t.terminate())).finally(() => process.exit(1))
}

process.on('message', (request: LoadRequest) => {
  if (request.type === 'start') start(request.plan).catch((err: Error) => fail(err.message))
  else {
    atGo = process.cpuUsage()
    for (const t of threads) t.postMessage({ type: 'go', at: Date.now() })
  }
})
process.on('disconnect', () => {
  threads = []
  setTimeout(() => process.exit(0), 100).unref()
})
