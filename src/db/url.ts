/**
 * The one parser of database URLs, and the masking of the secrets they carry. Configuration
 * validates with it, the PostgreSQL opener connects with what it returns, and every message that
 * could show a URL or a driver error goes through `maskSecrets` or `redactError` first.
 */
import { isIPv6 } from 'node:net'
import { EngineError, ErrorCodes } from '../errors.js'

export interface PostgresHost {
  host: string
  port: number
}

/** A PostgreSQL URL taken apart, in the terms postgres.js takes as options. */
export interface PostgresTarget {
  /** Hosts in the order they are tried; the first that accepts a connection is used. */
  hosts: PostgresHost[]
  /** A Unix socket (`<dir>/.s.PGSQL.<port>`) when the host is a folder, as in `?host=/run/postgresql`. */
  socketPath: string | undefined
  /** Undefined: the driver's default (`PGDATABASE`, else the user name). */
  database: string | undefined
  /** Undefined: the driver's default (`PGUSER`, else the operating-system user). */
  user: string | undefined
  /** Undefined: the driver's default (`PGPASSWORD`, else none). */
  password: string | undefined
  /** The other query parameters, for the driver (`sslmode`, `application_name`, server settings). */
  params: [string, string][]
  /** The URL with every secret replaced by `***`: what messages show. */
  masked: string
}

const DEFAULT_PORT = 5432
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']
/**
 * libpq reads these from a URL, postgres.js does not: it would send them to the server as settings
 * (the server refuses them, having received the value, a password among them).
 */
const UNSUPPORTED_PARAMS = ['sslcert', 'sslkey', 'sslpassword', 'sslcrl', 'sslcrldir', 'passfile', 'service', 'hostaddr']
/** Query parameters whose values are masked in messages. */
const SECRET_PARAM = /pass|secret|token|key/i

/**
 * Every password this process has parsed (and `PGPASSWORD`), masked wherever it appears in a
 * message. Process-wide on purpose: a driver error thrown far from the URL that caused it (in a
 * worker, in a retry) must still never show the password. Short ones only in URLs: masking every
 * "abc" in every line would mangle output and protect little.
 */
const knownSecrets = new Set<string>()
const MIN_LITERAL_SECRET = 4

/** Adds a secret to mask in every later message of this thread. */
export function rememberSecret(secret: string | undefined): void {
  if (secret === undefined || secret.length < MIN_LITERAL_SECRET) return
  knownSecrets.add(secret)
  try {
    knownSecrets.add(encodeURIComponent(secret))
  } catch {
    // a lone surrogate cannot be encoded, and so cannot appear encoded either
  }
}

/** True for a value that names a URL, `scheme://...`, rather than a SQLite file path. */
export function looksLikeUrl(database: string): boolean {
  return SCHEME.test(database)
}

export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database)
}

function invalid(url: string, problem: string, part: string, fix: string): never {
  throw new EngineError(ErrorCodes.CONFIG_INVALID, `database URL ${maskSecrets(url)}: ${problem}; ${fix}`, {
    option: 'database',
    part,
    database: maskSecrets(url),
  })
}

function decode(url: string, text: string, part: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return invalid(url, `the ${part} has a bad percent-encoding`, part, 'write a literal % as %25')
  }
}

/**
 * Takes a `postgres://` or `postgresql://` URL apart as libpq reads it:
 * `postgres://[user[:password]@][host][:port][,host[:port]...][/database][?param=value&...]`.
 * Hosts may be names, IPv4 or bracketed IPv6 addresses, or a percent-encoded socket folder. Throws
 * CONFIG_INVALID naming the part that is wrong; the message never shows the password.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const scheme = SCHEME.exec(url)
  if (!scheme || !/^postgres(ql)?$/i.test(scheme[1]!)) {
    return invalid(url, `the scheme must be postgres:// or postgresql://`, 'scheme', 'or give a SQLite file path')
  }
  const afterScheme = url.slice(scheme[0].length)
  // The password may hold '/', '?' or '#' only percent-encoded; the last '@' ends the user info
  // so that a raw one is reported as such instead of being read as a host and shown.
  const at = afterScheme.lastIndexOf('@')
  const userInfo = at >= 0 ? afterScheme.slice(0, at) : undefined
  const rest = at >= 0 ? afterScheme.slice(at + 1) : afterScheme
  if (userInfo !== undefined) rememberRawPassword(userInfo)
  if (userInfo !== undefined && /[/?#]/.test(userInfo)) {
    return invalid(url, `the user name or password holds a raw '/', '?' or '#'`, 'user info', 'percent-encode them (%2F, %3F, %23)')
  }
  const end = rest.search(/[/?#]/)
  const hostList = end < 0 ? rest : rest.slice(0, end)
  const tail = end < 0 ? '' : rest.slice(end)
  const hashAt = tail.indexOf('#')
  if (hashAt >= 0) return invalid(url, `a fragment (#...) has no meaning in a database URL`, 'fragment', 'remove it, or percent-encode a # as %23')
  const queryAt = tail.indexOf('?')
  const path = queryAt < 0 ? tail : tail.slice(0, queryAt)
  const query = queryAt < 0 ? '' : tail.slice(queryAt + 1)

  let user: string | undefined
  let password: string | undefined
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':')
    user = decode(url, colon < 0 ? userInfo : userInfo.slice(0, colon), 'user name') || undefined
    password = colon < 0 ? undefined : decode(url, userInfo.slice(colon + 1), 'password') || undefined
    rememberSecret(password)
  }

  const params = new URLSearchParams(query)
  for (const [key, value] of params) if (SECRET_PARAM.test(key)) rememberSecret(value)
  const extra: [string, string][] = []
  let hostParam: string | undefined
  let portParam: string | undefined
  let database = path.length > 1 ? decode(url, path.slice(1), 'database name') : undefined
  for (const [key, value] of params) {
    switch (key) {
      case 'password':
        if (password !== undefined && value !== '' && value !== password) {
          invalid(url, 'it gives two different passwords (in the user info and in ?password=)', 'password', 'give one of them')
        }
        password = value || password
        break
      case 'user':
        user = value || user
        break
      case 'dbname':
        database = value || database
        break
      case 'host':
        hostParam = value
        break
      case 'port':
        portParam = value
        break
      case 'sslmode':
        if (!SSL_MODES.includes(value)) invalid(url, `sslmode must be one of ${SSL_MODES.join(', ')}`, 'sslmode', 'fix the sslmode parameter')
        extra.push([key, value])
        break
      case 'sslrootcert':
        if (value !== 'system') {
          invalid(url, 'sslrootcert accepts only "system" here (the driver reads no certificate files from the URL)', key, 'use sslrootcert=system, or put the CA into the system store')
        }
        extra.push([key, value])
        break
      default:
        if (UNSUPPORTED_PARAMS.includes(key)) {
          invalid(url, `${key} is not supported (the driver would send it to the server as a setting)`, key, 'remove it; for client certificates connect through a TLS proxy')
        }
        extra.push([key, value])
    }
  }
  if (database !== undefined && database.includes('/')) {
    invalid(url, `the database name holds a '/'`, 'database name', 'percent-encode it as %2F if it is really part of the name')
  }

  let hosts = parseHosts(url, hostParam ?? hostList, hostParam !== undefined)
  if (portParam !== undefined) {
    const ports = portParam.split(',').map((p) => parsePort(url, p))
    if (ports.length !== 1 && ports.length !== hosts.length) {
      invalid(url, `?port= names ${ports.length} ports for ${hosts.length} hosts`, 'port', 'give one port, or one per host')
    }
    hosts = hosts.map((h, i) => ({ host: h.host, port: ports[ports.length === 1 ? 0 : i]! }))
  }
  let socketPath: string | undefined
  if (hosts.length === 1 && hosts[0]!.host.startsWith('/')) {
    socketPath = `${hosts[0]!.host}/.s.PGSQL.${hosts[0]!.port}`
    hosts = []
  } else if (hosts.some((h) => h.host.startsWith('/'))) {
    invalid(url, 'a socket folder cannot be mixed with other hosts', 'host', 'give either one socket folder or network hosts')
  }
  if (hosts.length > 1 && params.has('target_session_attrs')) {
    invalid(url, 'target_session_attrs is not supported with several hosts', 'target_session_attrs', 'remove it: the engine uses the first host that accepts a connection')
  }
  return { hosts, socketPath, database, user, password, params: extra, masked: maskSecrets(url) }
}

/** The text after the user name is a password even when the URL around it is broken. */
function rememberRawPassword(userInfo: string): void {
  const colon = userInfo.indexOf(':')
  if (colon < 0) return
  const raw = userInfo.slice(colon + 1)
  rememberSecret(raw)
  try {
    rememberSecret(decodeURIComponent(raw))
  } catch {
    // a bad encoding is reported by the parser; the raw form is remembered already
  }
}

function parseHosts(url: string, list: string, fromParam: boolean): PostgresHost[] {
  // an empty host means the driver's default, localhost (postgres.js does not read PGHOST's list)
  if (list === '') return [{ host: 'localhost', port: DEFAULT_PORT }]
  return list.split(',').map((item) => {
    if (item === '') invalid(url, 'the host list has an empty entry', 'host', 'remove the extra comma')
    if (item.startsWith('[')) {
      const close = item.indexOf(']')
      if (close < 0) invalid(url, `the bracketed IPv6 address "${item}" has no closing ]`, 'bracketed IPv6', 'write it as [address] or [address]:port')
      const address = item.slice(1, close)
      if (!isIPv6(address)) invalid(url, `"${address}" in brackets is not an IPv6 address`, 'bracketed IPv6', 'brackets hold only an IPv6 address')
      const after = item.slice(close + 1)
      if (after !== '' && !after.startsWith(':')) invalid(url, `unexpected text after the IPv6 address [${address}]`, 'bracketed IPv6', 'write it as [address]:port')
      return { host: address, port: after === '' ? DEFAULT_PORT : parsePort(url, after.slice(1), `[${address}]`) }
    }
    const colon = item.lastIndexOf(':')
    const name = decode(url, colon < 0 ? item : item.slice(0, colon), 'host')
    if (colon >= 0 && name.includes(':')) invalid(url, `"${name}" looks like an IPv6 address without brackets`, 'bracketed IPv6', 'write IPv6 addresses as [address]:port')
    if (/[\s[\]@]/.test(name)) invalid(url, `the host "${name}" holds a character a host name cannot`, 'host', 'check the host name')
    if (name === '' && !fromParam) invalid(url, 'a port is given without a host', 'host', 'put the host before the port')
    return { host: name || 'localhost', port: colon < 0 ? DEFAULT_PORT : parsePort(url, item.slice(colon + 1), name) }
  })
}

function parsePort(url: string, text: string, host?: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port >= 1 && port <= 65535)) {
    // not shown: a URL missing its host puts the password where the port goes
    if (/\D/.test(text)) rememberSecret(text)
    invalid(url, `the port${host ? ` of ${host}` : ''} is not a number from 1 to 65535`, 'port', 'fix the port')
  }
  return port
}

/** A URL in running text; punctuation that ends a sentence (`at URL: reason`) is not part of it. */
const URL_IN_TEXT = /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^\s"'`<>]*[^\s"'`<>:;,.)])?/g

/**
 * Replaces the secrets in a text with `***`: in every URL, the user info's password
 * and the values of secret query parameters (even when the URL is broken); anywhere, every
 * password this process has parsed.
 */
export function maskSecrets(text: string): string {
  let out = text.replace(URL_IN_TEXT, maskUrlText)
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join('***')
  return out
}

function maskUrlText(url: string): string {
  const start = url.indexOf('://') + 3
  // the last '@': a raw '@', '/' or '?' in a password must not end the user info early
  const at = url.lastIndexOf('@')
  let head = url.slice(0, start)
  let rest = url.slice(start)
  if (at >= start) {
    const userInfo = url.slice(start, at)
    const colon = userInfo.indexOf(':')
    head += colon < 0 ? userInfo : `${userInfo.slice(0, colon)}:***`
    rest = url.slice(at)
  } else {
    // no '@': a "port" that is not a number may be a password whose host was left out
    rest = rest.replace(/^([^/?#,]*?):([^/?#,]*[^/?#,\d][^/?#,]*)(?=[/?#,]|$)/, (all, host: string) => (host.startsWith('[') ? all : `${host}:***`))
  }
  rest = rest.replace(/([?&][^=&#]*=)([^&#]*)/g, (all, key: string) => (SECRET_PARAM.test(key) ? `${key}***` : all))
  return head + rest
}

/** Masks every string inside a plain value (error details, JSON output). */
export function maskDeep<T>(value: T): T {
  if (typeof value === 'string') return maskSecrets(value) as T
  if (Array.isArray(value)) return value.map(maskDeep) as T
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v)])) as T
  }
  return value
}

/**
 * A copy of an error safe to show or keep: message, stack, detail and the whole cause chain
 * masked, and nothing else kept (Node's `TypeError: Invalid URL` carries the URL in `input`;
 * a driver may attach its options). Engine errors stay engine errors with their code.
 */
export function redactError(err: unknown, depth = 0): Error {
  if (!(err instanceof Error)) return new Error(maskSecrets(String(err)))
  const cause = err.cause !== undefined && depth < 8 ? { cause: redactError(err.cause, depth + 1) } : undefined
  const copy =
    err instanceof EngineError
      ? new EngineError(err.code, maskSecrets(err.message), err.detail && maskDeep(err.detail), cause)
      : Object.assign(new Error(maskSecrets(err.message), cause), { name: err.name })
  const code = (err as { code?: unknown }).code
  if (!(err instanceof EngineError) && (typeof code === 'string' || typeof code === 'number')) Object.assign(copy, { code })
  copy.stack = err.stack === undefined ? undefined : maskSecrets(err.stack)
  return copy
}
