import { spawn } from 'node:child_process'
import { chmodSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'
import t from 'tap'
import { connectDashboard } from '../src/client/dashboard-client.js'
import { resolveConfig } from '../src/config/resolve.js'
import { maskSecrets, parsePostgresUrl } from '../src/db/url.js'
import { isEngineError } from '../src/errors.js'
import { openPostgres } from '../src/db/storage/postgres.js'
import { cliPath, eachBackend, repoRoot, runCliProcess, tempDir, type CliResult, type Test } from './helpers.js'

/** Distinct enough that finding it anywhere means it leaked. */
const SECRET = 'Zq7-leaky-s3cret'
const SECRET2 = 'Wm4-other-s3cret'
/** A password that needs percent-encoding: the raw, the encoded and the decoded form must all stay hidden. */
const SPECIAL = 'p@ss/w:rd?Zq9'
const SPECIAL_ENCODED = encodeURIComponent(SPECIAL)

/** The commands every URL form goes through. */
const commands: { name: string; args: string[] }[] = [
  { name: 'start', args: ['start', '--migrate-only'] },
  { name: 'migrate status', args: ['migrate', 'status'] },
  { name: 'migrate status --json', args: ['migrate', 'status', '--json'] },
  { name: 'token list --json', args: ['token', 'list', '--json'] },
  { name: 'token create', args: ['token', 'create', '--role', 'viewer', '--name', 'secrets-test'] },
]

function assertHidden(t: Test, r: CliResult, secrets: string[], what: string): void {
  for (const s of secrets) {
    t.notOk(r.stdout.includes(s), `${what}: stdout does not show ${JSON.stringify(s)}`)
    t.notOk(r.stderr.includes(s), `${what}: stderr does not show ${JSON.stringify(s)}`)
  }
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`)
}

/** The `error` a `--json` command printed, or the code of a plain `error CODE:` line. */
function errorOf(r: CliResult): { code: string; message: string; detail?: Record<string, unknown> } | undefined {
  const line = r.stderr.trim().split('\n').pop() ?? ''
  if (line.startsWith('{')) return (JSON.parse(line) as { error: { code: string; message: string } }).error
  const m = /^error ([A-Z_]+): (.*)$/.exec(line)
  return m ? { code: m[1]!, message: m[2]! } : undefined
}

function withDatabase(url: string, password: string, host: string): string {
  const u = new URL(url)
  u.password = password
  return u.toString().replace(`@${u.host}`, `@${host}`)
}

t.test('URLs with a password in any form work, and no command shows the password', async (t) => {
  await eachBackend(t, 'password forms', async (t, backend) => {
    // the forms are PostgreSQL URLs; the SQLite run checks that PGPASSWORD stays out of its output
    if (backend.dialect === 'sqlite') {
      const cwd = tempDir(t)
      for (const c of commands) {
        const r = await runCliProcess([...c.args, '--database', backend.database], { cwd, env: { PGPASSWORD: SECRET } })
        t.equal(r.code, 0, `${c.name} on SQLite`)
        assertHidden(t, r, [SECRET], `${c.name} on SQLite`)
      }
      return
    }
    const u = new URL(backend.database)
    const host = u.host
    const plain = `postgres://${u.username}@${host}${u.pathname}`
    const forms: { name: string; url: string; secrets: string[] }[] = [
      { name: 'user-info password', url: withDatabase(backend.database, SECRET, host), secrets: [SECRET] },
      { name: '?password=', url: `${plain}?password=${SECRET}`, secrets: [SECRET] },
      { name: 'both, equal', url: `${withDatabase(backend.database, SECRET, host)}?password=${SECRET}`, secrets: [SECRET] },
      {
        name: 'percent-encoded password',
        url: `postgres://${u.username}:${SPECIAL_ENCODED}@${host}${u.pathname}`,
        secrets: [SPECIAL, SPECIAL_ENCODED],
      },
      {
        name: 'several hosts, the first unreachable',
        url: `postgres://${u.username}:${SECRET}@127.0.0.1:1,${host}${u.pathname}?application_name=mt5e-test`,
        secrets: [SECRET],
      },
    ]
    const cwd = tempDir(t)
    // with the schema in place, the commands of one form can run side by side
    t.equal((await runCliProcess(['migrate', 'up', '--database', plain], { cwd })).code, 0, 'the schema is set up')
    for (const form of forms) {
      const runs = await Promise.all(commands.map((c) => runCliProcess([...c.args, '--database', form.url], { cwd })))
      for (const [i, c] of commands.entries()) {
        const r = runs[i]!
        const what = `${c.name} with ${form.name}`
        // token create fails the second time for the same name: that too must not leak
        if (c.name !== 'token create') t.equal(r.code, 0, `${what} exits 0`)
        else t.ok(r.code === 0 || errorOf(r)?.code === 'TOKEN_EXISTS', `${what} creates or finds the token`)
        assertHidden(t, r, form.secrets, what)
      }
    }
    const status = await runCliProcess(['migrate', 'status', '--json', '--database', `${plain}?password=${SECRET}`], { cwd })
    t.match(JSON.parse(status.stdout).location, /\?password=\*\*\*$/, 'the location in --json shows the query password masked')
  })
})

t.test('a running engine does not show the password either', async (t) => {
  await eachBackend(t, 'start and stop', async (t, backend) => {
    // no password in the URL: postgres.js takes PGPASSWORD, which is as secret
    const database = backend.database
    const r = await startAndStop(['--database', database], tempDir(t), { PGPASSWORD: SECRET })
    t.equal(r.code, 0)
    t.match(r.stdout, /EAs and dashboards connect to/)
    assertHidden(t, r, [SECRET], 'start')
  })
})

const badUrls: { name: string; url: string; part: RegExp; secrets: string[] }[] = [
  { name: 'broken IPv6 bracket', url: `postgres://u:${SECRET}@[::1:1/mt5`, part: /bracketed IPv6/, secrets: [SECRET] },
  { name: 'IPv6 without brackets', url: `postgres://u:${SECRET}@::1:5432/mt5`, part: /bracketed IPv6/, secrets: [SECRET] },
  { name: 'a port that is not a number', url: `postgres://u:${SECRET}@db:54x2/mt5`, part: /^port$/, secrets: [SECRET] },
  { name: 'a port out of range', url: `postgres://u:${SECRET}@db:70000/mt5`, part: /^port$/, secrets: [SECRET] },
  { name: 'the host left out', url: `postgres://postgres:${SECRET}/mt5`, part: /^port$/, secrets: [SECRET] },
  { name: 'a raw slash in the password', url: `postgres://u:${SECRET}/x@db/mt5`, part: /user info/, secrets: [SECRET] },
  { name: 'an empty host in a list', url: `postgres://u:${SECRET}@h1,,h2/mt5`, part: /^host$/, secrets: [SECRET] },
  { name: 'an unknown scheme', url: `postgress://u:${SECRET}@db/mt5`, part: /scheme/, secrets: [SECRET] },
  { name: 'a bad sslmode', url: `postgres://u@db/mt5?sslmode=sometimes&password=${SECRET}`, part: /sslmode/, secrets: [SECRET] },
  { name: 'sslpassword', url: `postgres://u@db/mt5?sslpassword=${SECRET}`, part: /sslpassword/, secrets: [SECRET] },
  {
    name: 'two different passwords',
    url: `postgres://u:${SECRET}@db/mt5?password=${SECRET2}`,
    part: /password/,
    secrets: [SECRET, SECRET2],
  },
  { name: 'a database name with a slash', url: `postgres://u:${SECRET}@db/a/b`, part: /database name/, secrets: [SECRET] },
]

t.test('a broken bracket exits 1 with CONFIG_INVALID naming the part in every command, and no password', async (t) => {
  const cwd = tempDir(t)
  const url = badUrls[0]!.url
  // nothing reaches a database: the commands run side by side
  const runs = await Promise.all(commands.map((c) => runCliProcess([...c.args, '--json', '--database', url], { cwd })))
  for (const [i, c] of commands.entries()) {
    const r = runs[i]!
    t.equal(r.code, 1, `${c.name} --json exits 1`)
    t.equal(errorOf(r)?.code, 'CONFIG_INVALID', `${c.name}: CONFIG_INVALID`)
    t.equal(errorOf(r)?.detail?.part, 'bracketed IPv6', `${c.name}: names the part`)
    assertHidden(t, r, [SECRET], `${c.name} --json`)
  }
  const text = await runCliProcess(['start', '--database', url], { cwd })
  t.equal(text.code, 1)
  t.match(text.stderr, /^error CONFIG_INVALID: database URL postgres:\/\/u:\*\*\*@\[::1:1\/mt5: the bracketed IPv6 address "\[::1:1" has no closing \]/)
  assertHidden(t, text, [SECRET], 'start')
})

t.test('every other bad URL exits 1 with CONFIG_INVALID naming the part, and no password', async (t) => {
  const cwd = tempDir(t)
  const runs = await Promise.all(badUrls.map((bad) => runCliProcess(['start', '--json', '--database', bad.url], { cwd })))
  for (const [i, bad] of badUrls.entries()) {
    const r = runs[i]!
    t.equal(r.code, 1, `${bad.name}: exits 1`)
    t.equal(errorOf(r)?.code, 'CONFIG_INVALID', `${bad.name}: CONFIG_INVALID`)
    t.match(errorOf(r)?.detail?.part, bad.part, `${bad.name}: names the part`)
    assertHidden(t, r, bad.secrets, bad.name)
  }
})

t.test('unreachable servers fail with DATABASE_UNAVAILABLE and no password', async (t) => {
  const cwd = tempDir(t)
  const runs = await Promise.all(
    commands.map((c) => runCliProcess([...c.args, '--json', '--database', `postgres://u:${SECRET}@127.0.0.1:1/mt5?password=${SECRET}`], { cwd })),
  )
  for (const [i, c] of commands.entries()) {
    const r = runs[i]!
    t.equal(r.code, 1, `${c.name} exits 1`)
    t.equal(errorOf(r)?.code, 'DATABASE_UNAVAILABLE', `${c.name}: DATABASE_UNAVAILABLE`)
    assertHidden(t, r, [SECRET], `${c.name} on a closed port`)
  }
  const others = [`postgres://u:${SECRET}@127.0.0.1:1,127.0.0.1:2/mt5`, `postgresql://u:${SPECIAL_ENCODED}@127.0.0.1:1/mt5`]
  for (const url of others) {
    const r = await runCliProcess(['start', '--database', url], { cwd })
    t.equal(r.code, 1, `start on ${maskSecrets(url)} exits 1`)
    t.match(r.stderr, /^error DATABASE_UNAVAILABLE: cannot connect to PostgreSQL at /)
    assertHidden(t, r, [SECRET, SPECIAL, SPECIAL_ENCODED], `start on ${maskSecrets(url)}`)
    if (url === others[0]) t.match(r.stderr, /no host accepted a connection: 127\.0\.0\.1:1 \(.*\), 127\.0\.0\.1:2 \(/, 'each host is named with its reason')
  }
  // a bracketed IPv6 address parses; whether ::1 answers depends on the machine
  const ipv6 = await Promise.all(
    commands.map((c) => runCliProcess([...c.args, '--json', '--database', `postgres://postgres:${SECRET}@[::1]:1/postgres`], { cwd })),
  )
  for (const [i, c] of commands.entries()) {
    const r = ipv6[i]!
    t.not(errorOf(r)?.code, 'CONFIG_INVALID', `${c.name}: a bracketed IPv6 address is a valid host`)
    assertHidden(t, r, [SECRET], `${c.name} on [::1]`)
  }
})

t.test("the engine's errors carry no password in message, detail or cause chain", async (t) => {
  const everything = (err: unknown) => inspect(err, { depth: 20, showHidden: true })
  const unreachable = await openPostgres({ url: `postgres://u:${SECRET}@127.0.0.1:1/mt5?password=${SECRET}`, connectTimeoutSeconds: 3 }).then(
    () => undefined,
    (err: unknown) => err,
  )
  t.ok(isEngineError(unreachable, 'DATABASE_UNAVAILABLE'))
  t.ok((unreachable as Error).cause, 'the driver error is kept as the cause')
  t.notOk(everything(unreachable).includes(SECRET), 'no password anywhere in the error and its causes')

  for (const bad of badUrls) {
    let thrown: unknown
    try {
      resolveConfig({ flags: { database: bad.url }, env: {}, cwd: tempDir(t) })
    } catch (err) {
      thrown = err
    }
    t.ok(isEngineError(thrown, 'CONFIG_INVALID'), `${bad.name}: resolveConfig refuses it`)
    for (const s of bad.secrets) t.notOk(everything(thrown).includes(s), `${bad.name}: no password in the error`)
  }
})

t.test('the parser reads every URL form the way the driver connects', async (t) => {
  const multi = parsePostgresUrl('postgres://alice:pw%2F1@h1:5432,[2001:db8::1]:5433,h3/mt5?sslmode=require&password=pw%2F1')
  t.same(multi.hosts, [
    { host: 'h1', port: 5432 },
    { host: '2001:db8::1', port: 5433 },
    { host: 'h3', port: 5432 },
  ])
  t.equal(multi.user, 'alice')
  t.equal(multi.password, 'pw/1')
  t.equal(multi.database, 'mt5')
  t.same(multi.params, [['sslmode', 'require']], 'the password is not passed on as a server setting')
  t.equal(multi.masked, 'postgres://alice:***@h1:5432,[2001:db8::1]:5433,h3/mt5?sslmode=require&password=***')

  const socket = parsePostgresUrl('postgres:///mt5?host=/run/postgresql&port=5433')
  t.equal(socket.socketPath, '/run/postgresql/.s.PGSQL.5433')
  t.same(socket.hosts, [])
  const defaults = parsePostgresUrl('postgresql://')
  t.same(defaults.hosts, [{ host: 'localhost', port: 5432 }])
  t.equal(defaults.database, undefined, "the driver's default database")

  t.equal(maskSecrets('at postgres://u:x@h/db: refused'), 'at postgres://u:***@h/db: refused', 'the sentence around a URL stays')
  t.equal(maskSecrets('postgres://u@h/db?sslmode=require&api_token=abc&x=1'), 'postgres://u@h/db?sslmode=require&api_token=***&x=1')
  t.equal(maskSecrets('ws://127.0.0.1:8787/v1'), 'ws://127.0.0.1:8787/v1', 'a URL with no secret is left as it is')
})

/** The data folder and files' modes after a real `start` in a child process with `umask`. */
async function startedModes(t: Test, umask: number): Promise<{ dir: number; db: number; wal: number; shm: number; stderr: string }> {
  const dataDir = join(tempDir(t), 'data')
  let modes: { dir: number; db: number; wal: number; shm: number } | undefined
  const mode = (p: string) => statSync(p).mode & 0o777
  const r = await startAndStop(['--data-dir', dataDir], repoRoot, {}, umask, async (url) => {
    // the writer opens the database at its first task: checking a token is one, and then the
    // writer holds it open in WAL mode, so -wal and -shm exist
    await connectDashboard(url, { token: 'not-a-token' }).then(
      (d) => d.close(),
      () => undefined,
    )
    const db = join(dataDir, 'mt5-engine.db')
    modes = { dir: mode(dataDir), db: mode(db), wal: mode(`${db}-wal`), shm: mode(`${db}-shm`) }
  })
  t.equal(r.code, 0, 'start ran and stopped cleanly')
  return { ...modes!, stderr: r.stderr }
}

t.test('under umask 022 the data folder is 0700 and the database, -wal and -shm 0600', async (t) => {
  const m = await startedModes(t, 0o022)
  t.equal(m.dir.toString(8), '700')
  t.equal(m.db.toString(8), '600')
  t.equal(m.wal.toString(8), '600')
  t.equal(m.shm.toString(8), '600')
  t.notMatch(m.stderr, /warning/, 'nothing to warn about')
})

t.test('a stricter umask (077) is kept', async (t) => {
  const m = await startedModes(t, 0o077)
  for (const [name, value] of Object.entries({ dir: m.dir, db: m.db, wal: m.wal, shm: m.shm })) {
    t.equal(value & 0o077, 0, `${name}: nothing for group or others`)
    t.equal(value & 0o600, 0o600, `${name}: the owner reads and writes`)
  }
})

t.test('an existing folder others can read is left alone, with a warning', async (t) => {
  const dataDir = tempDir(t)
  chmodSync(dataDir, 0o755)
  const r = await startAndStop(['--data-dir', dataDir], repoRoot, {}, 0o022)
  t.equal(r.code, 0)
  t.equal((statSync(dataDir).mode & 0o777).toString(8), '755', 'the mode the owner chose stays')
  t.match(r.stderr, new RegExp(`warning: ${dataDir} is readable by every local user \\(mode 0755\\).*chmod 700`))
  t.equal((statSync(join(dataDir, 'mt5-engine.db')).mode & 0o777).toString(8), '600', 'the new database file is private')
})

/**
 * Runs `mt5-engine start --port 0 ARGS` with the umask set inside the child, waits until it
 * serves, calls `whileRunning`, then stops it with SIGTERM.
 */
function startAndStop(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  umask?: number,
  whileRunning?: (url: string) => Promise<void>,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env }
    for (const key of Object.keys(childEnv)) if (key.startsWith('MT5E_')) delete childEnv[key]
    // --import runs in the writer threads too, where setting the umask throws: the main thread sets it
    const setUmask = `import { isMainThread } from 'node:worker_threads'; if (isMainThread) process.umask(0o${umask?.toString(8)})`
    const preload = umask === undefined ? [] : ['--import', `data:text/javascript,${encodeURIComponent(setUmask)}`]
    const child = spawn(process.execPath, [...preload, cliPath, 'start', '--port', '0', ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let signalled = false
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const url = /EAs and dashboards connect to (\S+)/.exec(stdout)?.[1]
      if (!signalled && url !== undefined) {
        signalled = true
        Promise.resolve(whileRunning?.(url))
          .catch(reject)
          .finally(() => child.kill('SIGTERM'))
      }
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
