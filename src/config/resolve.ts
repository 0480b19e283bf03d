/**
 * The one place where configuration is resolved: flags > environment (`MT5E_*`) > config file >
 * defaults. No other module reads `process.env`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { isPostgresUrl, looksLikeUrl, maskSecrets, parsePostgresUrl, rememberSecret } from '../db/url.js'
import { EngineError, ErrorCodes } from '../errors.js'
import {
  defaultOptions,
  InvalidValue,
  optionNames,
  options,
  type EngineOptions,
  type OptionName,
  type OptionSpec,
} from './options.js'

export { isPostgresUrl }
export { defaultOptions, envNames, flagNames, type EngineOptions, type OptionName, type Synchronous } from './options.js'

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
  for (const name of optionNames) {
    const spec: OptionSpec<unknown> = options[name]
    const flag = input.flags?.[name]
    // DATABASE_URL is what hosting platforms and compose files set; our own variable wins.
    const envName = spec.envFallback && !env[spec.env] && env[spec.envFallback] ? spec.envFallback : spec.env
    const fromEnv = env[envName]
    if (flag !== undefined) {
      out[name] = coerce(name, flag, spec.flag)
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
  const resolved = out as unknown as EngineOptions
  const dataDir = resolve(cwd, resolved.dataDir)
  let database = resolved.database ?? join(dataDir, 'mt5-engine.db')
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
    ...resolved,
    dataDir,
    database,
    dialect,
    migrationsDir: resolve(cwd, resolved.migrationsDir),
    rollbacksDir: resolve(cwd, resolved.rollbacksDir),
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
  const known = new Set<string>(optionNames)
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
  try {
    return (options[name] as OptionSpec<unknown>).parse(value)
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err
    throw new EngineError(ErrorCodes.CONFIG_INVALID, `${where} must be ${err.expected}; got ${JSON.stringify(value)}`, {
      option: name,
      value,
    })
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
