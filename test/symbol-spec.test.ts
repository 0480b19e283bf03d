/**
 * symbol_spec from an EA to the symbols table, on both backends: the chart's price source
 * (SYMBOL_CHART_MODE) is stored as `bid` / `last`, and a spec without it keeps the stored one.
 */
import t from 'tap'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { account, makeTokens, startTestEngine, withStorage } from './engine-helpers.js'
import { eachBackend, type Backend } from './helpers.js'

async function chartModes(backend: Backend, login: number): Promise<Record<string, string>> {
  const rows = await withStorage(backend, (s) =>
    s.query<{ name: string; chart_mode: string }>(
      'select s.name, s.chart_mode from symbols s join accounts a on a.id = s.account_id where a.login = $1 order by s.name',
      [login],
    ),
  )
  return Object.fromEntries(rows.map((r) => [r.name, r.chart_mode]))
}

t.test('symbol_spec chart_mode', async (t) => {
  await eachBackend(t, "an exchange symbol's chart_mode last is stored as 'last', FX as 'bid'", async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const ea: EaClient = await connectEA(engine.url!, {
      token: tokens.ea,
      instanceId: 'chart-mode-ea',
      account: account(7101),
      ea: { name: 'SpecEA' },
      minDelayMs: 20,
      maxDelayMs: 200,
    })
    t.teardown(() => ea.close())
    await ea.send({ type: 'symbol_spec', symbol: 'SBER', digits: 2, point: 0.01, chart_mode: 1 })
    await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    await ea.send({ type: 'symbol_spec', symbol: 'GBPUSD', digits: 5, point: 0.00001 })
    await ea.flushed()
    t.same(await chartModes(backend, 7101), { EURUSD: 'bid', GBPUSD: 'bid', SBER: 'last' }, 'last, bid, and bid by default')

    // an older bridge resends the spec without the field: the exchange symbol stays 'last'
    await ea.send({ type: 'symbol_spec', symbol: 'SBER', digits: 3, point: 0.001 })
    await ea.flushed()
    t.same(await chartModes(backend, 7101), { EURUSD: 'bid', GBPUSD: 'bid', SBER: 'last' }, 'absent keeps the stored mode')
    const digits = await withStorage(backend, (s) => s.query<{ digits: number }>("select digits from symbols where name = 'SBER'"))
    t.same(digits.map((r) => Number(r.digits)), [3], 'the rest of the spec is updated')

    await ea.send({ type: 'symbol_spec', symbol: 'SBER', digits: 3, point: 0.001, chart_mode: 0 })
    await ea.flushed()
    t.equal((await chartModes(backend, 7101)).SBER, 'bid', 'a spec that says bid changes it back')
  })
})
