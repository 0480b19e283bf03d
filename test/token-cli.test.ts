/**
 * Token scopes from the command line and across the upgrade that introduced them: `token create`
 * with a scope, `token scope`, `token list`, the start-up warning for unscoped tokens, and what the
 * migrations do to tokens and symbols that existed before. Real CLI processes on real databases.
 */
import t from 'tap'
import type { TokenInfo } from '../src/db/sql/tokens.js'
import { account, count, tokenInfo, withStorage } from './engine-helpers.js'
import { eachBackend, runCliProcess, tempDir } from './helpers.js'

const SERVER = account(0).server

t.test('the token CLI: create bound, scope, list, and the warning for unscoped tokens', async (t) => {
  const dir = tempDir(t)
  const db = `${dir}/cli.db`
  const cli = (...args: string[]) => runCliProcess([...args, '--database', db], { cwd: dir })
  const made = await cli('token', 'create', '--role', 'ea', '--name', 'bound', '--account', '5123@Broker-Live', '--instance', 'grid-*', '--magic', '42')
  t.equal(made.code, 0, made.stderr)
  t.match(made.stdout, /scope: account 5123@Broker-Live, instance grid-\*, magic 42/)
  for (const [flag, value, expected] of [
    ['--account', '5123', /--account must be LOGIN@SERVER/],
    ['--account', 'abc@Srv', /--account must be LOGIN@SERVER/],
    ['--instance', '*', /--instance must be an EA instance id/],
    ['--magic', '7.5', /--magic must be/],
  ] as const) {
    const r = await cli('token', 'create', '--role', 'ea', '--name', 'bad', flag, value)
    t.equal(r.code, 2, `${flag} ${value}: a usage error`)
    t.match(r.stderr, expected)
  }
  const viewer = await cli('token', 'create', '--role', 'viewer', '--name', 'v', '--account', '1@S')
  t.match(viewer.stderr, /are for ea tokens/, 'a viewer token has no scope')

  t.equal((await cli('token', 'create', '--role', 'ea', '--name', 'fresh')).code, 0)
  t.equal((await cli('token', 'create', '--role', 'ea', '--name', 'legacy', '--unscoped')).code, 0)
  const list = await cli('token', 'list')
  t.match(list.stdout, /SCOPE/)
  t.match(list.stdout, /fresh .*binds to its first EA/)
  t.match(list.stdout, /legacy .*unscoped: any account/)
  const json = JSON.parse((await cli('token', 'list', '--json')).stdout) as TokenInfo[]
  t.same(json.find((x) => x.name === 'bound')?.scope, { login: 5123, server: 'Broker-Live', instance: 'grid-*', magic: 42 })

  const started = await cli('start', '--migrate-only')
  t.equal(started.code, 0, started.stderr)
  t.match(started.stderr, /warning: 1 live ea token\(s\) are unscoped .*"legacy"/, 'start names the unscoped token and how to bind it')

  const rebound = await cli('token', 'scope', 'legacy', '--account', '5123@Broker-Live')
  t.equal(rebound.code, 0, rebound.stderr)
  t.match(rebound.stdout, /token "legacy": account 5123@Broker-Live/)
  t.notMatch((await cli('start', '--migrate-only')).stderr, /warning/, 'no warning once every ea token is scoped')
  t.equal((await cli('token', 'scope', 'legacy')).code, 2, 'token scope needs one of its options')
  t.equal((await cli('token', 'scope', 'legacy', '--first-use', '--unscoped')).code, 2, 'and only one')
  t.equal((await cli('token', 'scope', 'nobody', '--first-use')).code, 1, 'an unknown token')
  const tofu = await cli('token', 'scope', 'legacy', '--first-use')
  t.match(tofu.stdout, /binds to its first EA/)
})

t.test('upgrading: tokens and symbols from before scopes', async (t) => {
  await eachBackend(t, 'old tokens stay unscoped; old symbols go to the oldest account of their server with their ticks; the rollback restores them', async (t, backend) => {
    const dir = tempDir(t)
    const cli = (...args: string[]) => runCliProcess([...args, '--database', backend.database], { cwd: dir })
    t.equal((await cli('migrate', 'up', '--to', '20261121000000')).code, 0)
    await withStorage(backend, async (s) => {
      await s.query("insert into tokens (name, role, token_hash, created_at) values ('old-ea', 'ea', 'x', 1)")
      for (const login of [7001, 7002]) {
        await s.query('insert into accounts (login, server, first_seen_at, last_seen_at) values ($1, $2, 1, 1)', [login, SERVER])
      }
      await s.query("insert into symbols (server, name) values ($1, 'OLD')", [SERVER])
      await s.query(
        "insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) select id, 0, 1, 1, 1, 0, 0, 0, 6 from symbols where name = 'OLD'",
      )
    })
    const up = await cli('migrate', 'up')
    t.equal(up.code, 0, up.stderr)
    t.equal((await tokenInfo(backend, 'old-ea')).scopeMode, 'unscoped', 'an existing token keeps working as before')
    t.equal(await count(backend, "select a.login from symbols s join accounts a on a.id = s.account_id where s.name = 'OLD'"), 7001)
    t.equal(await count(backend, "select count(*) from ticks where symbol_id in (select id from symbols where name = 'OLD')"), 1, 'its tick')
    const down = await cli('migrate', 'down', '--steps', '2')
    t.equal(down.code, 0, down.stderr)
    t.equal(await count(backend, "select count(*) from ticks where symbol_id in (select id from symbols where name = 'OLD')"), 1, 'still there after the rollback')
  })
})
