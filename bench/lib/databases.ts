/**
 * Fresh databases for each measured run: a new SQLite file in the bench's folder, or a new
 * PostgreSQL database created through the server URL given with `--database`; every one gets the
 * production schema from migrations/ before anything is timed.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { resolveConfig, type Synchronous } from '../../src/config/resolve.js'
import { prepareDatabase } from '../../src/engine.js'
import { openStorage } from '../../src/db/storage/open.js'
import type { Storage } from '../../src/db/storage/types.js'
import { createToken } from '../../src/db/sql/tokens.js'
import { repoRoot } from './paths.js'

export interface DatabaseTarget {
  dialect: 'sqlite' | 'postgres'
  /** SQLite: the folder new files go into. PostgreSQL: the server URL new databases are created through. */
  base: string
  synchronous: Synchronous
}

export interface FreshDatabase {
  /** What the engine's `--database` takes. */
  database: string
  drop(): Promise<void>
}

let counter = 0

/** A new database with every migration applied. */
export async function freshDatabase(target: DatabaseTarget, label: string): Promise<FreshDatabase> {
  const name = `${label}_${process.pid}_${counter++}`
  let fresh: FreshDatabase
  if (target.dialect === 'sqlite') {
    const dir = join(target.base, name)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    fresh = { database: join(dir, 'bench.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) }
  } else {
    const dbName = `mt5e_bench_${name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
    const admin = postgres(target.base, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${dbName} with (force)`)
    await admin.unsafe(`create database ${dbName}`)
    await admin.end()
    const url = new URL(target.base)
    url.pathname = `/${dbName}`
    fresh = {
      database: url.toString(),
      async drop() {
        const sql = postgres(target.base, { max: 1, onnotice: () => {} })
        await sql.unsafe(`drop database if exists ${dbName} with (force)`)
        await sql.end()
      },
    }
  }
  const { storage } = await prepareDatabase(configFor(fresh.database, target.synchronous))
  await storage.close()
  return fresh
}

export function configFor(database: string, synchronous: Synchronous) {
  return resolveConfig({ flags: { database, synchronous }, env: {}, cwd: repoRoot })
}

export async function withStorage<T>(database: string, synchronous: Synchronous, fn: (s: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(configFor(database, synchronous))
  try {
    return await fn(storage)
  } finally {
    await storage.close()
  }
}

export async function eaToken(database: string, synchronous: Synchronous): Promise<string> {
  return withStorage(database, synchronous, async (s) => (await createToken(s, { role: 'ea', name: `bench-${Date.now()}`, unscoped: true })).token)
}

export interface StoredCounts {
  ticks: number
  deals: number
  snapshots: number
  /** Sum of every stream's high-water seq. */
  lastSeqs: number
  /** Bytes of the database on disk (SQLite: file + WAL; PostgreSQL: pg_database_size). */
  bytes: number
}

export async function storedCounts(database: string, synchronous: Synchronous): Promise<StoredCounts> {
  return withStorage(database, synchronous, async (s) => {
    const one = async (sql: string) => Number(Object.values((await s.query<Record<string, unknown>>(sql))[0]!)[0] ?? 0)
    const bytes =
      s.dialect === 'sqlite'
        ? (await one('select page_count * page_size from pragma_page_count(), pragma_page_size()'))
        : await one('select pg_database_size(current_database())')
    return {
      ticks: await one('select count(*) from ticks'),
      deals: await one('select count(*) from deals'),
      snapshots: await one('select count(*) from account_snapshots'),
      lastSeqs: await one('select coalesce(sum(last_seq), 0) from stream_sequences'),
      bytes,
    }
  })
}

/** PostgreSQL's version string, or SQLite's. */
export async function serverVersion(target: DatabaseTarget): Promise<string> {
  if (target.dialect === 'sqlite') {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(':memory:')
    const v = (db.prepare('select sqlite_version() as v').get() as { v: string }).v
    db.close()
    return `SQLite ${v}`
  }
  const sql = postgres(target.base, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<{ v: string }[]>`select version() as v`
    return row!.v
  } finally {
    await sql.end()
  }
}
