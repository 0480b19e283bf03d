/**
 * The engine's logger: pino, one JSON object per line by default (what journald, Docker and log
 * shippers read), human-readable lines when stderr is a terminal. Every part of the engine logs
 * through a child of the one root logger built from the config, so a line names where it came
 * from (`component`, and per connection `instance`, `account`, `remote`).
 *
 * Never a secret in a line: token and password fields are redacted by path, and database URLs are
 * logged only through `describeDatabase()`, which masks their passwords.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
/** `auto`: pretty when stderr (where the log goes) is a terminal, JSON otherwise. */
export type LogFormat = (typeof LOG_FORMATS)[number]

export interface LogSettings {
  logLevel: LogLevel
  logFormat: LogFormat
}

/** Fields that may hold a secret wherever they appear in a logged object (one level deep). */
const REDACT = ['token', 'password', 'secret', 'authorization', '*.token', '*.password', '*.secret', '*.authorization']

/**
 * The root logger. `destination` defaults to stderr, written synchronously: a line logged just
 * before a crash or an exit is not lost in a buffer. Stderr, because stdout carries a command's
 * own output (`start`'s banner, `--json` results); a service manager captures both.
 */
export function createLogger(settings: LogSettings, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.logLevel,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  }
  const isTty = destination === undefined && process.stderr.isTTY === true
  const usePretty = settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && isTty)
  if (usePretty) {
    return pino(
      options,
      pretty({
        destination: destination ?? 2,
        sync: true,
        colorize: destination === undefined && isTty,
        ignore: 'pid,hostname',
        translateTime: 'SYS:HH:MM:ss.l',
      }),
    )
  }
  return pino(options, destination ?? pino.destination({ fd: 2, sync: true }))
}

/** A logger that drops everything: the default for library users who pass none. */
export const silentLogger: Logger = pino({ level: 'silent' })
