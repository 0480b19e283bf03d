/**
 * The live topics a dashboard subscribes to, between the engine's commits and the subscription
 * hub (hub.ts): what each topic's snapshot is (a typed query on a reader), and what each commit
 * publishes to it. Publishing starts only once a transaction has committed (ingest calls
 * `committed` after the writer's COMMIT), so a subscriber never sees a row that could still roll
 * back; per topic, events go out in commit order.
 *
 * Events carry rows in the shape of the topic's query (docs/QUERIES.md), so that a dashboard
 * merges them into its snapshot by the query's keys. A delta committed just before a snapshot was
 * read may arrive after it as well: apply deltas by key (docs/SUBSCRIPTIONS.md).
 *
 * Topics (docs/SUBSCRIPTIONS.md has the list with examples):
 * - `ticks` {symbol_id | symbol + login [+ server]}: each committed tick batch's ticks, as columns.
 * - `bars` {same + timeframe}: the newest bars of the timeframe, after each commit that changed them.
 * - `positions` {login [+ server] | account_id}: the account's open positions after each positions_snapshot.
 * - `account` {…}: each account snapshot (balance, equity, margin).
 * - `deals` {…}: each new deal.
 * - `journal` {…}: the journal row of each position a new deal changed.
 * - `ea_status`: EA instances connecting, disconnecting, and each ea_status heartbeat.
 * - `commands`: every command status change.
 * - `notifications`: every new notification.
 */
import { ProtocolError } from '../protocol/codec.js'
import { CHART_MODES, DEAL_ENTRIES, DEAL_REASONS, DEAL_TYPES, POSITION_TYPES } from '../protocol/mt5.js'
import { ProtocolErrors, type CommandStatusUpdate, type SubscribeMessage } from '../protocol/messages.js'
import type { Chosen, Pending } from '../ingest/batch.js'
import type { QueryService } from '../query/service.js'
import { TIMEFRAMES } from '../query/catalogue.js'
import type { SubscriptionHub, SubscriberPort } from './hub.js'

export const TOPICS = ['ticks', 'bars', 'positions', 'account', 'deals', 'journal', 'ea_status', 'commands', 'notifications'] as const
export type TopicName = (typeof TOPICS)[number]

/** Rows a snapshot holds at most: the newest bars, deals, commands and notifications. */
export const SNAPSHOT_ROWS = 500
/** How long a burst of commits for one symbol's bars (or of new notifications) is gathered into one refresh. */
const REFRESH_MS = 25

interface Account {
  id: number
  login: number
  server: string
}

interface Resolved {
  key: string
  snapshot: () => Promise<unknown>
}

const bad = (field: string, message: string) => new ProtocolError(ProtocolErrors.BAD_FIELD, message, field)
const objects = (columns: string[], rows: unknown[][]) => rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])))

export class LiveFeed {
  /** `${accountId}:${symbol}` -> the symbol's id, learnt as dashboards subscribe to its ticks or bars. */
  readonly #symbolIds = new Map<string, number>()
  /** Symbol ids whose bars are to be read again, and the timer that will. */
  readonly #barsDue = new Set<number>()
  #barsTimer: NodeJS.Timeout | undefined
  #notificationsTimer: NodeJS.Timeout | undefined
  /** `account:position` whose journal rows are to be read and published. */
  readonly #journalDue = new Set<string>()
  #journalTimer: NodeJS.Timeout | undefined
  /** The newest notification id published (or in a snapshot): the next refresh publishes those above. */
  #notificationsSeen = 0
  #closed = false

  constructor(
    readonly hub: SubscriptionHub,
    readonly queries: QueryService,
  ) {}

  /** Subscribes `port` to the topic `request` names; a bad topic or parameter throws BAD_FIELD. */
  async subscribe(port: SubscriberPort, request: SubscribeMessage, role: 'viewer' | 'admin'): Promise<number> {
    const { key, snapshot } = await this.#resolve(request.topic, request.params ?? {}, role)
    return this.hub.subscribe(port, key, snapshot, request.request_id)
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#barsTimer)
    clearTimeout(this.#notificationsTimer)
    clearTimeout(this.#journalTimer)
  }

  // -------------------------------------------------------------------------------------------
  // From the engine

  /**
   * A write batch committed. `fresh` says whether an item was new in it (replays of what an
   * earlier batch committed are skipped, not published twice).
   */
  committed(chosen: readonly Chosen[], fresh: (streamId: number, seq: number) => boolean): void {
    if (this.#closed || this.hub.stats().subscriptions === 0) return
    for (const { state, items, store } of chosen) {
      for (const item of items) {
        if (!fresh(state.streamId, item.seq)) continue
        if (item.kind === 'ticks') this.#ticks(state.accountId, item, store)
        else if (item.kind === 'record') this.#record(state.accountId, state.streamId, item.entry.message)
        else this.refreshNotifications()
      }
    }
  }

  /** An EA instance connected (true) or went away (false). */
  online(streamId: number, instanceId: string, online: boolean): void {
    if (this.hub.listening('ea_status')) this.hub.publish('ea_status', 'event', { stream_id: streamId, instance_id: instanceId, online })
  }

  /** A command's status changed (created, delivered, acknowledged, finished, expired). */
  commandStatus(update: CommandStatusUpdate & { stream_id?: number }): void {
    if (!this.hub.listening('commands')) return
    const { type: _, request_id: __, ...data } = update
    this.hub.publish('commands', 'event', data)
  }

  /** Symbols whose bars changed in a commit (the aggregator's higher timeframes, a rebuild). */
  barsChanged(symbolIds: readonly number[]): void {
    for (const id of symbolIds) if (TIMEFRAMES.some((tf) => this.hub.listening(`bars:${id}:${tf}`))) this.#barsDue.add(id)
    if (this.#barsDue.size > 0) this.#barsTimer ??= setTimeout(() => void this.#refreshBars(), REFRESH_MS)
  }

  /** Notifications may have been created: read those above the newest published. */
  refreshNotifications(): void {
    if (!this.hub.listening('notifications')) return
    this.#notificationsTimer ??= setTimeout(() => void this.#publishNotifications(), REFRESH_MS)
  }

  // -------------------------------------------------------------------------------------------

  #ticks(accountId: number, item: Extract<Pending, { kind: 'ticks' }>, store: Chosen['store']): void {
    const key = `ticks:${accountId}:${item.symbol}`
    const symbolId = this.#symbolIds.get(`${accountId}:${item.symbol}`)
    if (symbolId !== undefined) this.barsChanged([symbolId])
    if (!this.hub.listening(key) || store === undefined) return
    const n = item.count
    const cols = { time_msc: new Float64Array(n), bid: new Float64Array(n), ask: new Float64Array(n), last: new Float64Array(n), volume: new Float64Array(n), volume_real: new Float64Array(n), flags: new Float64Array(n) }
    store.copy(item.offset, n, cols, 0)
    // plain arrays: typed arrays would be MessagePack extensions, which the protocol does not use
    const data = {
      symbol_id: symbolId ?? null,
      symbol: item.symbol,
      time_msc: Array.from(cols.time_msc),
      bid: Array.from(cols.bid),
      ask: Array.from(cols.ask),
      last: Array.from(cols.last),
      volume: Array.from(cols.volume),
      volume_real: Array.from(cols.volume_real),
      flags: Array.from(cols.flags),
    }
    this.hub.publish(key, 'tick', data, 64 + n * 7 * 9)
  }

  #record(accountId: number, streamId: number, m: Record<string, unknown> & { type: string }): void {
    switch (m.type) {
      case 'positions_snapshot': {
        const key = `positions:${accountId}`
        if (!this.hub.listening(key)) return
        const positions = (m.positions as Record<string, unknown>[]).map((p) => ({
          account_id: accountId,
          position_id: p.identifier,
          ticket: p.ticket,
          symbol: p.symbol,
          type: POSITION_TYPES[p.position_type as number],
          magic: p.magic,
          volume: p.volume,
          price_open: p.price_open,
          price_current: p.price_current,
          sl: p.sl || null,
          tp: p.tp || null,
          profit: p.profit,
          swap: p.swap,
          time_msc: p.time_msc,
          state: 'open',
          comment: p.comment ?? null,
        }))
        return this.hub.publish(key, 'event', { time_msc: m.time_msc, positions })
      }
      case 'account_snapshot': {
        const key = `account:${accountId}`
        if (!this.hub.listening(key)) return
        const { type: _, seq: __, ...snapshot } = m
        // snapshots supersede each other: under pressure the newest is what matters (a gap says so)
        return this.hub.publish(key, 'tick', { account_id: accountId, ...snapshot })
      }
      case 'deal': {
        if (this.hub.listening(`journal:${accountId}`) && (m.position_id as number) !== 0) this.#journalDue.add(`${accountId}:${m.position_id as number}`)
        if (this.#journalDue.size > 0) this.#journalTimer ??= setTimeout(() => void this.#publishJournal(), REFRESH_MS)
        const key = `deals:${accountId}`
        if (!this.hub.listening(key)) return
        return this.hub.publish(key, 'event', {
          account_id: accountId,
          ticket: m.ticket,
          order_ticket: m.order,
          position_id: m.position_id,
          symbol: m.symbol || null,
          time_msc: m.time_msc,
          type: DEAL_TYPES[m.deal_type as number],
          entry: DEAL_ENTRIES[m.entry as number],
          volume: m.volume,
          price: m.price,
          profit: m.profit,
          commission: m.commission,
          swap: m.swap,
          fee: m.fee,
          sl: m.sl ?? null,
          tp: m.tp ?? null,
          magic: m.magic,
          reason: DEAL_REASONS[m.reason as number] ?? null,
          comment: m.comment ?? null,
        })
      }
      case 'ea_status': {
        if (!this.hub.listening('ea_status')) return
        return this.hub.publish('ea_status', 'event', {
          stream_id: streamId,
          online: true,
          heartbeat_time_msc: m.time_msc,
          state: m.state,
          trade_allowed: m.terminal_trade_allowed === true && m.ea_trade_allowed === true,
          terminal_connected: m.connected ?? null,
          last_error: m.last_error ?? null,
          queue_depth: m.queue_depth,
          dropped_ticks: m.dropped_ticks,
        })
      }
    }
  }

  async #refreshBars(): Promise<void> {
    this.#barsTimer = undefined
    const due = [...this.#barsDue]
    this.#barsDue.clear()
    for (const symbolId of due) {
      for (const timeframe of TIMEFRAMES) {
        const key = `bars:${symbolId}:${timeframe}`
        if (this.#closed || !this.hub.listening(key)) continue
        try {
          // the two newest: the bar being built and, at a period's turn, the one just finished
          const page = await this.queries.run({ query: 'bars', params: { symbol_id: symbolId, timeframe }, order: 'desc', limit: 2 }, 'admin')
          this.hub.publish(key, 'tick', { symbol_id: symbolId, timeframe, bars: objects(page.columns, page.rows).reverse() })
        } catch {
          // a busy or failed read: the next commit of the symbol reads them again
          this.#barsDue.add(symbolId)
        }
      }
    }
  }

  async #publishJournal(): Promise<void> {
    this.#journalTimer = undefined
    const due = [...this.#journalDue]
    this.#journalDue.clear()
    for (const key of due) {
      const [accountId, positionId] = key.split(':').map(Number) as [number, number]
      if (this.#closed || !this.hub.listening(`journal:${accountId}`)) continue
      try {
        const page = await this.queries.run({ query: 'journal', params: { account_id: accountId, position_id: positionId }, limit: 1 }, 'admin')
        for (const row of objects(page.columns, page.rows)) this.hub.publish(`journal:${accountId}`, 'event', row)
      } catch {
        this.#journalDue.add(key)
        this.#journalTimer ??= setTimeout(() => void this.#publishJournal(), REFRESH_MS * 10)
      }
    }
  }

  async #publishNotifications(): Promise<void> {
    this.#notificationsTimer = undefined
    if (this.#closed) return
    try {
      const page = await this.queries.run({ query: 'notifications', order: 'desc', limit: SNAPSHOT_ROWS }, 'admin')
      const rows = objects(page.columns, page.rows).filter((r) => (r.id as number) > this.#notificationsSeen).reverse()
      for (const row of rows) {
        this.#notificationsSeen = Math.max(this.#notificationsSeen, row.id as number)
        this.hub.publish('notifications', 'event', row)
      }
    } catch {
      this.refreshNotifications()
    }
  }

  // -------------------------------------------------------------------------------------------
  // Topics

  async #resolve(topic: string, params: Record<string, unknown>, role: 'viewer' | 'admin'): Promise<Resolved> {
    const allow = (...names: string[]) => {
      for (const name of Object.keys(params)) {
        if (!names.includes(name)) throw bad(`params.${name}`, `params.${name}: topic ${topic} takes ${names.join(', ') || 'no parameters'}`)
      }
    }
    const page = async (query: string, p: Record<string, unknown>, limit: number, order?: 'asc' | 'desc') => {
      const r = await this.queries.run({ query, params: p, limit, ...(order && { order }) }, role)
      return objects(r.columns, r.rows)
    }
    switch (topic as TopicName) {
      case 'ticks':
      case 'bars': {
        allow('symbol_id', 'symbol', 'login', 'server', ...(topic === 'bars' ? ['timeframe'] : []))
        const symbol = await this.#symbol(params, role)
        this.#symbolIds.set(`${symbol.accountId}:${symbol.name}`, symbol.id)
        if (topic === 'ticks') {
          return {
            key: `ticks:${symbol.accountId}:${symbol.name}`,
            snapshot: async () => ({ symbol_id: symbol.id, symbol: symbol.name, chart_mode: symbol.chartMode, last: (await page('ticks', { symbol_id: symbol.id }, 1, 'desc'))[0] ?? null }),
          }
        }
        const timeframe = params.timeframe
        if (typeof timeframe !== 'string' || !(TIMEFRAMES as readonly string[]).includes(timeframe)) throw bad('params.timeframe', `params.timeframe: one of ${TIMEFRAMES.join(', ')} (got ${String(timeframe)})`)
        return {
          key: `bars:${symbol.id}:${timeframe}`,
          snapshot: async () => ({ symbol_id: symbol.id, timeframe, bars: (await page('bars', { symbol_id: symbol.id, timeframe }, SNAPSHOT_ROWS, 'desc')).reverse() }),
        }
      }
      case 'positions':
      case 'account':
      case 'deals':
      case 'journal': {
        allow('login', 'server', 'account_id')
        const account = await this.#account(params, role)
        const key = `${topic}:${account.id}`
        const p = { account_id: account.id }
        if (topic === 'positions') return { key, snapshot: async () => ({ positions: await page('positions', { ...p, state: 'open' }, 10_000) }) }
        if (topic === 'account') return { key, snapshot: async () => (await page('account_snapshots', p, 1, 'desc'))[0] ?? null }
        if (topic === 'journal') return { key, snapshot: async () => ({ trades: await page('journal', p, SNAPSHOT_ROWS) }) }
        return { key, snapshot: async () => ({ deals: await page('deals', p, SNAPSHOT_ROWS) }) }
      }
      case 'ea_status':
        allow()
        return { key: 'ea_status', snapshot: async () => ({ instances: await page('ea_instances', {}, 10_000) }) }
      case 'commands':
        allow()
        return { key: 'commands', snapshot: async () => ({ commands: await page('commands', {}, SNAPSHOT_ROWS) }) }
      case 'notifications':
        allow()
        return {
          key: 'notifications',
          snapshot: async () => {
            const rows = await page('notifications', {}, SNAPSHOT_ROWS)
            for (const r of rows) this.#notificationsSeen = Math.max(this.#notificationsSeen, r.id as number)
            return { notifications: rows }
          },
        }
      default:
        throw bad('topic', `topic: "${String(topic).slice(0, 64)}" is not a topic; the topics are ${TOPICS.join(', ')}`)
    }
  }

  /** Up to two rows of a lookup: none, the one, or a sign that the name is ambiguous. */
  async #two(query: string, params: Record<string, unknown>, role: 'viewer' | 'admin'): Promise<[string[], unknown[][]]> {
    const r = await this.queries.run({ query, params, limit: 2 }, role)
    return [r.columns, r.rows]
  }

  async #account(params: Record<string, unknown>, role: 'viewer' | 'admin'): Promise<Account> {
    const p = params.account_id !== undefined ? { account_id: params.account_id } : { login: params.login, ...(params.server !== undefined && { server: params.server }) }
    if (params.account_id === undefined && params.login === undefined) throw bad('params', 'params: name the account: login (+ server), or account_id')
    const rows = objects(...(await this.#two('accounts', p, role)))
    if (rows.length === 0) throw bad('params', `params: no account ${params.account_id !== undefined ? `with id ${String(params.account_id)}` : `${String(params.login)}${params.server !== undefined ? `@${String(params.server)}` : ''}`} has been seen`)
    if (rows.length > 1) throw bad('params.server', `params.server: login ${String(params.login)} is on several servers; name the server`)
    return { id: rows[0]!.account_id as number, login: rows[0]!.login as number, server: rows[0]!.server as string }
  }

  async #symbol(params: Record<string, unknown>, role: 'viewer' | 'admin'): Promise<{ id: number; accountId: number; name: string; chartMode: string }> {
    const byId = params.symbol_id !== undefined
    if (!byId && (params.symbol === undefined || params.login === undefined)) throw bad('params', 'params: name the symbol: symbol_id, or symbol + login (+ server)')
    const filters = byId ? { symbol_id: params.symbol_id } : { symbol: params.symbol, login: params.login, ...(params.server !== undefined && { server: params.server }) }
    const rows = objects(...(await this.#two('symbols', filters, role)))
    if (rows.length === 0) throw bad('params', 'params: no such symbol has been seen (an EA sends symbol_spec or ticks of it first)')
    if (rows.length > 1) throw bad('params.server', `params.server: login ${String(params.login)} is on several servers; name the server`)
    const s = rows[0]!
    return { id: s.symbol_id as number, accountId: s.account_id as number, name: s.name as string, chartMode: (s.chart_mode as string) ?? CHART_MODES[0] }
  }
}
