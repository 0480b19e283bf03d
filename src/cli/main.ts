#!/usr/bin/env node
/**
 * `mt5-engine`: the command line. One file per command family (start, migrate, token, command, bars);
 * configuration goes through resolveConfig, so flags, `MT5E_*` variables and the config file mean
 * the same everywhere.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { optionNames, optionsHelp, optionsMarkdown } from '../config/options.js'
import { EngineError, ErrorCodes } from '../errors.js'
import { renderQueriesMarkdown } from '../query/docs.js'
import { barsCommand, barsUsageLines } from './bars.js'
import { commandCommand, commandUsageLines } from './command.js'
import { commonOptionsUsage, fail, maskedIo, type Io } from './io.js'
import { migrate, migrateUsageLines } from './migrate.js'
import { start, startOptionsUsage, startUsage } from './start.js'
import { tokenCommand, tokenUsageLines } from './token.js'

export type { Io }

export const usage = `mt5-engine: a data engine for MetaTrader 5

Usage:
${startUsage}${migrateUsageLines}${tokenUsageLines}${commandUsageLines}${barsUsageLines}  mt5-engine help options [--markdown]
  mt5-engine help queries                 (docs/QUERIES.md)

Options for start:
${startOptionsUsage}
Options for every command:
${commonOptionsUsage}`

/** Runs one command line; returns the exit code: 0 ok, 1 failed or drift, 2 usage. */
export async function runCli(argv: string[], rawIo: Io): Promise<number> {
  const [command, ...rest] = argv
  const io = maskedIo(rawIo)
  try {
    switch (command) {
      case 'start':
        return await start(rest, io)
      case 'migrate':
        return await migrate(rest, io)
      case 'token':
        return await tokenCommand(rest, io)
      case 'command':
        return await commandCommand(rest, io)
      case 'bars':
        return await barsCommand(rest, io)
      case 'help':
        if (rest[0] === 'options') return helpOptions(rest.slice(1), io)
        if (rest[0] === 'queries') {
          io.out(renderQueriesMarkdown())
          return 0
        }
        io.out(usage)
        return 0
      case undefined:
      case '--help':
      case '-h':
        io.out(usage)
        return command === undefined ? 2 : 0
      default:
        throw new EngineError(ErrorCodes.USAGE, `unknown command "${command}"; run mt5-engine help`)
    }
  } catch (err) {
    return fail(err, io, argv.includes('--json'))
  }
}

/** `help options`: every engine option with its flag, variable and default; `--markdown` as the README's table. */
function helpOptions(args: string[], io: Io): number {
  const unknown = args.find((a) => a !== '--markdown')
  if (unknown !== undefined) throw new EngineError(ErrorCodes.USAGE, `help options takes only --markdown; got "${unknown}"`)
  io.out(args.includes('--markdown') ? optionsMarkdown() : optionsHelp(optionNames))
  return 0
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isMain()) {
  const io: Io = {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  }
  runCli(process.argv.slice(2), io).then((code) => {
    process.exitCode = code
  })
}
