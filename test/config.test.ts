import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { defaultOptions, describeDatabase, resolveConfig } from '../src/config/resolve.js'
import { EngineError } from '../src/errors.js'
import { tempDir, type Test } from './helpers.js'

/** Runs `fn` and returns what it threw; fails the test when it does not throw. */
function thrown(t: Test, fn: () => unknown): EngineError {
  try {
    fn()
  } catch (err) {
    t.ok(err instanceof EngineError, `throws an EngineError (got ${(err as Error)?.name})`)
    return err as EngineError
  }
  t.fail('expected a throw')
  return new EngineError('USAGE', 'did not throw')
}

function configFile(t: Test, content: string | object): { dir: string; file: string } {
  const dir = tempDir(t)
  const file = join(dir, 'engine.json')
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return { dir, file }
}

t.test('defaults apply when nothing is given, with paths made absolute against cwd', async (t) => {
  const cwd = tempDir(t)
  const c = resolveConfig({ env: {}, cwd })
  t.equal(c.dataDir, join(cwd, 'data'))
  t.equal(c.database, join(cwd, 'data', 'mt5-engine.db'))
  t.equal(c.dialect, 'sqlite')
  t.equal(c.synchronous, 'NORMAL')
  t.equal(c.port, 8787)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.busyTimeoutMs, 5000)
  t.equal(c.lockTimeoutMs, 30000)
  t.equal(c.migrate, true)
  t.equal(c.migrationsDir, defaultOptions.migrationsDir)
  t.ok(Object.values(c.sources).every((s) => s === 'default'), 'every source is default')
  t.ok(Object.isFrozen(defaultOptions), 'the defaults object is frozen')
})

t.test('precedence is flags over env over config file over defaults, and sources say which', async (t) => {
  const { dir, file } = configFile(t, { port: 1111, host: '10.0.0.1', synchronous: 'FULL', dataDir: 'from-file' })
  const c = resolveConfig({
    flags: { port: 3333 },
    env: { MT5E_PORT: '2222', MT5E_HOST: '10.0.0.2' },
    configFile: file,
    cwd: dir,
  })
  t.equal(c.port, 3333)
  t.equal(c.host, '10.0.0.2')
  t.equal(c.synchronous, 'FULL')
  t.equal(c.dataDir, join(dir, 'from-file'))
  t.equal(c.database, join(dir, 'from-file', 'mt5-engine.db'), 'the default database follows dataDir')
  t.equal(c.lockTimeoutMs, 30000)
  t.same(
    { port: c.sources.port, host: c.sources.host, synchronous: c.sources.synchronous, dataDir: c.sources.dataDir },
    { port: 'flag', host: 'env', synchronous: 'file', dataDir: 'file' },
  )
  t.equal(c.sources.lockTimeoutMs, 'default')
})

t.test('an empty environment variable counts as unset', async (t) => {
  const cwd = tempDir(t)
  const c = resolveConfig({ env: { MT5E_PORT: '', MT5E_HOST: '' }, cwd })
  t.equal(c.port, 8787)
  t.equal(c.sources.port, 'default')
})

t.test('env values are coerced from strings: numbers, booleans, upper-cased synchronous', async (t) => {
  const cwd = tempDir(t)
  const c = resolveConfig({
    env: { MT5E_BUSY_TIMEOUT_MS: '250', MT5E_MIGRATE: 'off', MT5E_SYNCHRONOUS: 'full', MT5E_DATABASE: 'rel/x.db' },
    cwd,
  })
  t.equal(c.busyTimeoutMs, 250)
  t.equal(c.migrate, false)
  t.equal(c.synchronous, 'FULL')
  t.equal(c.database, join(cwd, 'rel', 'x.db'), 'a relative SQLite path is resolved against cwd')
  t.equal(c.sources.database, 'env')
})

t.test('MT5E_CONFIG names the config file when no configFile is given', async (t) => {
  const { dir } = configFile(t, { port: 4444 })
  const c = resolveConfig({ env: { MT5E_CONFIG: 'engine.json' }, cwd: dir })
  t.equal(c.port, 4444)
  t.equal(c.sources.port, 'file')
})

t.test('./mt5-engine.json is read when present in cwd', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'mt5-engine.json'), JSON.stringify({ host: '0.0.0.0' }))
  const c = resolveConfig({ env: {}, cwd: dir })
  t.equal(c.host, '0.0.0.0')
  t.equal(c.sources.host, 'file')
})

t.test('a postgres:// or postgresql:// database selects the postgres dialect and is kept as given', async (t) => {
  const cwd = tempDir(t)
  for (const url of ['postgres://u:p@db.example:5432/mt5', 'postgresql://u@localhost/mt5', 'POSTGRES://h/db']) {
    const c = resolveConfig({ flags: { database: url }, env: {}, cwd })
    t.equal(c.dialect, 'postgres', url)
    t.equal(c.database, url, `${url} is not turned into a path`)
  }
  const sqlite = resolveConfig({ flags: { database: 'postgres.db' }, env: {}, cwd })
  t.equal(sqlite.dialect, 'sqlite', 'a file named postgres.db is SQLite')
  t.equal(sqlite.database, join(cwd, 'postgres.db'))
  const memory = resolveConfig({ flags: { database: ':memory:' }, env: {}, cwd })
  t.equal(memory.database, ':memory:', ':memory: is not resolved as a path')
})

t.test('invalid values are refused with CONFIG_INVALID naming the flag, variable or file key', async (t) => {
  const cwd = tempDir(t)
  const port = thrown(t, () => resolveConfig({ flags: { port: 'abc' }, env: {}, cwd }))
  t.equal(port.code, 'CONFIG_INVALID')
  t.match(port.message, /--port must be a whole number/)
  t.match(port.message, /"abc"/)
  t.equal(port.detail?.option, 'port')

  const sync = thrown(t, () => resolveConfig({ env: { MT5E_SYNCHRONOUS: 'SOMETIMES' }, cwd }))
  t.equal(sync.code, 'CONFIG_INVALID')
  t.match(sync.message, /MT5E_SYNCHRONOUS must be NORMAL or FULL/)

  const migrate = thrown(t, () => resolveConfig({ env: { MT5E_MIGRATE: 'maybe' }, cwd }))
  t.equal(migrate.code, 'CONFIG_INVALID')
  t.match(migrate.message, /MT5E_MIGRATE must be true or false/)

  const { dir, file } = configFile(t, { migrate: 'maybe' })
  const fromFile = thrown(t, () => resolveConfig({ configFile: file, env: {}, cwd: dir }))
  t.equal(fromFile.code, 'CONFIG_INVALID')
  t.match(fromFile.message, `"migrate" in ${file} must be true or false`)

  const big = thrown(t, () => resolveConfig({ flags: { port: 70000 }, env: {}, cwd }))
  t.match(big.message, /--port must be a port number from 0 to 65535/)
  const negative = thrown(t, () => resolveConfig({ env: { MT5E_LOCK_TIMEOUT_MS: '-5' }, cwd }))
  t.match(negative.message, /MT5E_LOCK_TIMEOUT_MS must be a whole number >= 0/)
})

t.test('a misspelled key in the config file is refused with a did-you-mean hint', async (t) => {
  const { dir, file } = configFile(t, { dataDri: './x' })
  const err = thrown(t, () => resolveConfig({ configFile: file, env: {}, cwd: dir }))
  t.equal(err.code, 'CONFIG_INVALID')
  t.match(err.message, `unknown option "dataDri" in config file ${file}`)
  t.match(err.message, /did you mean "dataDir"\?/)
  const far = configFile(t, { colour: 'blue' })
  const noHint = thrown(t, () => resolveConfig({ configFile: far.file, env: {}, cwd: far.dir }))
  t.match(noHint.message, /unknown option "colour"/)
  t.notMatch(noHint.message, /did you mean/, 'no hint when nothing is close')
})

t.test('an invalid or unreadable config file is named in the error', async (t) => {
  const { dir, file } = configFile(t, '{ "port": 1, }')
  const bad = thrown(t, () => resolveConfig({ configFile: file, env: {}, cwd: dir }))
  t.equal(bad.code, 'CONFIG_INVALID')
  t.match(bad.message, `cannot read config file ${file}`)

  const missing = join(dir, 'nope.json')
  const gone = thrown(t, () => resolveConfig({ configFile: missing, env: {}, cwd: dir }))
  t.equal(gone.code, 'CONFIG_INVALID')
  t.match(gone.message, `cannot read config file ${missing}`)
  t.match(gone.message, /ENOENT/)

  const array = configFile(t, '[1, 2]')
  const notObject = thrown(t, () => resolveConfig({ configFile: array.file, env: {}, cwd: array.dir }))
  t.match(notObject.message, `config file ${array.file} must hold a JSON object`)
})

t.test('describeDatabase masks a PostgreSQL password and leaves the rest alone', async (t) => {
  t.equal(describeDatabase('postgres://alice:s3cret@db.example:5432/mt5'), 'postgres://alice:***@db.example:5432/mt5')
  const encoded = describeDatabase('postgresql://alice:p%40ss%3Aword@db/mt5?sslmode=require')
  t.equal(encoded, 'postgresql://alice:***@db/mt5?sslmode=require')
  t.equal(describeDatabase('postgres://alice@db/mt5'), 'postgres://alice@db/mt5', 'no password, nothing masked')
  t.equal(describeDatabase('/var/lib/mt5/engine.db'), '/var/lib/mt5/engine.db', 'a SQLite path is shown as is')
  t.notMatch(describeDatabase('postgres://u:topsecret@[bad'), /topsecret/, 'an unparsable URL does not leak')
})

t.test('logLevel and logFormat default to info and auto and take the logger\'s values in any case', async (t) => {
  const cwd = tempDir(t)
  const defaults = resolveConfig({ env: {}, cwd })
  t.equal(defaults.logLevel, 'info')
  t.equal(defaults.logFormat, 'auto')
  const set = resolveConfig({ flags: { logFormat: 'JSON' }, env: { MT5E_LOG_LEVEL: 'Debug' }, cwd })
  t.equal(set.logLevel, 'debug')
  t.equal(set.logFormat, 'json')
  t.same([set.sources.logLevel, set.sources.logFormat], ['env', 'flag'])
  const level = thrown(t, () => resolveConfig({ env: { MT5E_LOG_LEVEL: 'verbose' }, cwd }))
  t.equal(level.code, 'CONFIG_INVALID')
  t.match(level.message, 'MT5E_LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent; got "verbose"')
  const format = thrown(t, () => resolveConfig({ flags: { logFormat: 'xml' }, env: {}, cwd }))
  t.match(format.message, '--log-format must be auto, json or pretty; got "xml"')
})
