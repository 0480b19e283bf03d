/**
 * Keeps trying to open the database until it accepts connections (the CLI's `migrate --wait`). A migration
 * step in a container or a deploy script often starts alongside the database server, before it
 * listens, or before an init script has created the database.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { EngineError, ErrorCodes } from '../../errors.js'
import type { Storage } from '../storage/types.js'

export interface WaitOptions {
  /** Give up after this long; messages call it "the timeoutMs option" (`detail.option`). */
  timeoutMs: number
  /** The database for messages, its password masked. */
  location: string
}

/**
 * Calls `open` until it resolves. Only DATABASE_UNAVAILABLE is retried: any other error (a bad
 * option, a file that is not a database) will not go away by waiting.
 */
export async function waitForDatabase(open: () => Promise<Storage>, options: WaitOptions): Promise<Storage> {
  const deadline = Date.now() + options.timeoutMs
  let pause = 100
  let lastError: EngineError | undefined
  for (;;) {
    const left = deadline - Date.now()
    if (left <= 0) break
    const attempt = open()
    const outcome = await within(attempt, left)
    if (outcome.kind === 'opened') return outcome.storage
    if (outcome.kind === 'late') {
      // A connection that arrives after the deadline is nobody's: close it when it comes.
      attempt.then((s) => s.close(), () => {})
      break
    }
    if (!(outcome.error instanceof EngineError) || outcome.error.code !== ErrorCodes.DATABASE_UNAVAILABLE) throw outcome.error
    lastError = outcome.error
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())))
    pause = Math.min(pause * 2, 1000)
  }
  throw new EngineError(
    ErrorCodes.DATABASE_UNAVAILABLE,
    `the database at ${options.location} did not accept connections within ${seconds(options.timeoutMs)} (the timeoutMs option)` +
      `${lastError ? `; the last attempt said: ${lastError.message}` : ''}; check that the server is running and the ` +
      'address and database name are right, or wait longer with the timeoutMs option',
    { location: options.location, timeoutMs: options.timeoutMs, option: 'timeoutMs', ...(lastError && { last: lastError.toJSON() }) },
  )
}

type Outcome = { kind: 'opened'; storage: Storage } | { kind: 'failed'; error: unknown } | { kind: 'late' }

async function within(attempt: Promise<Storage>, ms: number): Promise<Outcome> {
  const timer = new AbortController()
  try {
    return await Promise.race([
      attempt.then(
        (storage): Outcome => ({ kind: 'opened', storage }),
        (error: unknown): Outcome => ({ kind: 'failed', error }),
      ),
      sleep(ms, undefined, { signal: timer.signal }).then((): Outcome => ({ kind: 'late' })),
    ])
  } finally {
    timer.abort()
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

/**
 * A duration as the CLI takes it: `60s`, `1500ms`, `2m`, or a bare number of milliseconds like
 * every other timeout option here. `flag` names the option in the message.
 */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!m) {
    throw new EngineError(ErrorCodes.USAGE, `${flag} takes a duration like 60s, 1500ms or 2m; got "${text}"`)
  }
  const scale = m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1
  return Math.round(Number(m[1]) * scale)
}
