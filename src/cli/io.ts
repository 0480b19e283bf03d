/**
 * What every command family shares: the Io the CLI writes through, argument parsing with the
 * engine options each command takes, the exit code of a failure, and table printing.
 */
import { parseArgs } from 'node:util'
import { flagKey, optionNames, options, optionsHelp, takesFlag, type OptionName } from '../config/options.js'
import { resolveConfig } from '../config/resolve.js'
import { maskSecrets, redactError } from '../db/url.js'
import { EngineError, ErrorCodes, withFlagNames } from '../errors.js'

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  env: Record<string, string | undefined>
  cwd: string
  /** Writes without masking secrets: only for a new token, which must be shown exactly. */
  outExact?: (text: string) => void
}

/**
 * Every line the CLI prints goes through the masking of database secrets: a password must not
 * reach a terminal, a service log or a CI transcript, whichever message carries it.
 */
export function maskedIo(io: Io): Io {
  return { ...io, out: (text) => io.out(maskSecrets(text)), err: (text) => io.err(maskSecrets(text)), outExact: io.outExact ?? io.out }
}

/** parseArgs' option entries, named here so that the declarations of `parse` can be emitted. */
export type Options = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>

/** The parseArgs entries of the engine options whose flags `command` takes. */
export function engineFlags(command: 'every' | 'start' | 'command send' | 'bars'): Options {
  const entries = optionNames
    .filter((name) => takesFlag(name, command))
    .map((name) => [flagKey(name), { type: options[name].negatable ? 'boolean' : 'string' }] as const)
  return Object.fromEntries(entries)
}

/** Engine options of `command`, in the table's order. */
export function engineOptionNames(command: 'every' | 'start' | 'command send' | 'bars'): OptionName[] {
  return optionNames.filter((name) => takesFlag(name, command))
}

const commonOptions = {
  config: { type: 'string' },
  ...engineFlags('every'),
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

/** The lines after "Options for every command:"; `migrate --help` prints them too. */
export const commonOptionsUsage = optionsHelp(engineOptionNames('every'), [
  ['--config FILE', 'JSON config file (default ./mt5-engine.json if present; MT5E_CONFIG)'],
  ['--wait', 'migrate: wait for the database to accept connections (up to 60s)'],
  ['--wait-timeout TIME', 'migrate: how long --wait waits, like 60s, 1500ms or 2m; implies --wait'],
  ['--json', 'machine-readable output'],
])

/** What `parse` found: flags by their names (a string, true, or the strings of a `multiple` one), and the positionals. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

export function parse(args: string[], options: Options): Parsed {
  return parseArgs({ args, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true })
}

/** The configuration from the engine flags among `values` (a negatable one as `--no-<flag>`), the environment and the file. */
export function configFrom(values: Record<string, unknown>, io: Io) {
  const flags: Partial<Record<OptionName, unknown>> = {}
  for (const name of optionNames) {
    const value = values[flagKey(name)]
    if (value !== undefined) flags[name] = options[name].negatable ? !value : value
  }
  return resolveConfig({ flags, env: io.env, cwd: io.cwd, configFile: values.config as string | undefined })
}

/** The flag that sets each API option the migrator's messages name ("the steps option"). */
export const optionFlags = { steps: '--steps', to: '--to', allowOutOfOrder: '--allow-out-of-order', timeoutMs: '--wait-timeout', lockTimeoutMs: '--lock-timeout' }

export function fail(err: unknown, io: Io, json: boolean): number {
  if (err instanceof EngineError) {
    // the detail and the cause may carry a driver's view of the URL: masked before printing
    const safe = redactError(err) as EngineError
    io.err(json ? JSON.stringify({ error: safe.toJSON() }) + '\n' : `error ${safe.code}: ${withFlagNames(safe, optionFlags)}\n`)
    return err.code === ErrorCodes.USAGE ? 2 : 1
  }
  if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    io.err(`error USAGE: ${err.message}; run mt5-engine help\n`)
    return 2
  }
  io.err(`error: ${redactError(err).stack ?? String(err)}\n`)
  return 1
}

export function wholeNumber(value: unknown, flag: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new EngineError(ErrorCodes.USAGE, `${flag} must be a whole number >= 1; got "${value}"`)
  return n
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd() + '\n').join('')
}
