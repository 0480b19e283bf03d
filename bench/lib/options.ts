/**
 * The bench's flags, parsed and checked in one place. Engine flags are the engine's own names
 * (`--batch-rows`, `--flush-ms`, `--writers`, `--max-inflight`, `--max-pending-bytes`,
 * `--synchronous`); unset ones keep the engine's defaults, so the bench measures what ships.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidValue, options as engineOptions, type OptionName } from '../../src/config/options.js'
import { isPostgresUrl, type EngineOptions, type Synchronous } from '../../src/config/resolve.js'
import type { DatabaseTarget } from './databases.js'
import { defaultWorkload, type WorkloadOptions } from './workload.js'

/** The engine options the bench varies; `synchronous` goes to the database target, the rest to the engine. */
const engineFlagNames = ['batchRows', 'flushMs', 'writers', 'maxInflight', 'maxPendingBytes', 'synchronous', 'barTimeframes'] as const satisfies readonly OptionName[]

const engineFlagKey = (name: OptionName) => engineOptions[name].flag.slice(2)

/** `--batch-rows N --flush-ms MS ...`, as the engine's table names them. */
const engineFlagsUsage = engineFlagNames.map((name) => `${engineOptions[name].flag} ${engineOptions[name].metavar}`).join(' ')

export interface BenchOptions {
  database: DatabaseTarget
  workload: WorkloadOptions
  engine: Partial<EngineOptions>
  /** Measured repetitions of each run; medians are reported. */
  repeat: number
  /** Worker threads of the load generator process the EAs are spread over. */
  clientThreads: number
  /** How simulated EAs speak: the SDK's connectEA, or frames encoded before the timed part. */
  client: 'sdk' | 'raw'
  /** Ticks all EAs send to the naive server together. */
  naiveTicks: number
  /** Seconds of the paced run at half the measured maximum. */
  halfLoadSeconds: number
  quick: boolean
  json: boolean
  save: boolean
  /** Write V8 CPU profiles of the engine's threads (one engine run) into this folder. */
  profileDir: string | undefined
  /** `sweep`: which settings to vary (all by default). */
  only: string[] | undefined
  /** The SQLite folder is the bench's own temporary one, removed at the end. */
  ownsDataDir: boolean
}

export const usage = `usage: npm run bench -- [scenario] [flags]

scenarios:
  ingest    (default) the engine end to end, the ceiling and the naive way in the same run, ratios and targets
  sweep     vary batch rows, flush interval, writers and clients; table, SVG chart, recommended settings
  overload  more EAs and bigger frames than the engine can take: memory stays bounded
  ceiling   only the ceiling: every raw insert strategy on the same rows
  naive     only the naive way: JSON, one tick per message, one autocommitted row each
  junk      one EA's ack latency while 20 dashboards flood refused frames, against no flood
  reads     ingest with 20 dashboards watching ticks and 5 querying, against none and the ceiling; commit-to-dashboard
            latency at half load; a month of M1 bars and a 10,000-row journal page while ingest runs, against idle
  bars      SQLite: bars rebuild over --ticks stored ticks (default 10,000,000; --quick 1,000,000) against one SQL GROUP BY

flags:
  --database URL         a PostgreSQL server (postgres://...): each run gets a new database through it;
                         default SQLite files under --data-dir
  --data-dir DIR         where SQLite files go (default: the system temp folder)
  --eas N                simulated EAs (default 10)
  --ticks N              ticks all EAs send in a full-load run (default 2,000,000; --quick and sweep 1,000,000)
  --batch-ticks N        ticks per tick_batch message (default 1000)
  --symbols-per-ea N     symbols each EA streams (default 3)
  --client sdk|raw       simulated EAs use the SDK's connectEA (default) or send frames encoded before
                         the timed part (the load generator then costs the 2 cores less)
  --client-threads N     worker threads of the load generator process that run the EAs (default 1)
  --repeat N             repetitions; medians are reported (default 3; --quick 1)
  --naive-ticks N        ticks sent the naive way (default 150,000; --quick 40,000)
  --half-load-seconds N  length of the paced run at half the maximum (default 6; --quick 3; sweep 4);
                         reads: also how long the reads run on the idle engine
  --only LIST            sweep: batch-rows,flush-ms,max-inflight,writers,clients (default all)
  ${engineFlagsUsage}
                         engine settings (default: the engine's defaults)
  --profile DIR          write V8 CPU profiles of one engine run's threads into DIR (see bench/lib/profile.ts)
  --quick                a smaller run that finishes within a minute
  --json                 print one JSON object instead of the report
  --no-save              do not write bench/results/ (a --quick run saves only with --save)
  --save                 write bench/results/ even with --quick
`

export class UsageError extends Error {}

function usageError(message: string): never {
  throw new UsageError(message)
}

export function parseOptions(argv: string[]): { scenario: string; options: BenchOptions } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      database: { type: 'string' },
      'data-dir': { type: 'string' },
      eas: { type: 'string' },
      ticks: { type: 'string' },
      'batch-ticks': { type: 'string' },
      'symbols-per-ea': { type: 'string' },
      repeat: { type: 'string' },
      'client-threads': { type: 'string' },
      client: { type: 'string' },
      'naive-ticks': { type: 'string' },
      'half-load-seconds': { type: 'string' },
      only: { type: 'string' },
      ...Object.fromEntries(engineFlagNames.map((name) => [engineFlagKey(name), { type: 'string' } as const])),
      profile: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      save: { type: 'boolean' },
      'no-save': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) throw new UsageError('')
  if (positionals.length > 1) throw new UsageError(`one scenario at a time; got ${positionals.join(' ')}`)
  const quick = values.quick === true
  const int = (flag: string, value: string | undefined, fallback: number, min = 1): number => {
    if (value === undefined) return fallback
    const n = Number(value.replace(/[_,]/g, ''))
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be a whole number >= ${min}; got ${JSON.stringify(value)}`)
    return n
  }
  const engineValue = <N extends (typeof engineFlagNames)[number]>(name: N): EngineOptions[N] | undefined => {
    const value = (values as Record<string, string | boolean | undefined>)[engineFlagKey(name)] as string | undefined
    if (value === undefined) return undefined
    try {
      // digits may be grouped, as in the bench's own counts: 2_000 or 2,000
      return engineOptions[name].parse(value.replace(/[_,]/g, '')) as EngineOptions[N]
    } catch (err) {
      if (err instanceof InvalidValue) throw new UsageError(`${engineOptions[name].flag} must be ${err.expected}; got ${JSON.stringify(value)}`)
      throw err
    }
  }
  const synchronous: Synchronous = engineValue('synchronous') ?? engineOptions.synchronous.default
  const url = values.database
  if (url !== undefined && url !== 'sqlite' && !isPostgresUrl(url)) {
    throw new UsageError(`--database takes a PostgreSQL server URL (postgres://user@host:5432/postgres) or "sqlite"; got ${url}`)
  }
  const database: DatabaseTarget =
    url !== undefined && url !== 'sqlite'
      ? { dialect: 'postgres', base: url, synchronous }
      : { dialect: 'sqlite', base: values['data-dir'] ?? join(tmpdir(), `mt5e-bench-${process.pid}`), synchronous }
  const engine: Partial<EngineOptions> = {}
  for (const name of engineFlagNames) {
    const value = name === 'synchronous' ? undefined : engineValue(name)
    if (value !== undefined) Object.assign(engine, { [name]: value })
  }
  const only = values.only?.split(',').map((s) => s.trim())
  const known = ['batch-rows', 'flush-ms', 'max-inflight', 'writers', 'clients']
  for (const o of only ?? []) if (!known.includes(o)) throw new UsageError(`--only takes ${known.join(', ')}; got ${o}`)
  const scenario = positionals[0] ?? 'ingest'
  if (!['ingest', 'sweep', 'overload', 'ceiling', 'naive', 'junk', 'bars', 'reads'].includes(scenario)) throw new UsageError(`unknown scenario "${scenario}"`)
  return {
    scenario,
    options: {
      database,
      workload: {
        ...defaultWorkload,
        eas: int('eas', values.eas, defaultWorkload.eas),
        ticks: int('ticks', values.ticks, positionals[0] === 'bars' ? (quick ? 1_000_000 : 10_000_000) : quick || positionals[0] === 'sweep' ? 1_000_000 : defaultWorkload.ticks),
        batchTicks: int('batch-ticks', values['batch-ticks'], defaultWorkload.batchTicks),
        symbolsPerEa: int('symbols-per-ea', values['symbols-per-ea'], defaultWorkload.symbolsPerEa),
      },
      engine,
      repeat: int('repeat', values.repeat, quick ? 1 : 3),
      clientThreads: int('client-threads', values['client-threads'], 1),
      client: values.client === undefined || values.client === 'sdk' ? 'sdk' : values.client === 'raw' ? 'raw' : usageError(`--client takes sdk or raw; got ${values.client}`),
      naiveTicks: int('naive-ticks', values['naive-ticks'], quick ? 40_000 : 150_000),
      halfLoadSeconds: int('half-load-seconds', values['half-load-seconds'], quick ? 3 : positionals[0] === 'sweep' ? 4 : 6),
      quick,
      json: values.json === true,
      save: values['no-save'] ? false : values.save === true || !quick,
      profileDir: values.profile,
      only,
      ownsDataDir: database.dialect === 'sqlite' && values['data-dir'] === undefined,
    },
  }
}
