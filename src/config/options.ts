/**
 * Every engine option, declared once: its name (the `EngineOptions` key and the config file key),
 * flag, environment variable, default, parser and help. `resolveConfig`, the CLI's flags and usage
 * text, the README options table and the bench's engine flags are all made from this table.
 */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TIMEFRAMES, withSources, type Timeframe } from '../aggregate/timeframes.js'
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log.js'

/** Thrown by a parser; the caller names where the value came from (a flag, a variable, a file key). */
export class InvalidValue extends Error {
  constructor(readonly expected: string) {
    super(`must be ${expected}`)
  }
}

/** Turns a value from a flag, a variable (a string) or the config file (any JSON) into the option's type. */
export type Parser<T> = (value: unknown) => T

/** Numbers may come as strings (flags, variables) or as JSON numbers (the config file). */
function numeric(value: unknown): unknown {
  return typeof value === 'string' && value.trim() !== '' ? Number(value) : value
}

export function wholeNumber(min: number): Parser<number> {
  return (value) => {
    const n = numeric(value)
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new InvalidValue(`a whole number >= ${min}`)
    return n
  }
}

export const port: Parser<number> = (value) => {
  const n = wholeNumber(0)(value)
  if (n > 65535) throw new InvalidValue('a port number from 0 to 65535')
  return n
}

export const boolean: Parser<boolean> = (value) => {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true
  if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false
  throw new InvalidValue('true or false')
}

/** One of `values`, matched without regard to case and returned as spelled in `values`. */
export function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  const expected = `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`
  return (value) => {
    const found = typeof value === 'string' ? values.find((v) => v.toLowerCase() === value.toLowerCase()) : undefined
    if (found === undefined) throw new InvalidValue(expected)
    return found
  }
}

/** A non-empty string: a host, a path, a URL. */
export const text: Parser<string> = (value) => {
  if (typeof value !== 'string' || value === '') throw new InvalidValue('a non-empty string')
  return value
}

/** `all`, `none` or a comma-separated list of timeframes, with the ones they are rolled up from. */
export const timeframeList: Parser<readonly Timeframe[]> = (value) => {
  if (Array.isArray(value)) {
    // the config file's JSON list, or a list already parsed (the bench hands resolved options on)
    if (value.length === 0) return []
    value = value.join(',')
  }
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue('all, none, or a list of timeframes such as M1,M5,H1')
  if (value.trim().toLowerCase() === 'none') return []
  try {
    return withSources(value)
  } catch (err) {
    throw new InvalidValue(`all, none, or a list of timeframes such as M1,M5,H1 (${(err as Error).message})`)
  }
}

/** Which commands take an option's flag: every command, or the named ones. */
export type Commands = 'every' | readonly ('start' | 'command send' | 'bars')[]

export interface OptionSpec<T> {
  /** `--batch-rows`. */
  flag: string
  /** `MT5E_BATCH_ROWS`. */
  env: string
  /** Read when `env` is unset or empty: the name hosting platforms use for the same thing. */
  envFallback?: string
  default: T
  /** The default as the usage text and the README show it, when it is not the value itself. */
  defaultText?: string
  parse: Parser<T>
  /** What the flag takes in the usage text (`N`, `MS`, `DIR`); none for a boolean. */
  metavar?: string
  /** A boolean: the command line has only `--no-<flag>`; variables and the file take true or false. */
  negatable?: boolean
  commands: Commands
  /** One line for the usage text. */
  help: string
  /** The README's meaning column (Markdown); the help line when absent. */
  doc?: string
}

/** Checks `default` against what `parse` returns, so that each entry's type is inferred from its parser. */
function option<T>(spec: OptionSpec<T> & { default: NoInfer<T> }): OptionSpec<T> {
  return spec
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

export type Synchronous = 'NORMAL' | 'FULL'
const SYNCHRONOUS: readonly Synchronous[] = ['NORMAL', 'FULL']

const startOnly = ['start'] as const

export const options = {
  /** Folder for the SQLite database and other local state. Default `./data`. */
  dataDir: option({
    flag: '--data-dir',
    env: 'MT5E_DATA_DIR',
    default: './data',
    parse: text,
    metavar: 'DIR',
    commands: 'every',
    help: 'data folder',
  }),
  /**
   * `postgres://...` (or `postgresql://...`) for PostgreSQL, otherwise a SQLite file path.
   * Default: `<dataDir>/mt5-engine.db`.
   */
  database: option<string | undefined>({
    flag: '--database',
    env: 'MT5E_DATABASE',
    envFallback: 'DATABASE_URL',
    default: undefined,
    defaultText: '`<dataDir>/mt5-engine.db`',
    parse: text,
    metavar: 'URL|FILE',
    commands: 'every',
    help: 'postgres://... or a SQLite file',
    doc:
      '`postgres://...` selects PostgreSQL (several hosts `h1:5432,h2:5433` are tried in order; passwords are never ' +
      'printed; see [docs/SECURITY.md](docs/SECURITY.md)), anything else is a SQLite file. `MT5E_DATABASE` wins when ' +
      'both variables are set',
  }),
  /** SQLite `synchronous`: `NORMAL` (default, safe with WAL except for power loss) or `FULL`. */
  synchronous: option<Synchronous>({
    flag: '--synchronous',
    env: 'MT5E_SYNCHRONOUS',
    default: 'NORMAL',
    parse: oneOf(SYNCHRONOUS),
    metavar: 'NORMAL|FULL',
    commands: 'every',
    help: 'SQLite synchronous mode',
    doc: 'SQLite `synchronous`; `FULL` also survives power loss, at a cost for small transactions',
  }),
  /** SQLite busy timeout in milliseconds. Default 5000. */
  busyTimeoutMs: option({
    flag: '--busy-timeout',
    env: 'MT5E_BUSY_TIMEOUT_MS',
    default: 5000,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: 'every',
    help: 'SQLite busy timeout',
  }),
  /** How long a migrator waits for another one to finish before LOCK_TIMEOUT. Default 30000. */
  lockTimeoutMs: option({
    flag: '--lock-timeout',
    env: 'MT5E_LOCK_TIMEOUT_MS',
    default: 30000,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: 'every',
    help: 'wait for another migrator',
    doc: 'how long a migrator waits for another one to finish before `LOCK_TIMEOUT`',
  }),
  /** Apply pending migrations when the engine starts. Default true. */
  migrate: option({
    flag: '--migrate',
    env: 'MT5E_MIGRATE',
    default: true,
    parse: boolean,
    negatable: true,
    commands: startOnly,
    help: 'do not apply pending migrations at start',
    doc: 'apply pending migrations when the engine starts',
  }),
  /** Folder of migration files. Default: the package's own `migrations/`. */
  migrationsDir: option({
    flag: '--migrations-dir',
    env: 'MT5E_MIGRATIONS_DIR',
    default: join(packageRoot, 'migrations'),
    defaultText: "the package's `migrations/`",
    parse: text,
    metavar: 'DIR',
    commands: 'every',
    help: 'migration files',
  }),
  /** Folder of rollback files. Default: the package's own `rollbacks/`. */
  rollbacksDir: option({
    flag: '--rollbacks-dir',
    env: 'MT5E_ROLLBACKS_DIR',
    default: join(packageRoot, 'rollbacks'),
    defaultText: "the package's `rollbacks/`",
    parse: text,
    metavar: 'DIR',
    commands: 'every',
    help: 'rollback files',
  }),
  /** Address the gateway listens on. Default `127.0.0.1`. */
  host: option({
    flag: '--host',
    env: 'MT5E_HOST',
    default: '127.0.0.1',
    parse: text,
    metavar: 'H',
    commands: ['start', 'command send'],
    help: 'address the gateway listens on',
    doc: 'address the gateway listens on; `command send` connects to it (to `127.0.0.1` when it is `0.0.0.0`)',
  }),
  /** Port the gateway listens on. Default 8787; 0 picks a free one. */
  port: option({
    flag: '--port',
    env: 'MT5E_PORT',
    default: 8787,
    parse: port,
    metavar: 'P',
    commands: ['start', 'command send'],
    help: 'port the gateway listens on; 0 picks a free one',
  }),
  /**
   * PostgreSQL writer workers (SQLite always has exactly one). Default 1: one binary COPY per batch
   * keeps up, and a second writer only competed with the server for the cores (`npm run bench --
   * sweep --database postgres://... --only writers`; measure again where the server has its own).
   */
  writers: option({
    flag: '--writers',
    env: 'MT5E_WRITERS',
    default: 1,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'PostgreSQL writer workers; SQLite always has one writer',
  }),
  /**
   * Reader workers for queries, the SQL console and the HTTP API, each with its own read-only
   * connection. Default 2: a heavy query leaves a reader free, and ingest keeps its core.
   */
  readers: option({
    flag: '--readers',
    env: 'MT5E_READERS',
    default: 2,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'reader workers for queries, the SQL console and the HTTP API',
  }),
  /** A query or SQL console statement running longer is stopped (QUERY_TIMEOUT). Default 10000. */
  queryTimeoutMs: option({
    flag: '--query-timeout-ms',
    env: 'MT5E_QUERY_TIMEOUT_MS',
    default: 10_000,
    parse: wholeNumber(100),
    metavar: 'MS',
    commands: startOnly,
    help: 'a query or SQL statement running longer is stopped',
  }),
  /** Rows an SQL console statement returns at most (a `limit` may ask fewer). Default 10000. */
  sqlRowLimit: option({
    flag: '--sql-row-limit',
    env: 'MT5E_SQL_ROW_LIMIT',
    default: 10_000,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'rows an SQL console statement returns at most',
  }),
  /**
   * PostgreSQL: the SQL console runs its statements as this role (`SET LOCAL ROLE`), one granted
   * SELECT on what may be read and nothing on `tokens` (docs/SECURITY.md, "The SQL console").
   */
  sqlRole: option<string | undefined>({
    flag: '--sql-role',
    env: 'MT5E_SQL_ROLE',
    default: undefined,
    defaultText: 'none',
    parse: text,
    metavar: 'ROLE',
    commands: startOnly,
    help: 'PostgreSQL role the SQL console runs as (no write grants, no tokens)',
  }),
  /**
   * The bar timeframes built from ticks: `all` (default, M1 to MN1), `none`, or a list such as
   * `M1,M5,H1,D1`; the timeframes a listed one is rolled up from are built too (docs/BARS.md).
   */
  barTimeframes: option<readonly Timeframe[]>({
    flag: '--bar-timeframes',
    env: 'MT5E_BAR_TIMEFRAMES',
    default: TIMEFRAMES,
    defaultText: '`all`',
    parse: timeframeList,
    metavar: 'LIST',
    commands: ['start', 'bars'],
    help: 'bar timeframes built from ticks: all, none, or a list like M1,M5,H1',
    doc:
      'bar timeframes built from ticks: `all` (M1 to MN1), `none`, or a list like `M1,M5,H1`; the timeframes a listed ' +
      'one is rolled up from are built too ([docs/BARS.md](docs/BARS.md))',
  }),
  /** Rows gathered before a write starts at once. Default 2000 (see `npm run bench -- sweep`). */
  batchRows: option({
    flag: '--batch-rows',
    env: 'MT5E_BATCH_ROWS',
    default: 2000,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'rows gathered before a write starts at once',
  }),
  /** The longest a message waits for its batch to fill, in ms. Default 20. */
  flushMs: option({
    flag: '--flush-ms',
    env: 'MT5E_FLUSH_MS',
    default: 20,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: startOnly,
    help: 'the longest a message waits for its batch',
  }),
  /**
   * Unacknowledged durable messages an EA may have in flight. Default 16: in the sweep (`npm run
   * bench -- sweep --only max-inflight`) the most throughput, with a quarter of the queueing and
   * less memory than 64; a larger window only lengthens the queue in front of the writer.
   */
  maxInflight: option({
    flag: '--max-inflight',
    env: 'MT5E_MAX_INFLIGHT',
    default: 16,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'unacknowledged messages per EA (sent in welcome)',
    doc: 'unacknowledged messages per EA (sent in `welcome`)',
  }),
  /** Largest WebSocket frame accepted, in bytes. Default 1048576. */
  maxFrameBytes: option({
    flag: '--max-frame-bytes',
    env: 'MT5E_MAX_FRAME_BYTES',
    default: 1024 * 1024,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'largest frame accepted; a larger one closes the connection (1009)',
  }),
  /**
   * Bytes of messages waiting for the database before every connection stops reading (a frame
   * counts its size, ticks what they hold while they wait: 56 bytes each). Default 67108864.
   */
  maxPendingBytes: option({
    flag: '--max-pending-bytes',
    env: 'MT5E_MAX_PENDING_BYTES',
    default: 64 * 1024 * 1024,
    parse: wholeNumber(0),
    metavar: 'N',
    commands: startOnly,
    help: 'bytes waiting for the database before sockets stop being read',
    doc: 'bytes of messages waiting for the database (ticks count 56 bytes each) before the engine stops reading sockets',
  }),
  /**
   * Authenticated sessions at most; more are turned away with close code 1013. Connections not yet
   * authenticated do not count: they have a budget of their own. Default 1000.
   */
  maxConnections: option({
    flag: '--max-connections',
    env: 'MT5E_MAX_CONNECTIONS',
    default: 1000,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'sessions after welcome; more are turned away (1013)',
    doc: 'sessions (after `welcome`); more are turned away with close code 1013. Connections not yet authenticated do not count',
  }),
  /**
   * Connections not yet authenticated (TCP accept to `welcome`), all addresses together. When all
   * are taken the oldest idle one makes room; else the newcomer is closed unanswered. Default 128.
   */
  maxUnauthenticated: option({
    flag: '--max-unauthenticated',
    env: 'MT5E_MAX_UNAUTHENTICATED',
    default: 128,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'connections not yet authenticated, in all',
    doc: 'connections not yet authenticated, in all; when full the oldest idle one makes room (docs/PROTOCOL.md 3.8)',
  }),
  /**
   * Of those, from one remote address. Default 32: more EAs than that reconnecting at once from
   * one machine (a VPS after a restart) retry after a backoff instead of all being let in together.
   */
  maxUnauthenticatedPerAddress: option({
    flag: '--max-unauthenticated-per-address',
    env: 'MT5E_MAX_UNAUTHENTICATED_PER_ADDRESS',
    default: 32,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'of those, from one address',
    doc: "of those, from one address; raise it behind a local proxy, where every client has the proxy's address",
  }),
  /** A WebSocket connection that has not sent a valid hello by then is closed (4000). Default 5000. */
  helloTimeoutMs: option({
    flag: '--hello-timeout-ms',
    env: 'MT5E_HELLO_TIMEOUT_MS',
    default: 5000,
    parse: wholeNumber(1),
    metavar: 'MS',
    commands: startOnly,
    help: 'a connection without a valid hello by then is closed (4000)',
  }),
  /** A TCP connection must complete its HTTP request (the upgrade) by then, or is destroyed. Default 5000. */
  handshakeTimeoutMs: option({
    flag: '--handshake-timeout-ms',
    env: 'MT5E_HANDSHAKE_TIMEOUT_MS',
    default: 5000,
    parse: wholeNumber(1),
    metavar: 'MS',
    commands: startOnly,
    help: 'a TCP connection without its upgrade request by then is destroyed',
    doc: 'a TCP connection that has not completed its upgrade request by then (or sent nothing) is destroyed',
  }),
  /**
   * Refused frames per second from one address, all its connections together; past it the
   * connection is RATE_LIMITED (4008) and the address let in again only the next second. Default 1000.
   */
  maxRefusedPerSecond: option({
    flag: '--max-refused-per-second',
    env: 'MT5E_MAX_REFUSED_PER_SECOND',
    default: 1000,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'refused frames per second from one address; past it RATE_LIMITED (4008)',
    doc: 'refused frames per second from one address; past it `RATE_LIMITED` (4008)',
  }),
  /** Wait before answering an address's first AUTH_FAILED; doubled for each further one. Default 250. */
  authFailureDelayMs: option({
    flag: '--auth-failure-delay-ms',
    env: 'MT5E_AUTH_FAILURE_DELAY_MS',
    default: 250,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: startOnly,
    help: "wait before an address's first AUTH_FAILED, doubled per further one",
    doc: "wait before an address's first `AUTH_FAILED` answer, doubled per further failure",
  }),
  /** The longest that wait grows to. Default 3000. */
  maxAuthFailureDelayMs: option({
    flag: '--max-auth-failure-delay-ms',
    env: 'MT5E_MAX_AUTH_FAILURE_DELAY_MS',
    default: 3000,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: startOnly,
    help: 'the longest that wait grows to',
  }),
  /**
   * Bytes the engine holds unsent for one connection whose peer does not read. Over it for 5 s, or
   * over twice it at once, the connection is closed (4011). Default 8388608.
   */
  maxOutboundBytes: option({
    flag: '--max-outbound-bytes',
    env: 'MT5E_MAX_OUTBOUND_BYTES',
    default: 8 * 1024 * 1024,
    parse: wholeNumber(1),
    metavar: 'N',
    commands: startOnly,
    help: 'bytes held unsent for a peer that does not read',
    doc: 'bytes held unsent for one connection; a peer that leaves more unread for 5 s (or twice it at once) is closed with 4011',
  }),
  /** Testing aid: each write waits this long first, making the database the bottleneck. Default 0. */
  writeDelayMs: option({
    flag: '--write-delay-ms',
    env: 'MT5E_WRITE_DELAY_MS',
    default: 0,
    parse: wholeNumber(0),
    metavar: 'MS',
    commands: startOnly,
    help: 'a testing aid that slows every write',
  }),
  /** Least severe level logged. Default `info`; `silent` logs nothing. */
  logLevel: option<LogLevel>({
    flag: '--log-level',
    env: 'MT5E_LOG_LEVEL',
    default: 'info',
    parse: oneOf(LOG_LEVELS),
    metavar: 'LEVEL',
    commands: startOnly,
    help: `least severe level logged: ${LOG_LEVELS.join(', ')}`,
    doc: `least severe level logged: ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')} (nothing)`,
  }),
  /**
   * `auto` (default): pretty lines when stderr (where the log goes) is a terminal, else one JSON object per line (what
   * journald, Docker and log shippers read); `json` or `pretty` to choose.
   */
  logFormat: option<LogFormat>({
    flag: '--log-format',
    env: 'MT5E_LOG_FORMAT',
    default: 'auto',
    parse: oneOf(LOG_FORMATS),
    metavar: 'FORMAT',
    commands: startOnly,
    help: 'auto (pretty on a terminal, else JSON), json or pretty',
    doc: '`auto`: human-readable lines when stderr (where the log goes) is a terminal, else one JSON object per line (what journald, Docker and log shippers read); `json` or `pretty` to choose',
  }),
} as const

export type OptionName = keyof typeof options

type OptionValues = { [K in OptionName]: (typeof options)[K]['default'] }

/** Every engine option with its type; see `options` for each one's flag, variable and default. */
export interface EngineOptions extends OptionValues {}

export const optionNames = Object.freeze(Object.keys(options) as OptionName[])

function derive<V>(pick: (spec: OptionSpec<unknown>, name: OptionName) => V): Readonly<Record<OptionName, V>> {
  return Object.freeze(Object.fromEntries(optionNames.map((name) => [name, pick(options[name] as OptionSpec<unknown>, name)]))) as Record<
    OptionName,
    V
  >
}

export const defaultOptions: Readonly<EngineOptions> = derive((spec) => spec.default) as Readonly<EngineOptions>

/** Environment variable for each option. */
export const envNames = derive((spec) => spec.env)

/** Command-line flag for each option. */
export const flagNames = derive((spec) => spec.flag)

export function takesFlag(name: OptionName, command: 'start' | 'command send' | 'bars' | 'every'): boolean {
  const commands = options[name].commands
  return commands === 'every' ? command === 'every' : command !== 'every' && commands.includes(command)
}

/** The parseArgs key of an option's flag: `batch-rows`, or `no-migrate` for a negatable one. */
export function flagKey(name: OptionName): string {
  const spec: OptionSpec<unknown> = options[name]
  return spec.negatable ? `no-${spec.flag.slice(2)}` : spec.flag.slice(2)
}

/** The default as text: `defaultText` when given, else the value in backticks. */
function defaultMarkdown(spec: OptionSpec<unknown>): string {
  return spec.defaultText ?? `\`${String(spec.default)}\``
}

/** The help lines for the named options, aligned: `  --flag META   help (default D; VARIABLE)`. */
export function optionsHelp(names: readonly OptionName[], extra: readonly [string, string][] = []): string {
  const rows: [string, string][] = names.map((name) => {
    const spec: OptionSpec<unknown> = options[name]
    const flag = spec.negatable ? `--${flagKey(name)}` : `${spec.flag} ${spec.metavar ?? ''}`.trimEnd()
    const env = spec.envFallback ? `${spec.env}, else ${spec.envFallback}` : spec.env
    const where = spec.negatable ? `${spec.env}=false` : `default ${defaultMarkdown(spec).replace(/`/g, '')}; ${env}`
    return [flag, `${spec.help} (${where})`]
  })
  const all = [...rows, ...extra]
  const width = Math.max(...all.map(([flag]) => flag.length)) + 2
  return all.map(([flag, help]) => `  ${flag.padEnd(width)}${help}\n`).join('')
}

function commandsMarkdown(commands: Commands): string {
  return commands === 'every' ? '' : ` (${commands.join(', ')})`
}

/** The README's options table, one row per option in the table's order. */
export function optionsMarkdown(): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|')
  const rows = optionNames.map((name) => {
    const spec: OptionSpec<unknown> = options[name]
    const flag = `\`${spec.negatable ? `--${flagKey(name)}` : spec.flag}\`${commandsMarkdown(spec.commands)}`
    const env = spec.envFallback ? `\`${spec.env}\`, else \`${spec.envFallback}\`` : `\`${spec.env}\``
    return `| \`${name}\` | ${flag} | ${env} | ${escape(defaultMarkdown(spec))} | ${escape(spec.doc ?? spec.help)} |`
  })
  return ['| option (file key) | flag | environment | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n'
}
