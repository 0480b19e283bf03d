import { connect, type Socket } from 'node:net'
import postgres from 'postgres'
import { EngineError, ErrorCodes } from '../../errors.js'
import { parsePostgresUrl, redactError, type PostgresTarget } from '../url.js'
import { isBlankSql, lockTimeoutError, type Queryable, type Row, type Selected, type StatementCount, type Storage, type TransactionOptions } from './types.js'
import { quoteIdent } from './sqlite.js'

export interface PostgresOptions {
  url: string
  /** Connections in the pool. Default 4; the lock takes one of them while held. */
  max?: number
  connectTimeoutSeconds?: number
}

/** PostgreSQL's limit on bind parameters in one statement. */
const MAX_PARAMETERS = 65534
/** SQLSTATE 42601, as PostgreSQL answers a prepared statement that holds several commands. */
const SYNTAX_ERROR = '42601'

/** Connects to PostgreSQL and checks the connection before returning. */
export async function openPostgres(options: PostgresOptions): Promise<Storage> {
  const target = parsePostgresUrl(options.url)
  const location = target.masked
  const sql = postgres(driverUrl(target), {
    ...driverTarget(target),
    max: Math.max(2, options.max ?? 4),
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    // bigint columns (times in ms) fit in a double well past year 200,000
    types: { bigint: postgres.BigInt },
    // a documented option (a function returning a connected socket) the typings do not list
    ...({ socket: (o: SocketOptions) => noDelaySocket({ ...o, ...hostLists(target) }) } as object),
  })
  try {
    await sql`select 1`
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {})
    const safe = redactError(err)
    throw new EngineError(
      ErrorCodes.DATABASE_UNAVAILABLE,
      `cannot connect to PostgreSQL at ${location}: ${safe.message}`,
      { location, dbCode: (err as { code?: string }).code },
      { cause: safe },
    )
  }
  return new PostgresStorage(sql, location)
}

/**
 * What postgres.js reads from a URL besides the parts given as options: `sslmode`, its own
 * options, server settings. The URL it gets holds no user info and no secret, so nothing it
 * throws or keeps can show one.
 */
function driverUrl(target: PostgresTarget): string {
  const query = new URLSearchParams(target.params).toString()
  return `postgres://localhost/${query ? `?${query}` : ''}`
}

/**
 * The parsed parts as postgres.js options, which win over its URL. It gets the first host only:
 * with several, a socket function that fails makes it wait forever for a retry it never starts
 * (the CLI then exited 0 with no output); `noDelaySocket` tries every host itself.
 */
function driverTarget(target: PostgresTarget): postgres.Options<{}> {
  const first = target.hosts[0]
  return {
    // arrays, as postgres.js keeps them: a string host is split at ':', which breaks IPv6
    ...(target.socketPath !== undefined ? { path: target.socketPath } : { host: [first!.host] as unknown as string, port: [first!.port] as unknown as number }),
    ...(target.database !== undefined && { database: target.database }),
    ...(target.user !== undefined && { user: target.user }),
    ...(target.password !== undefined && { pass: target.password }),
  }
}

function hostLists(target: PostgresTarget): { host: string[]; port: number[] } {
  return { host: target.hosts.map((h) => h.host), port: target.hosts.map((h) => h.port) }
}

interface SocketOptions {
  host: string[]
  port: number[]
  path: string | false
  connect_timeout?: number
}

type Sql = postgres.Sql<{ bigint: bigint }>

/**
 * postgres.js leaves Nagle's algorithm on: a COPY's last small message then waits for the server's
 * delayed ACK, about 40 ms per COPY. So the engine opens the socket itself, with no delay (a Unix
 * socket has no Nagle to turn off), trying each host of the URL in turn.
 */
export async function noDelaySocket(options: SocketOptions): Promise<Socket> {
  // postgres.js starts its connect_timeout only once it has the socket: this one keeps it
  const timeoutMs = (options.connect_timeout ?? 30) * 1000
  const open = (how: { path: string } | { host: string; port: number }) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ ...how, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(Object.assign(new Error(`connect timeout after ${timeoutMs / 1000} s`), { code: 'CONNECT_TIMEOUT' }))
      }, timeoutMs)
      const failed = (err: Error) => {
        clearTimeout(timer)
        reject(err)
      }
      socket.once('error', failed)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.off('error', failed)
        // postgres.js names the TLS server (SNI, and the certificate check of verify-full) after
        // socket.host, which it sets on the sockets it opens itself: without it, "localhost"
        if ('host' in how) Object.assign(socket, { host: how.host, port: how.port })
        resolve(socket)
      })
    })
  if (options.path) return open({ path: options.path })
  const failures: { where: string; err: Error }[] = []
  for (let i = 0; i < options.host.length; i++) {
    const how = { host: options.host[i]!, port: options.port[i] ?? options.port[0] ?? 5432 }
    try {
      return await open(how)
    } catch (err) {
      failures.push({ where: `${how.host.includes(':') ? `[${how.host}]` : how.host}:${how.port}`, err: err as Error })
    }
  }
  if (failures.length === 1) throw failures[0]!.err
  // each host's reason, not only the last one's: the first is usually the one that matters
  const last = failures[failures.length - 1]!.err
  throw Object.assign(new Error(`no host accepted a connection: ${failures.map((f) => `${f.where} (${f.err.message})`).join(', ')}`), {
    code: (last as { code?: string }).code,
  })
}

/**
 * postgres.js never ends the stream of a COPY that PostgreSQL refused, nor rejects anything for
 * it: the statement after the COPY is what fails (the transaction is aborted). So the COPY runs in
 * a savepoint of its own, with `select 1` after it; the savepoint scope rolls back and throws when
 * either fails, and the transaction goes on. Once the data is written, end() closes the COPY at
 * once (postgres.js refuses statements while it is open).
 */
async function copyIn(tx: postgres.TransactionSql<any>, statement: string, data: Uint8Array): Promise<void> {
  await tx.savepoint(async (sp) => {
    const stream = await sp.unsafe(statement).writable()
    await new Promise<void>((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())))
    stream.end()
    await sp.unsafe('select 1')
  })
}

function queryable(sql: postgres.Sql<any> | postgres.TransactionSql<any>, inTransaction = false): Queryable {
  return {
    ...(inTransaction && { copyIn: (statement: string, data: Uint8Array) => copyIn(sql as postgres.TransactionSql<any>, statement, data) }),
    async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])
      return rows.map(normaliseRow) as T[]
    },
    async exec(script: string): Promise<void> {
      await sql.unsafe(script).simple()
    },
    async select(text, params = [], limit = Infinity) {
      const result = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]).values()
      const columns = (result.columns ?? []).map((c) => c.name)
      const truncated = result.length > limit
      const rows = (truncated ? result.slice(0, limit) : result) as unknown[][]
      for (const row of rows) normaliseValues(row)
      return { columns, rows, truncated }
    },
    async insertRows(table, columns, rows): Promise<number> {
      if (rows.length === 0) return 0
      const perStatement = Math.max(1, Math.min(1000, Math.floor(MAX_PARAMETERS / columns.length)))
      const head = `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES `
      for (let i = 0; i < rows.length; i += perStatement) {
        const chunk = rows.slice(i, i + perStatement)
        const tuples = chunk.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`)
        await sql.unsafe(head + tuples.join(', '), chunk.flat() as postgres.ParameterOrJSON<never>[])
      }
      return rows.length
    },
  }
}

function normaliseValues(row: unknown[]): void {
  for (let i = 0; i < row.length; i++) {
    const v = row[i]
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) row[i] = Number(v)
  }
}

/** bigint columns come back as numbers when they are safe integers, as they are for times in ms. */
function normaliseRow(row: Row): Row {
  for (const key of Object.keys(row)) {
    const v = row[key]
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) {
      row[key] = Number(v)
    }
  }
  return row
}

class PostgresStorage implements Storage {
  readonly dialect = 'postgres' as const
  readonly location: string
  readonly #sql: Sql
  readonly #direct: Queryable

  constructor(sql: Sql, location: string) {
    this.#sql = sql
    this.location = location
    this.#direct = queryable(sql)
  }

  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
    return this.#direct.query<T>(text, params)
  }

  exec(script: string): Promise<void> {
    return this.#direct.exec(script)
  }

  select(text: string, params?: readonly unknown[], limit?: number): Promise<Selected> {
    return this.#direct.select(text, params, limit)
  }

  insertRows(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<number> {
    return this.#direct.insertRows(table, columns, rows)
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (options.readOnly) return (await this.#sql.begin('read only', (tx) => fn(queryable(tx, true)))) as T
    return (await this.#sql.begin((tx) => fn(queryable(tx, true)))) as T
  }

  async countStatements(script: string): Promise<StatementCount> {
    // Parse without executing: PostgreSQL refuses several commands in one prepared statement.
    try {
      await this.#sql.unsafe(script, [], { prepare: false }).describe()
      // An empty query parses too; only the text tells it from one statement.
      return isBlankSql(script) ? 'none' : 'one'
    } catch (err) {
      const e = err as { code?: string; message?: string }
      if (e.code === SYNTAX_ERROR && /multiple commands/.test(e.message ?? '')) return 'many'
      return 'unknown'
    }
  }

  async withLock<T>(name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    // A session-level advisory lock lives on one connection: reserve it for the whole run.
    const reserved = await this.#sql.reserve()
    try {
      const key = `mt5-engine:${name}`
      const deadline = Date.now() + timeoutMs
      for (let wait = 25; ; wait = Math.min(wait * 2, 250)) {
        const [row] = await reserved.unsafe(
          'select pg_try_advisory_lock(hashtext($1 || current_database())) as locked',
          [key],
        )
        if (row?.locked === true) break
        if (Date.now() >= deadline) {
          throw lockTimeoutError(name, this.location, timeoutMs, key)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(1, deadline - Date.now()))))
      }
      try {
        return await fn()
      } finally {
        await reserved.unsafe('select pg_advisory_unlock(hashtext($1 || current_database()))', [key])
      }
    } finally {
      reserved.release()
    }
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 })
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
