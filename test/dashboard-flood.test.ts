/**
 * A dashboard that sends commands faster than they can be created is read no further until they
 * catch up: every command is answered, none is refused for a full writer queue, and an EA streaming
 * on the same engine never has a batch refused (the writer's queue is shared with ingest).
 */
import t from 'tap'
import { connectEA } from '../src/client/ea-client.js'
import { account, count, makeTokens, startTestEngine, TickSource } from './engine-helpers.js'
import { eachBackend } from './helpers.js'
import { openDashboard } from './peer.js'

const COMMANDS = 4500

t.test('a burst of commands from one dashboard', async (t) => {
  await eachBackend(t, `${COMMANDS} command_send frames at once: each answered once, no error, ingest undisturbed`, async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const tokens = await makeTokens(backend)
    // the target: an EA that was registered and went away, so its commands stay pending
    const target = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'flood-target', account: account(8101), ea: { name: 'Target' } })
    await target.close()
    const streamer = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'flood-streamer', account: account(8102), ea: { name: 'Streamer' }, minDelayMs: 20, maxDelayMs: 200 })
    t.teardown(() => streamer.close())
    const source = new TickSource('FLOOD', 1_732_000_000_000, 1.2, 13)
    let running = true
    const streaming = (async () => {
      let sent = 0
      while (running) {
        await streamer.send(source.batch(50))
        sent += 50
      }
      return sent
    })()

    const { peer } = await openDashboard(t, engine.url!, tokens.admin)
    for (let i = 0; i < COMMANDS; i++) {
      peer.send({ type: 'command_send', request_id: `r${i}`, command_id: `flood-${i}`, command: 'pause', target: { instance_id: 'flood-target' } })
    }
    await peer.received(COMMANDS + 1, 120_000)
    running = false
    const ticks = await streaming
    await streamer.flushed()

    const statuses = peer.frames.filter((f) => f.type === 'command_status')
    t.equal(new Set(statuses.map((f) => f.request_id)).size, COMMANDS, 'every command answered once')
    t.same(peer.errors(), [], 'none refused')
    t.equal(await count(backend, "select count(*) from commands where id like 'flood-%'"), COMMANDS, 'every command stored')
    t.equal(streamer.counters.reconnects, 0, 'the streaming EA was never failed')
    t.equal(await count(backend, "select count(*) from ticks where symbol_id in (select id from symbols where name = 'FLOOD')"), ticks, 'and its ticks are all stored')
  })
})
