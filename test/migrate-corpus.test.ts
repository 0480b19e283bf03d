/**
 * A long history of the kind real projects accumulate, generated: tables with foreign keys,
 * indexes, columns, views, triggers, seed data with comment-only rollbacks, placeholders, table
 * rebuilds, and on PostgreSQL another schema, an extension, types, grants and a file that must run
 * outside a transaction. It must go all up, all down and all up again to the same bytes.
 */
import t from 'tap'
import type { Dialect } from '../src/db/storage/types.js'
import { createMigrator } from '../src/db/migrator/migrator.js'
import { eachBackend, fixture, runCliProcess, tempDir } from './helpers.js'

const COUNT = 210

type Entry = [file: string, up: string, down: string | null]

function version(i: number): string {
  return new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)
}

/** The history, in order; `latest` is the newest table the later files build on. */
function corpus(dialect: Dialect): Entry[] {
  const pg = dialect === 'postgres'
  const entries: Entry[] = []
  let latest: string | undefined
  let check = 0
  const add = (i: number, kind: string, up: string, down: string | null) => entries.push([`${version(i)}_${kind}_${i}.sql`, up, down])
  const placeholder = (i: number, why: string) =>
    add(i, 'placeholder', `-- ${why}: kept so that the numbering matches production\n`, '-- nothing to undo\n')

  add(0, 'accounts', 'CREATE TABLE accounts (id integer PRIMARY KEY, login integer NOT NULL);\nINSERT INTO accounts VALUES (1, 100);\n',
    'DROP TABLE accounts;\n')
  for (let i = 1; i < COUNT; i++) {
    if (i === 1) {
      if (!pg) placeholder(i, 'utils schema (PostgreSQL only)')
      else {
        add(i, 'utils', 'CREATE SCHEMA utils;\nCREATE FUNCTION utils.slug(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(t) $$;\n',
          'DROP FUNCTION utils.slug(text);\nDROP SCHEMA utils;\n')
      }
      continue
    }
    if (i === 2) {
      if (!pg) placeholder(i, 'citext (PostgreSQL only)')
      else add(i, 'citext', 'CREATE EXTENSION IF NOT EXISTS citext;\n', 'DROP EXTENSION citext;\n')
      continue
    }
    if (i % 50 === 25) {
      // SQLite's table rebuild, under the directive: the tables below all reference accounts.
      const before = check
      check = i
      const def = (k: number, name: string) =>
        `CREATE TABLE ${name} (id integer PRIMARY KEY, login integer NOT NULL${k ? ` CHECK (login >= -${k})` : ''});\n`
      const rebuild = (k: number) =>
        '-- mt5e:foreign-keys-off\n' + def(k, 'accounts_new') + 'INSERT INTO accounts_new SELECT id, login FROM accounts;\n' +
        'DROP TABLE accounts;\nALTER TABLE accounts_new RENAME TO accounts;\n'
      if (pg) {
        add(i, 'account_check', `ALTER TABLE accounts ADD CONSTRAINT accounts_login_${i} CHECK (login >= -${i});\n`,
          `ALTER TABLE accounts DROP CONSTRAINT accounts_login_${i};\n`)
      } else add(i, 'account_check', rebuild(check), rebuild(before))
      continue
    }
    if (i % 40 === 20 && latest) {
      const index = `${latest}_id_name_cidx`
      add(i, 'concurrent_index',
        `-- mt5e:no-transaction\nCREATE INDEX ${pg ? 'CONCURRENTLY ' : ''}IF NOT EXISTS ${index} ON ${latest} (id, name);\n`,
        `-- mt5e:no-transaction\nDROP INDEX ${pg ? 'CONCURRENTLY ' : ''}IF EXISTS ${index};\n`)
      continue
    }
    const kind = i % 10
    if (kind === 0 || kind === 7 || !latest) {
      const table = `t${i}`
      add(i, 'table',
        `CREATE TABLE ${table} (\n  id integer PRIMARY KEY,\n  account_id integer REFERENCES accounts (id),\n` +
          `  name text NOT NULL DEFAULT ''${pg ? ',\n  email citext' : ''}\n);\n`,
        `DROP TABLE ${table};\n`)
      latest = table
    } else if (kind === 1) {
      add(i, 'index', `CREATE INDEX ${latest}_name_${i} ON ${latest} (name);\n`, `DROP INDEX ${latest}_name_${i};\n`)
    } else if (kind === 2) {
      add(i, 'seed', `INSERT INTO ${latest} (id, account_id, name) VALUES (${i}, 1, 'row ${i}');\n`,
        '-- the rows go with their table; nothing to undo here\n')
    } else if (kind === 3) {
      add(i, 'column', `ALTER TABLE ${latest} ADD COLUMN c${i} integer;\n`, `ALTER TABLE ${latest} DROP COLUMN c${i};\n`)
    } else if (kind === 4) {
      add(i, 'view', `CREATE VIEW v${i} AS SELECT id, name FROM ${latest} WHERE name <> '';\n`, `DROP VIEW v${i};\n`)
    } else if (kind === 5) {
      placeholder(i, 'moved to the analytics service')
    } else if (kind === 6) {
      if (pg) {
        add(i, 'trigger',
          `CREATE FUNCTION f${i}() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  new.name := trim(new.name); -- ; inside a body\n  RETURN new;\nEND\n$body$;\n` +
            `CREATE TRIGGER trg${i} BEFORE INSERT ON ${latest} FOR EACH ROW EXECUTE FUNCTION f${i}();\n`,
          `DROP TRIGGER trg${i} ON ${latest};\nDROP FUNCTION f${i}();\n`)
      } else {
        add(i, 'trigger',
          `CREATE TRIGGER trg${i} AFTER INSERT ON ${latest} BEGIN\n  UPDATE ${latest} SET name = trim(name) WHERE id = new.id;\nEND;\n`,
          `DROP TRIGGER trg${i};\n`)
      }
    } else if (kind === 8) {
      if (pg) {
        add(i, 'types',
          `CREATE TYPE mood${i} AS ENUM ('calm', 'busy');\nCREATE DOMAIN positive${i} AS integer CHECK (VALUE > 0);\nCREATE SEQUENCE seq${i} START ${i};\n`,
          `DROP SEQUENCE seq${i};\nDROP DOMAIN positive${i};\nDROP TYPE mood${i};\n`)
      } else placeholder(i, 'types (PostgreSQL only)')
    } else {
      if (pg) add(i, 'grant', `GRANT SELECT ON ${latest} TO PUBLIC;\n`, `REVOKE SELECT ON ${latest} FROM PUBLIC;\n`)
      else add(i, 'index', `CREATE UNIQUE INDEX ${latest}_id_${i} ON ${latest} (id, name);\n`, `DROP INDEX ${latest}_id_${i};\n`)
    }
  }
  return entries
}

t.test(`a ${COUNT}-migration history goes up, all down and up again to a byte-identical dump`, async (t) => {
  await eachBackend(t, 'round trip', async (t, backend) => {
    const entries = corpus(backend.dialect)
    t.equal(entries.length, COUNT)
    t.ok(entries.filter(([, , down]) => down?.startsWith('--')).length >= 20, 'many comment-only rollbacks')
    const dirs = fixture(t, entries)
    const storage = await backend.open()
    const migrator = createMigrator({ storage, ...dirs })

    t.same(await migrator.down(), { results: [] }, 'nothing to roll back yet (the history table is made)')
    const empty = await migrator.dump()

    const first = await migrator.up()
    t.equal(first.error, undefined, first.error?.message ?? `${COUNT} applied`)
    t.equal(first.results.filter((r) => r.status === 'applied').length, COUNT)
    const dump1 = await migrator.dump()
    if (backend.dialect === 'postgres') {
      t.match(dump1, /^CREATE SCHEMA utils;$/m)
      t.match(dump1, /^CREATE EXTENSION citext WITH SCHEMA public/m)
      t.match(dump1, /CONCURRENTLY|_id_name_cidx ON public\.t/)
      t.match(dump1, /^GRANT SELECT ON TABLE public\.t\d+ TO PUBLIC;$/m)
    } else {
      t.match(dump1, /CREATE TABLE "accounts" \(id integer PRIMARY KEY, login integer NOT NULL CHECK \(login >= -175\)\)/,
        'the last rebuild is in place')
      t.match(dump1, /_id_name_cidx ON t\d+/)
    }
    t.same(await storage.query('select count(*) as n from accounts'), [{ n: 1 }], 'the rebuilds kept the row')

    const down = await migrator.down({ to: '0' })
    t.equal(down.error, undefined, down.error?.message ?? 'all rolled back')
    t.equal(down.results.length, COUNT)
    t.equal(await migrator.dump(), empty, 'all down leaves the schema as it was before the first')

    const again = await migrator.up()
    t.equal(again.error, undefined, again.error?.message ?? 'applied again')
    t.equal(await migrator.dump(), dump1, 'byte-identical')
    const status = await migrator.status()
    t.equal(status.drift, false)
    t.ok(status.entries.every((e) => e.state === 'applied'))

    if (backend.dialect === 'sqlite') {
      const lint = await runCliProcess(['migrate', 'lint', '--dialect', 'sqlite', '--migrations-dir', dirs.migrationsDir,
        '--rollbacks-dir', dirs.rollbacksDir], { cwd: tempDir(t) })
      t.equal(lint.code, 0, lint.stderr)
      t.notMatch(lint.stdout, /foreign-key-rebuild/, 'the rebuilds run under the directive, so lint is quiet about them')
    }
  })
})
