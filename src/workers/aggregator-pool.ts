/**
 * The Piscina pool of aggregator workers, with one typed method per task. Each worker has its own
 * read-only connection; none writes (src/workers/aggregator.ts).
 */
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { maskSecrets } from '../db/url.js'
import { silentLogger, type Logger } from '../log.js'
import type { AggregatorConfig, AggregatorTask, BarPass, TaskResult } from './tasks.js'

export interface AggregatorPool {
  readonly threads: number
  /** Computes the bars of each symbol's oldest `limit` minutes on the work list, in one read transaction. */
  pass(symbolIds: number[], limit: number): Promise<TaskResult<BarPass[]>>
  /** Symbols with minutes on the work list. */
  dirtySymbols(): Promise<TaskResult<number[]>>
  close(): Promise<void>
}

const workerFile = fileURLToPath(new URL('./aggregator.js', import.meta.url))

export function createAggregatorPool(config: AggregatorConfig, threads = 1, log: Logger = silentLogger): AggregatorPool {
  const piscina = new Piscina({
    filename: workerFile,
    minThreads: threads,
    maxThreads: threads,
    // the scheduler runs one pass per symbol and at most `threads` at once: this never fills
    maxQueue: 1024,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    workerData: config,
  })
  piscina.on('error', (err: Error) => {
    log.error({ component: 'aggregator', cause: maskSecrets(err.stack ?? err.message) }, 'an aggregator thread failed and was replaced; its pass is retried')
  })
  const run = <T>(task: AggregatorTask) => piscina.run(task) as Promise<TaskResult<T>>
  return {
    threads,
    pass: (symbolIds, limit) => run({ kind: 'pass', symbolIds, limit }),
    dirtySymbols: () => run({ kind: 'dirty_symbols' }),
    close: () => piscina.destroy(),
  }
}
