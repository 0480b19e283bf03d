/**
 * `npm run bench -- [scenario] [flags]`: runs one scenario, prints its report (or one JSON object
 * with --json) and saves it in bench/results/. Progress goes to stderr.
 */
import { rmSync } from 'node:fs'
import { formatBars, runBars } from './bars.js'
import { formatCeiling, runCeilingScenario } from './ceiling.js'
import { formatIngest, runIngest } from './ingest.js'
import { formatJunkFlood, runJunkFlood } from './junk-flood.js'
import { parseOptions, usage, UsageError, type BenchOptions } from './lib/options.js'
import { saveResult } from './lib/results.js'
import { formatNaive, runNaiveScenario } from './naive.js'
import { formatOverload, runOverload } from './overload.js'
import { formatReads, runReads } from './reads.js'
import { formatSweep, runSweep } from './sweep.js'

interface Outcome {
  report: { dialect: string }
  text: string
  svg?: string
}

const scenarios: Record<string, (o: BenchOptions, log: (s: string) => void) => Promise<Outcome>> = {
  ingest: async (o, log) => {
    const report = await runIngest(o, log)
    return { report, text: formatIngest(report) }
  },
  ceiling: async (o, log) => {
    const report = await runCeilingScenario(o, log)
    return { report, text: formatCeiling(report) }
  },
  naive: async (o, log) => {
    const report = await runNaiveScenario(o, log)
    return { report, text: formatNaive(report) }
  },
  sweep: async (o, log) => {
    const { report, svg } = await runSweep(o, log)
    return { report, text: formatSweep(report), svg }
  },
  junk: async (o, log) => {
    const report = await runJunkFlood(o, log)
    return { report, text: formatJunkFlood(report) }
  },
  bars: async (o, log) => {
    const report = await runBars(o, log)
    return { report, text: formatBars(report) }
  },
  overload: async (o, log) => {
    const report = await runOverload(o, log)
    return { report, text: formatOverload(report) }
  },
  reads: async (o, log) => {
    const report = await runReads(o, log)
    return { report, text: formatReads(report) }
  },
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>
  try {
    parsed = parseOptions(argv)
  } catch (err) {
    const message = (err as Error).message
    process.stderr.write(`${message ? `bench: ${message}\n\n` : ''}${usage}`)
    return err instanceof UsageError && message === '' ? 0 : 2
  }
  const { scenario, options } = parsed
  const started = Date.now()
  const log = (s: string) => process.stderr.write(`${s}\n`)
  try {
    const { report, text, svg } = await scenarios[scenario]!(options, log)
    const seconds = (Date.now() - started) / 1000
    process.stdout.write(options.json ? `${JSON.stringify({ ...report, seconds })}\n` : `${text}\n\n(${seconds.toFixed(0)} s)\n`)
    if (options.save) {
      const name = `${scenario}-${report.dialect}${options.quick ? '-quick' : ''}`
      for (const file of saveResult(name, { ...report, seconds }, svg)) log(`saved ${file}`)
    }
    return 0
  } finally {
    if (options.ownsDataDir) rmSync(options.database.base, { recursive: true, force: true })
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`)
  return 1
})
