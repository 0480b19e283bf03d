/**
 * Shared test fixtures: temp folders, a SQLite file or a fresh PostgreSQL database per test, and
 * the engine's CLI as a real child process.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import type { test } from 'tap'
import { openPostgres } from '../src/db/storage/postgres.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import type { Dialect, Storage } from '../src/db/storage/types.js'

/** The type of `t` inside a tap test. */
export type Test = Parameters<Parameters<typeof test>[0]>[0]

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js')

/**
 * The PostgreSQL server tests use: `MT5E_TEST_POSTGRES_URL`, else the local default. CI sets
 * `MT5E_TEST_REQUIRE_POSTGRES=1`, which turns "not reachable" from a skip into a failure.
 */
const adminUrl = process.env.MT5E_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const requirePostgres = process.env.MT5E_TEST_REQUIRE_POSTGRES === '1'

let reachable: Promise<string | undefined> | undefined

/** Resolves to undefined when PostgreSQL answers, or to the reason it does not. */
function postgresProblem(): Promise<string | undefined> {
  reachable ??= (async () => {
    const sql = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} })
    try {
      await sql`select 1`
      return undefined
    } catch (err) {
      return (err as Error).message
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  })()
  return reachable
}

export interface Backend {
  dialect: Dialect
  /** What `--database` takes: a SQLite path or a PostgreSQL URL. */
  database: string
  open(): Promise<Storage>
}

export function tempDir(t: Test, prefix = 'mt5e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

let databaseCounter = 0

/** A fresh, empty PostgreSQL database for one test, dropped at teardown. */
async function freshPostgres(t: Test): Promise<string> {
  const name = `mt5e_test_${process.pid}_${Date.now().toString(36)}_${databaseCounter++}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  t.teardown(async () => {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
    await sql.unsafe(`drop database if exists ${name} with (force)`)
    await sql.end()
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * Runs `fn` as a subtest once per backend: SQLite always, PostgreSQL when a server answers (and
 * always in CI). Each run gets an empty database of its own.
 */
export async function eachBackend(t: Test, name: string, fn: (t: Test, backend: Backend) => Promise<void>): Promise<void> {
  await t.test(`${name} (sqlite)`, async (t) => {
    const path = join(tempDir(t), 'engine.db')
    const opened: Storage[] = []
    t.teardown(() => Promise.all(opened.map((s) => s.close())))
    await fn(t, {
      dialect: 'sqlite',
      database: path,
      open: async () => {
        const s = openSqlite({ path })
        opened.push(s)
        return s
      },
    })
  })
  const problem = await postgresProblem()
  if (problem !== undefined) {
    if (requirePostgres) {
      t.fail(`PostgreSQL at ${adminUrl} is required (MT5E_TEST_REQUIRE_POSTGRES=1) but not reachable: ${problem}`)
    } else {
      t.comment(`${name} (postgres): SKIPPED, no PostgreSQL at ${adminUrl}: ${problem}`)
    }
    return
  }
  await t.test(`${name} (postgres)`, async (t) => {
    const url = await freshPostgres(t)
    const opened: Storage[] = []
    t.teardown(() => Promise.all(opened.map((s) => s.close())))
    await fn(t, {
      dialect: 'postgres',
      database: url,
      open: async () => {
        const s = await openPostgres({ url })
        opened.push(s)
        return s
      },
    })
  })
}

/** A SQLite backend in a temp folder, for behaviour that lives above storage (the gateway's limits). */
export function sqliteBackend(t: Test): Backend {
  const path = join(tempDir(t), 'engine.db')
  const opened: Storage[] = []
  t.teardown(() => Promise.all(opened.map((s) => s.close())))
  return {
    dialect: 'sqlite',
    database: path,
    open: async () => {
      const s = openSqlite({ path })
      opened.push(s)
      return s
    },
  }
}

/** Writes files into `dir`, creating it; `null` content is skipped (handy for optional rollbacks). */
export function writeFiles(dir: string, files: Record<string, string | null>): void {
  mkdirSync(dir, { recursive: true })
  for (const [name, text] of Object.entries(files)) if (text !== null) writeFileSync(join(dir, name), text)
}

export interface MigrationFixture {
  migrationsDir: string
  rollbacksDir: string
}

/** A migrations/ and rollbacks/ pair in a temp folder, filled from `[fileName, up, down]` triples. */
export function fixture(t: Test, entries: [string, string, string | null][]): MigrationFixture {
  const root = tempDir(t)
  const migrationsDir = join(root, 'migrations')
  const rollbacksDir = join(root, 'rollbacks')
  writeFiles(migrationsDir, Object.fromEntries(entries.map(([f, up]) => [f, up])))
  writeFiles(rollbacksDir, Object.fromEntries(entries.map(([f, , down]) => [f, down])))
  return { migrationsDir, rollbacksDir }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `mt5-engine ARGS` as a child process, without the runner's MT5E_* and DATABASE_URL. */
export function runCliProcess(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...options.env }
    // A developer's MT5E_* or DATABASE_URL must not point the child at their own database.
    for (const key of Object.keys(env)) {
      if ((key.startsWith('MT5E_') || key === 'DATABASE_URL') && !(options.env && key in options.env)) delete env[key]
    }
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd ?? repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
  })
}

/** The names of the user objects (tables, views, indexes, triggers, functions) in the database. */
export async function schemaObjects(storage: Storage): Promise<string[]> {
  const rows =
    storage.dialect === 'postgres'
      ? await storage.query<{ name: string }>(
          `select relname as name from pg_class where relnamespace = current_schema()::regnamespace
           union all select proname from pg_proc where pronamespace = current_schema()::regnamespace
           union all select typname from pg_type t where typnamespace = current_schema()::regnamespace
             and typtype = 'e'
           order by 1`,
        )
      : await storage.query<{ name: string }>(
          `select name from sqlite_schema where name not like 'sqlite_%' order by 1`,
        )
  return rows.map((r) => r.name)
}
