/**
 * The engine under test, in a process of its own (forked by engine-process.ts): nothing else runs
 * on its main thread. It starts the engine with the flags it is given, says where it listens,
 * answers `stats` with its counters and its own CPU and memory figures, and on `stop` closes the
 * engine (committing what is in flight) and exits.
 */
import { performance } from 'node:perf_hooks'
import { resolveConfig, type EngineOptions } from '../../src/config/resolve.js'
import { startEngine } from '../../src/engine.js'
import type { HostReply, HostRequest, HostStats } from './messages.js'
import { repoRoot } from './paths.js'
import { percentiles } from './stats.js'

const flags = JSON.parse(process.argv[2] ?? '{}') as Partial<EngineOptions>
const send = (reply: HostReply) => process.send!(reply)

const engine = await startEngine(resolveConfig({ flags: { host: '127.0.0.1', port: 0, ...flags }, env: {}, cwd: repoRoot })).catch((err: Error) => {
  send({ type: 'failed', message: err.message })
  process.exit(1)
})

function memory() {
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external }
}

function stats(): HostStats {
  const cpu = process.cpuUsage()
  return {
    at: performance.timeOrigin + performance.now(),
    ingest: { ...engine.counters.ingest },
    gateway: engine.counters.gateway ? { ...engine.counters.gateway } : undefined,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    ...memory(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    eventLoopUtilization: performance.eventLoopUtilization().utilization,
    ...(engine.bars && {
      bars: { ...engine.bars.counters, lag: percentiles(engine.bars.lags()) },
    }),
  }
}

process.on('message', (request: HostRequest) => {
  switch (request.type) {
    case 'stats':
      return send({ type: 'stats', stats: stats() })
    case 'stop':
      void engine.close().then(
        () => {
          // the orchestrator disconnects once it has this; exiting first could beat the message
          send({ type: 'stopped', stats: stats() })
        },
        (err: Error) => {
          send({ type: 'failed', message: `close failed: ${err.message}` })
          process.exit(1)
        },
      )
      return
  }
})
// The bench going away takes the engine with it.
process.on('disconnect', () => setTimeout(() => process.exit(0), 100).unref())

send({ type: 'listening', url: engine.url!, pid: process.pid })
