import { createServer } from 'node:net'
import t from 'tap'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { account, count, makeTokens, spawnEngine, TickSource } from './engine-helpers.js'
import { eachBackend, type Backend } from './helpers.js'

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

interface Producer {
  ea: EaClient
  symbol: string
  instance: string
  /** Ticks in each tick batch by seq, and the seqs of log messages. */
  ticksBySeq: Map<number, number>
  logs: number[]
  done: Promise<void>
}

/** An EA that streams `batches` tick batches and a log after every fifth, as fast as it may. */
function produce(ea: EaClient, symbol: string, instance: string, batches: number, seed: number): Producer {
  const source = new TickSource(symbol, 1_732_000_000_000, 1.1, seed)
  const p: Producer = { ea, symbol, instance, ticksBySeq: new Map(), logs: [], done: Promise.resolve() }
  p.done = (async () => {
    for (let i = 0; i < batches; i++) {
      const batch = source.batch(200)
      p.ticksBySeq.set(await ea.send(batch), 200)
      if (i % 5 === 4) p.logs.push(await ea.send({ type: 'log', time_msc: batch.time_msc[199]!, level: 'info', message: `after batch ${i}` }))
    }
  })()
  return p
}

async function producers(url: string, token: string, n: number, batches: number): Promise<Producer[]> {
  const list: Producer[] = []
  for (let i = 0; i < n; i++) {
    const instance = `crash-ea-${i}`
    const ea = await connectEA(url, { token, instanceId: instance, account: account(8000 + i), ea: { name: 'CrashEA' }, minDelayMs: 50, maxDelayMs: 400 })
    list.push(produce(ea, `SYM${i}`, instance, batches, 100 + i))
  }
  return list
}

/** Resolves once the producers have `fraction` of their `total` messages acknowledged. */
async function progress(list: Producer[], total: number, fraction: number): Promise<void> {
  while (list.reduce((n, p) => n + p.ea.counters.lastAckedSeq, 0) < total * fraction) await new Promise((r) => setTimeout(r, 1))
}

async function storedTicks(backend: Backend, symbol: string): Promise<number> {
  return count(backend, 'select count(*) from ticks where symbol_id in (select id from symbols where name = $1)', [symbol])
}

async function storedLogs(backend: Backend, instance: string): Promise<number> {
  return count(backend, 'select count(*) from iteration_logs where stream_id = (select id from streams where instance_id = $1)', [instance])
}

t.test('the engine killed with SIGKILL at random moments loses and duplicates nothing', async (t) => {
  await eachBackend(t, 'kill, restart, resend', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const port = await freePort()
    let engine = await spawnEngine(t, backend, ['--port', String(port)])
    const list = await producers(engine.url, tokens.ea, 3, 800)
    t.teardown(() => Promise.all(list.map((p) => p.ea.close())))
    const total = 3 * 960
    // Kill points are random but spread over the stream: one in each third of the progress.
    const kills = [0, 1, 2].map((third) => (third + 0.2 + Math.random() * 0.6) / 3.2)
    t.comment(`kill points (fraction of messages acknowledged): ${kills.map((k) => k.toFixed(3)).join(', ')}`)
    for (const fraction of kills) {
      await progress(list, total, fraction)
      engine.child.kill('SIGKILL')
      const { signal } = await engine.exited
      t.equal(signal, 'SIGKILL', `killed with ${list.map((p) => p.ea.counters.lastAckedSeq).join('/')} of 960 each acknowledged`)
      engine = await spawnEngine(t, backend, ['--port', String(port)])
    }
    await Promise.all(list.map((p) => p.done))
    await Promise.all(list.map((p) => p.ea.flushed()))
    for (const p of list) {
      const sentTicks = [...p.ticksBySeq.values()].reduce((a, b) => a + b, 0)
      t.equal(await storedTicks(backend, p.symbol), sentTicks, `${p.symbol}: all ${sentTicks} ticks stored once`)
      t.equal(await storedLogs(backend, p.instance), p.logs.length, `${p.instance}: all ${p.logs.length} logs stored once (they have no natural key)`)
    }
    t.ok(list.some((p) => p.ea.counters.resent > 0), 'clients resent unacknowledged messages after the kills')
    engine.child.kill('SIGTERM')
    t.equal((await engine.exited).code, 0)
  })
})

t.test('SIGTERM mid-stream: the engine exits 0 and every acknowledged message is in the database', async (t) => {
  await eachBackend(t, 'graceful stop', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await spawnEngine(t, backend)
    const list = await producers(engine.url, tokens.ea, 2, 1500)
    t.teardown(() => Promise.all(list.map((p) => p.ea.close())))
    await progress(list, 2 * 1800, 0.3 + Math.random() * 0.3)
    engine.child.kill('SIGTERM')
    const exit = await engine.exited
    t.equal(exit.code, 0, 'exit code 0')
    t.match(engine.output(), /SIGTERM: committing what is in flight/)
    t.ok(list.some((p) => p.ea.counters.lastAckedSeq < 1800), 'the stop came while the EAs were still streaming')
    for (const p of list) {
      const acked = p.ea.counters.lastAckedSeq
      t.ok(acked > 0, `${p.instance} had ${acked} messages acknowledged before the stop`)
      const ackedTicks = [...p.ticksBySeq].filter(([seq]) => seq <= acked).reduce((a, [, n]) => a + n, 0)
      t.ok((await storedTicks(backend, p.symbol)) >= ackedTicks, `${p.symbol}: the ${ackedTicks} acknowledged ticks are stored`)
      const ackedLogs = p.logs.filter((seq) => seq <= acked).length
      t.ok((await storedLogs(backend, p.instance)) >= ackedLogs, `${p.instance}: the ${ackedLogs} acknowledged logs are stored`)
      t.ok(
        (await count(backend, 'select last_seq from stream_sequences where stream_id = (select id from streams where instance_id = $1)', [p.instance])) >= acked,
        'the stored high-water mark covers every acknowledgement',
      )
    }
  })
})
