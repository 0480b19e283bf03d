/**
 * The engine: bring the schema up to date (or refuse on drift), then start the writer pool, ingest,
 * the command router and the gateway. `close()` stops accepting, commits and acknowledges what is
 * in flight, and closes everything it opened.
 */
import { BarScheduler, type BarSchedulerCounters } from './aggregate/scheduler.js'
import { CommandRouter } from './commands/router.js'
import type { ResolvedConfig } from './config/resolve.js'
import { EngineError, ErrorCodes } from './errors.js'
import { startGateway, defaultGatewayOptions, type Gateway } from './gateway/server.js'
import { Ingest, type IngestCounters } from './ingest/ingest.js'
import { silentLogger, type Logger } from './log.js'
import { createMigrator, type MigrationResult, type StatusReport } from './db/migrator/migrator.js'
import { CloseCodes } from './protocol/messages.js'
import { openStorage } from './db/storage/open.js'
import { listTokens } from './db/sql/tokens.js'
import type { Storage } from './db/storage/types.js'
import { createAggregatorPool } from './workers/aggregator-pool.js'
import type { WriteOutcome } from './workers/tasks.js'
import { createReaderPool } from './workers/reader-pool.js'
import { createWriterPool, type WriterPool } from './workers/writer-pool.js'
import { QueryService } from './query/service.js'
import { SubscriptionHub, type HubStats } from './subscriptions/hub.js'
import { LiveFeed } from './subscriptions/live.js'

export interface Engine {
  /** Migrations applied while starting (empty when none were pending or `migrate` is off). */
  readonly applied: MigrationResult[]
  /** The migration status after start-up. */
  readonly status: StatusReport
  /** What the operator should fix, found while starting (unscoped ea tokens). */
  readonly warnings: string[]
  /** Where EAs and dashboards connect: `ws://host:port/v1`. Undefined when started without the gateway. */
  readonly url: string | undefined
  readonly port: number | undefined
  readonly counters: { ingest: IngestCounters; gateway: Gateway['counters'] | undefined }
  /** The live subscriptions now: ports, subscriptions, what is queued for slow dashboards, gaps. */
  subscriptions(): HubStats | undefined
  /** The bar aggregator; undefined when no timeframe is built (`barTimeframes` none) or without the gateway. */
  readonly bars: BarAggregation | undefined
  /** Stops accepting, commits and acknowledges what is in flight, closes connections and the pool. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** What the engine shows of its bar aggregator. */
export interface BarAggregation {
  readonly counters: BarSchedulerCounters
  /** Resolves once every committed tick is in the bars (no pass running or queued). */
  idle(): Promise<void>
  /** Commit-to-stored lags of the most recent passes, ms. */
  lags(): Float64Array
}

export interface StartOptions {
  /** Start the writer pool and the gateway. Default true; false only prepares the database. */
  serve?: boolean
  /** Where the engine logs (the gateway's connections, admission). Default silentLogger. */
  log?: Logger
}

/**
 * Prepares the database, applying pending migrations unless `config.migrate` is false, and starts
 * serving. Refuses to start when applied migration files changed or went missing, when a run is
 * blocked, or, with `migrate` off, when migrations are pending.
 */
export async function startEngine(config: ResolvedConfig, options: StartOptions = {}): Promise<Engine> {
  const { storage, applied, status } = await prepareDatabase(config)
  let warnings: string[]
  try {
    warnings = await startupWarnings(storage, status)
  } finally {
    await storage.close()
  }
  const ingestCounters: IngestCounters = { batches: 0, ticks: 0, records: 0, skipped: 0, failedBatches: 0, pendingBytes: 0, pauses: 0 }
  if (options.serve === false) {
    const close = async () => {}
    return { applied, status, warnings, url: undefined, port: undefined, counters: { ingest: ingestCounters, gateway: undefined }, bars: undefined, subscriptions: () => undefined, close, [Symbol.asyncDispose]: close }
  }
  const log = options.log ?? silentLogger
  const pool = createWriterPool(
    {
      database: config.database,
      dialect: config.dialect,
      synchronous: config.synchronous,
      busyTimeoutMs: config.busyTimeoutMs,
      writeDelayMs: config.writeDelayMs,
      buildBars: config.barTimeframes.length > 0,
      rollUpBars: config.barTimeframes.some((tf) => tf !== 'M1'),
    },
    config.writers,
    log,
  )
  const bars =
    config.barTimeframes.length > 0
      ? new BarScheduler(
          createAggregatorPool(
            { database: config.database, dialect: config.dialect, busyTimeoutMs: config.busyTimeoutMs, timeframes: config.barTimeframes },
            1,
            log,
          ),
          pool,
          { log, onApplied: (symbolIds) => live?.barsChanged(symbolIds) },
        )
      : undefined
  // made once the readers are, below; the bar scheduler and ingest call it only after commits
  let live: LiveFeed | undefined
  const ingest = new Ingest(pool, {
    batchRows: config.batchRows,
    flushMs: config.flushMs,
    maxStreamBytes: Math.max(config.maxFrameBytes * 4, config.maxPendingBytes / 16),
    maxTotalBytes: config.maxPendingBytes,
    ...(bars ? { onCommit: (outcome: WriteOutcome) => bars.committed(outcome.barSymbols, performance.now(), outcome.minuteBars) } : {}),
    onCommitted: (chosen, fresh) => live?.committed(chosen, fresh),
  })
  void bars?.start()
  void backfillJournal(pool, log)
  const commands = new CommandRouter(pool, { log })
  const readers = createReaderPool(
    { database: config.database, dialect: config.dialect, busyTimeoutMs: config.busyTimeoutMs, ...(config.sqlRole !== undefined && { sqlRole: config.sqlRole }) },
    { threads: config.readers, timeoutMs: config.queryTimeoutMs, maxQueue: 256 },
    log,
  )
  // the gateway fills `streams` as EAs connect; the queries ask it which are online
  let onlineStreams: ReadonlyMap<number, unknown> = new Map()
  const queries = new QueryService(readers, { isOnline: (id) => onlineStreams.has(id) }, { sqlRowLimit: config.sqlRowLimit })
  const hub = new SubscriptionHub()
  live = new LiveFeed(hub, queries)
  commands.onStatus = (update) => live?.commandStatus(update)
  let gateway: Gateway
  try {
    gateway = await startGateway(
      {
        ...defaultGatewayOptions,
        host: config.host,
        port: config.port,
        maxFrameBytes: config.maxFrameBytes,
        maxInflight: config.maxInflight,
        maxConnections: config.maxConnections,
        maxOutboundBytes: config.maxOutboundBytes,
        maxUnauthenticated: config.maxUnauthenticated,
        maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
        helloTimeoutMs: config.helloTimeoutMs,
        handshakeTimeoutMs: config.handshakeTimeoutMs,
        maxRefusedPerSecond: config.maxRefusedPerSecond,
        authFailureDelayMs: config.authFailureDelayMs,
        maxAuthFailureDelayMs: config.maxAuthFailureDelayMs,
        log,
      },
      { pool, ingest, commands, queries, live },
    )
  } catch (err) {
    commands.close()
    live.close()
    hub.close()
    await bars?.close()
    await readers.close()
    await pool.close()
    const cause = (err as { code?: unknown }).code
    throw new EngineError(
      ErrorCodes.LISTEN_FAILED,
      `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`,
      { host: config.host, port: config.port, ...(typeof cause === 'string' ? { cause } : {}) },
      { cause: err },
    )
  }
  onlineStreams = gateway.streams
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await gateway.stopAccepting()
      await ingest.drain()
      // the passes running finish (the writer stores them); what is still listed waits for the next start
      await bars?.close()
      commands.close()
      live?.close()
      hub.close()
      await gateway.close(CloseCodes.GOING_AWAY, 'engine shutting down')
      await readers.close()
      await pool.close()
    })())
  return {
    applied,
    status,
    warnings,
    url: gateway.url,
    port: gateway.port,
    counters: { ingest: ingest.counters, gateway: gateway.counters },
    bars,
    subscriptions: () => hub.stats(),
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * Deals stored before the journal was kept (or by an engine older than it) get their journal rows
 * in the background, a few hundred positions per transaction between the EAs' batches.
 */
async function backfillJournal(pool: WriterPool, log: Logger): Promise<void> {
  let total = 0
  let after: [number, number] | null = [0, 0]
  while (after !== null) {
    const result: { ok: true; value: { stored: number; next: [number, number] | null } } | { ok: false; error: { message: string } } = await pool
      .backfillJournal(after, 200)
      .catch((err: Error) => ({ ok: false as const, error: { message: err.message } }))
    if (!result.ok) {
      // the pool closing, or the database failing: the next start takes it up again
      if (total > 0) log.warn({ component: 'journal', stored: total, cause: result.error.message }, 'the journal backfill stopped; the next start goes on')
      return
    }
    total += result.value.stored
    after = result.value.next
  }
  if (total > 0) log.info({ component: 'journal', positions: total }, `journal rows made for ${total} positions whose deals had none`)
}

/** The migration that gave tokens their scopes: a schema from other migration files may lack it. */
const TOKEN_SCOPES_VERSION = '20261203000000'

async function startupWarnings(storage: Storage, status: StatusReport): Promise<string[]> {
  if (!status.entries.some((e) => e.version === TOKEN_SCOPES_VERSION && e.state === 'applied')) return []
  const unscoped = (await listTokens(storage)).filter((t) => t.role === 'ea' && t.revokedAt === null && t.scopeMode === 'unscoped')
  if (unscoped.length === 0) return []
  const names = unscoped.map((t) => `"${t.name}"`).join(', ')
  return [
    `${unscoped.length} live ea token(s) are unscoped and may stream as any account (${names}); bind each to its EA with ` +
      'mt5-engine token scope NAME --account LOGIN@SERVER [--instance ID], or --first-use (docs/SECURITY.md, "Token scopes")',
  ]
}

/**
 * Opens the database with its schema up to date: pending migrations applied (unless
 * `config.migrate` is false), and a refusal on drift or anything still pending. The caller closes
 * the storage it returns.
 */
export async function prepareDatabase(config: ResolvedConfig): Promise<{ storage: Storage; applied: MigrationResult[]; status: StatusReport }> {
  const storage = await openStorage(config)
  try {
    const migrator = createMigrator({ storage, ...config })
    let applied: MigrationResult[] = []
    if (config.migrate) {
      const run = await migrator.up()
      applied = run.results
      if (run.error) throw run.error
    }
    const status = await migrator.status()
    const pending = status.entries.filter((e) => e.state !== 'applied')
    if (pending.length > 0) {
      throw new EngineError(
        status.drift ? ErrorCodes.MIGRATION_DRIFT : ErrorCodes.MIGRATION_PENDING,
        `refusing to start: the schema is not up to date (${pending
          .map((e) => `${e.version}_${e.name}: ${e.state}`)
          .join(', ')}); see mt5-engine migrate status`,
        { versions: pending.map((e) => e.version) },
      )
    }
    return { storage, applied, status }
  } catch (err) {
    await storage.close().catch(() => undefined)
    throw unwritable(err, storage) ?? err
  }
}

/**
 * A migration that failed because SQLite could not write (a full disk, a quota, a file-size limit)
 * is not the migration's fault: say which file could not grow, and why.
 */
function unwritable(err: unknown, storage: Storage): EngineError | undefined {
  const dbCode = err instanceof EngineError ? err.detail?.dbCode : undefined
  if (storage.dialect !== 'sqlite' || typeof dbCode !== 'string' || !/^SQLITE_(FULL|IOERR)/.test(dbCode)) return undefined
  const cause = String(err instanceof EngineError ? err.detail?.dbMessage ?? err.message : err)
  return new EngineError(
    ErrorCodes.DATABASE_UNWRITABLE,
    `cannot write ${storage.location} (${dbCode}: ${cause}): the disk is full, or a quota or file-size limit was reached; free space and start again`,
    { location: storage.location, dbCode },
    { cause: err },
  )
}
