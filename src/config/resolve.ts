/**
 * The one place where configuration is resolved: flags > environment (`MT5E_*`) > config file >
 * defaults. No other module reads `process.env`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isPostgresUrl, looksLikeUrl, maskSecrets, parsePostgresUrl, rememberSecret } from '../db/url.js'
import { EngineError, ErrorCodes } from '../errors.js'

export { isPostgresUrl }

export type Synchronous = 'NORMAL' | 'FULL'

export interface EngineOptions {
  /** Folder for the SQLite database and other local state. Default `./data`. */
  dataDir: string
  /**
   * `postgres://...` (or `postgresql://...`) for PostgreSQL, otherwise a SQLite file path.
   * Default: `<dataDir>/mt5-engine.db`.
   */
  database: string | undefined
  /** SQLite `synchronous`: `NORMAL` (default, safe with WAL except for power loss) or `FULL`. */
  synchronous: Synchronous
  /** SQLite busy timeout in milliseconds. Default 5000. */
  busyTimeoutMs: number
  /** How long a migrator waits for another one to finish before LOCK_TIMEOUT. Default 30000. */
  lockTimeoutMs: number
  /** Apply pending migrations when the engine starts. Default true. */
  migrate: boolean
  /** Folder of migration files. Default: the package's own `migrations/`. */
  migrationsDir: string
  /** Folder of rollback files. Default: the package's own `rollbacks/`. */
  rollbacksDir: string
  /** Address the gateway listens on. Default `127.0.0.1`. */
  host: string
  /** Port the gateway listens on. Default 8787; 0 picks a free one. */
  port: number
  /**
   * PostgreSQL writer workers (SQLite always has exactly one). Default 1: one binary COPY per batch
   * keeps up, and a second writer only competed with the server for the cores (`npm run bench --
   * sweep --database postgres://... --only writers`; measure again where the server has its own).
   */
  writers: number
  /** Rows gathered before a write starts at once. Default 2000 (see `npm run bench -- sweep`). */
  batchRows: number
  /** The longest a message waits for its batch to fill, in ms. Default 20. */
  flushMs: number
  /**
   * Unacknowledged durable messages an EA may have in flight. Default 16: in the sweep (`npm run
   * bench -- sweep --only max-inflight`) the most throughput, with a quarter of the queueing and
   * less memory than 64; a larger window only lengthens the queue in front of the writer.
   */
  maxInflight: number
  /** Largest WebSocket frame accepted, in bytes. Default 1048576. */
  maxFrameBytes: number
  /**
   * Bytes of messages waiting for the database before every connection stops reading (a frame
   * counts its size, ticks what they hold while they wait: 56 bytes each). Default 67108864.
   */
  maxPendingBytes: number
  /** Testing aid: each write waits this long first, making the database the bottleneck. Default 0. */
  writeDelayMs: number
  /**
   * Authenticated sessions at most; more are turned away with close code 1013. Connections not yet
   * authenticated do not count: they have a budget of their own. Default 1000.
   */
  maxConnections: number
  /**
   * Connections not yet authenticated (TCP accept to `welcome`), all addresses together. When all
   * are taken the oldest idle one makes room; else the newcomer is closed unanswered. Default 128.
   */
  maxUnauthenticated: number
  /**
   * Of those, from one remote address. Default 32: more EAs than that reconnecting at once from
   * one machine (a VPS after a restart) retry after a backoff instead of all being let in together.
   */
  maxUnauthenticatedPerAddress: number
  /** A WebSocket connection that has not sent a valid hello by then is closed (4000). Default 5000. */
  helloTimeoutMs: number
  /** A TCP connection must complete its HTTP request (the upgrade) by then, or is destroyed. Default 5000. */
  handshakeTimeoutMs: number
  /**
   * Refused frames per second from one address, all its connections together; past it the
   * connection is RATE_LIMITED (4008) and the address let in again only the next second. Default 1000.
   */
  maxRefusedPerSecond: number
  /** Wait before answering an address's first AUTH_FAILED; doubled for each further one. Default 250. */
  authFailureDelayMs: number
  /** The longest that wait grows to. Default 3000. */
  maxAuthFailureDelayMs: number
  /**
   * Bytes the engine holds unsent for one connection whose peer does not read. Over it for 5 s, or
   * over twice it at once, the connection is closed (4011). Default 8388608.
   */
  maxOutboundBytes: number
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

export const defaultOptions: Readonly<EngineOptions> = Object.freeze({
  dataDir: './data',
  database: undefined,
  synchronous: 'NORMAL',
  busyTimeoutMs: 5000,
  lockTimeoutMs: 30000,
  migrate: true,
  migrationsDir: join(packageRoot, 'migrations'),
  rollbacksDir: join(packageRoot, 'rollbacks'),
  host: '127.0.0.1',
  port: 8787,
  writers: 1,
  batchRows: 2000,
  flushMs: 20,
  maxInflight: 16,
  maxFrameBytes: 1024 * 1024,
  maxPendingBytes: 64 * 1024 * 1024,
  writeDelayMs: 0,
  maxConnections: 1000,
  maxOutboundBytes: 8 * 1024 * 1024,
  maxUnauthenticated: 128,
  maxUnauthenticatedPerAddress: 32,
  helloTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
  maxRefusedPerSecond: 1000,
  authFailureDelayMs: 250,
  maxAuthFailureDelayMs: 3000,
})

export type OptionName = keyof EngineOptions

/** Environment variable for each option. */
export const envNames: Readonly<Record<OptionName, string>> = Object.freeze({
  dataDir: 'MT5E_DATA_DIR',
  database: 'MT5E_DATABASE',
  synchronous: 'MT5E_SYNCHRONOUS',
  busyTimeoutMs: 'MT5E_BUSY_TIMEOUT_MS',
  lockTimeoutMs: 'MT5E_LOCK_TIMEOUT_MS',
  migrate: 'MT5E_MIGRATE',
  migrationsDir: 'MT5E_MIGRATIONS_DIR',
  rollbacksDir: 'MT5E_ROLLBACKS_DIR',
  host: 'MT5E_HOST',
  port: 'MT5E_PORT',
  writers: 'MT5E_WRITERS',
  batchRows: 'MT5E_BATCH_ROWS',
  flushMs: 'MT5E_FLUSH_MS',
  maxInflight: 'MT5E_MAX_INFLIGHT',
  maxFrameBytes: 'MT5E_MAX_FRAME_BYTES',
  maxPendingBytes: 'MT5E_MAX_PENDING_BYTES',
  writeDelayMs: 'MT5E_WRITE_DELAY_MS',
  maxConnections: 'MT5E_MAX_CONNECTIONS',
  maxOutboundBytes: 'MT5E_MAX_OUTBOUND_BYTES',
  maxUnauthenticated: 'MT5E_MAX_UNAUTHENTICATED',
  maxUnauthenticatedPerAddress: 'MT5E_MAX_UNAUTHENTICATED_PER_ADDRESS',
  helloTimeoutMs: 'MT5E_HELLO_TIMEOUT_MS',
  handshakeTimeoutMs: 'MT5E_HANDSHAKE_TIMEOUT_MS',
  maxRefusedPerSecond: 'MT5E_MAX_REFUSED_PER_SECOND',
  authFailureDelayMs: 'MT5E_AUTH_FAILURE_DELAY_MS',
  maxAuthFailureDelayMs: 'MT5E_MAX_AUTH_FAILURE_DELAY_MS',
})

/** Command-line flag for each option. */
export const flagNames: Readonly<Record<OptionName, string>> = Object.freeze({
  dataDir: '--data-dir',
  database: '--database',
  synchronous: '--synchronous',
  busyTimeoutMs: '--busy-timeout',
  lockTimeoutMs: '--lock-timeout',
  migrate: '--migrate',
  migrationsDir: '--migrations-dir',
  rollbacksDir: '--rollbacks-dir',
  host: '--host',
  port: '--port',
  writers: '--writers',
  batchRows: '--batch-rows',
  flushMs: '--flush-ms',
  maxInflight: '--max-inflight',
  maxFrameBytes: '--max-frame-bytes',
  maxPendingBytes: '--max-pending-bytes',
  writeDelayMs: '--write-delay-ms',
  maxConnections: '--max-connections',
  maxOutboundBytes: '--max-outbound-bytes',
  maxUnauthenticated: '--max-unauthenticated',
  maxUnauthenticatedPerAddress: '--max-unauthenticated-per-address',
  helloTimeoutMs: '--hello-timeout-ms',
  handshakeTimeoutMs: '--handshake-timeout-ms',
  maxRefusedPerSecond: '--max-refused-per-second',
  authFailureDelayMs: '--auth-failure-delay-ms',
  maxAuthFailureDelayMs: '--max-auth-failure-delay-ms',
})

export interface ResolvedConfig extends EngineOptions {
  /** The database actually used: a PostgreSQL URL or an absolute SQLite path. */
  database: string
  dialect: 'sqlite' | 'postgres'
  /** Where each option's value came from, for `--print-config` style diagnostics. */
  sources: Record<OptionName, 'flag' | 'env' | 'file' | 'default'>
}

export interface ResolveInput {
  /** Values given as command-line flags or programmatically (highest precedence). */
  flags?: Partial<Record<OptionName, unknown>>
  env?: Record<string, string | undefined>
  /** Path of a JSON config file; `MT5E_CONFIG` otherwise; `./mt5-engine.json` if it exists. */
  configFile?: string | undefined
  cwd?: string
}

export function resolveConfig(input: ResolveInput = {}): ResolvedConfig {
  const env = input.env ?? process.env
  const cwd = input.cwd ?? process.cwd()
  const file = readConfigFile(input.configFile ?? env.MT5E_CONFIG, cwd)
  const out: Record<string, unknown> = {}
  const sources = {} as ResolvedConfig['sources']
  for (const name of Object.keys(defaultOptions) as OptionName[]) {
    const flag = input.flags?.[name]
    // DATABASE_URL is what hosting platforms and compose files set; our own variable wins.
    const envName = name === 'database' && !env[envNames[name]] && env.DATABASE_URL ? 'DATABASE_URL' : envNames[name]
    const fromEnv = env[envName]
    if (flag !== undefined) {
      out[name] = coerce(name, flag, flagNames[name])
      sources[name] = 'flag'
    } else if (fromEnv !== undefined && fromEnv !== '') {
      out[name] = coerce(name, fromEnv, envName)
      sources[name] = 'env'
    } else if (file.values[name] !== undefined) {
      out[name] = coerce(name, file.values[name], `"${name}" in ${file.path}`)
      sources[name] = 'file'
    } else {
      out[name] = defaultOptions[name]
      sources[name] = 'default'
    }
  }
  const options = out as unknown as EngineOptions
  const dataDir = resolve(cwd, options.dataDir)
  let database = options.database ?? join(dataDir, 'mt5-engine.db')
  const dialect = isPostgresUrl(database) ? 'postgres' : 'sqlite'
  if (dialect === 'postgres') {
    // postgres.js falls back to it when the URL has no password: it is as secret as one
    rememberSecret(env.PGPASSWORD)
    parsePostgresUrl(database)
  } else if (looksLikeUrl(database)) {
    // `parsePostgresUrl` names the scheme and masks the URL; a SQLite file named "mysql://..." is a mistake
    parsePostgresUrl(database)
  }
  if (dialect === 'sqlite' && database !== ':memory:') database = resolve(cwd, database)
  return {
    ...options,
    dataDir,
    database,
    dialect,
    migrationsDir: resolve(cwd, options.migrationsDir),
    rollbacksDir: resolve(cwd, options.rollbacksDir),
    sources,
  }
}

function readConfigFile(path: string | undefined, cwd: string): { path: string; values: Record<string, unknown> } {
  const explicit = path !== undefined && path !== ''
  const full = resolve(cwd, explicit ? path : 'mt5-engine.json')
  if (!explicit && !existsSync(full)) return { path: full, values: {} }
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(full, 'utf8'))
  } catch (err) {
    throw new EngineError(ErrorCodes.CONFIG_INVALID, `cannot read config file ${full}: ${(err as Error).message}`, {
      file: full,
    })
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new EngineError(ErrorCodes.CONFIG_INVALID, `config file ${full} must hold a JSON object`, { file: full })
  }
  const known = new Set(Object.keys(defaultOptions))
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      const hint = closest(key, [...known])
      throw new EngineError(
        ErrorCodes.CONFIG_INVALID,
        `unknown option "${key}" in config file ${full}${hint ? `; did you mean "${hint}"?` : ''}`,
        { file: full, option: key },
      )
    }
  }
  return { path: full, values: parsed as Record<string, unknown> }
}

function coerce(name: OptionName, value: unknown, where: string): unknown {
  const fail = (expected: string): never => {
    throw new EngineError(ErrorCodes.CONFIG_INVALID, `${where} must be ${expected}; got ${JSON.stringify(value)}`, {
      option: name,
      value,
    })
  }
  switch (name) {
    case 'busyTimeoutMs':
    case 'lockTimeoutMs':
    case 'flushMs':
    case 'maxPendingBytes':
    case 'writeDelayMs':
    case 'authFailureDelayMs':
    case 'maxAuthFailureDelayMs':
    case 'port': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) fail('a whole number >= 0')
      if (name === 'port' && (n as number) > 65535) fail('a port number from 0 to 65535')
      return n
    }
    case 'writers':
    case 'batchRows':
    case 'maxInflight':
    case 'maxConnections':
    case 'maxOutboundBytes':
    case 'maxUnauthenticated':
    case 'maxUnauthenticatedPerAddress':
    case 'helloTimeoutMs':
    case 'handshakeTimeoutMs':
    case 'maxRefusedPerSecond':
    case 'maxFrameBytes': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) fail('a whole number >= 1')
      return n
    }
    case 'migrate': {
      if (typeof value === 'boolean') return value
      if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true
      if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false
      return fail('true or false')
    }
    case 'synchronous': {
      const v = typeof value === 'string' ? value.toUpperCase() : value
      if (v !== 'NORMAL' && v !== 'FULL') fail('NORMAL or FULL')
      return v
    }
    default:
      if (typeof value !== 'string' || value === '') fail('a non-empty string')
      return value
  }
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]!
}

/** A database for messages and logs: a PostgreSQL URL with every secret masked, a SQLite path as is. */
export function describeDatabase(database: string): string {
  return maskSecrets(database)
}
