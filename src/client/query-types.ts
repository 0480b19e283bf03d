// Generated from src/query/catalogue.ts by src/query/sdk-types.ts: do not edit by hand.
// Regenerate: npm run build && node -e "import('./dist/src/query/sdk-types.js').then((m) => process.stdout.write(m.renderQueryTypes()))" > src/client/query-types.ts

/** A row of `accounts`: Trading accounts seen, with the newest account snapshot. */
export interface AccountsRow {
  account_id: number
  login: number | null
  server: string | null
  company: string | null
  name: string | null
  currency: string | null
  currency_digits: number | null
  leverage: number | null
  margin_mode: string | null
  trade_mode: string | null
  server_utc_offset_min: number | null
  first_seen_at: number | null
  last_seen_at: number | null
  snapshot_time_msc: number | null
  balance: number | null
  equity: number | null
  margin: number | null
  free_margin: number | null
  margin_level: number | null
  profit: number | null
}

/** The filters of `accounts`. */
export interface AccountsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
}

/** A row of `ea_instances`: EA instances (streams) with their newest heartbeat; `online` says whether one is connected now. */
export interface EaInstancesRow {
  stream_id: number
  instance_id: string | null
  account_id: number | null
  login: number | null
  server: string | null
  ea_name: string | null
  ea_version: string | null
  magic: number | null
  symbol: string | null
  timeframe: string | null
  strategy: string | null
  risk_config: unknown
  first_seen_at: number | null
  last_seen_at: number | null
  heartbeat_time_msc: number | null
  heartbeat_received_at: number | null
  state: string | null
  trade_allowed: boolean | null
  terminal_connected: boolean | null
  open_positions: number | null
  last_error: number | null
  online: boolean
}

/** The filters of `ea_instances`. */
export interface EaInstancesParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the EA instance id */
  instance?: string
  /** the EA magic number */
  magic?: number
  /** the strategy tag */
  strategy?: string
}

/** A row of `ea_heartbeats`: An EA instance's status history (ea_status messages). */
export interface EaHeartbeatsRow {
  stream_id: number
  instance_id: string | null
  time_msc: number
  state: string | null
  trade_allowed: boolean | null
  terminal_connected: boolean | null
  open_positions: number | null
  pending_orders: number | null
  ping_us: number | null
  last_error: number | null
  message: string | null
  queue_depth: number | null
  dropped_ticks: number | null
}

/** The filters of `ea_heartbeats`. */
export interface EaHeartbeatsParams {
  /** the EA instance id */
  instance?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `symbols`: Symbols per account, with their specification (symbol_spec). */
export interface SymbolsRow {
  symbol_id: number
  account_id: number | null
  login: number | null
  server: string | null
  name: string | null
  description: string | null
  digits: number | null
  point: number | null
  contract_size: number | null
  tick_size: number | null
  tick_value: number | null
  volume_min: number | null
  volume_max: number | null
  volume_step: number | null
  currency_base: string | null
  currency_profit: string | null
  currency_margin: string | null
  chart_mode: string | null
  updated_at: number | null
}

/** The filters of `symbols`. */
export interface SymbolsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name */
  symbol?: string
  /** the engine's symbol id */
  symbol_id?: number
}

/** A row of `ticks`: One symbol's ticks in time order. */
export interface TicksRow {
  symbol_id: number
  time_msc: number
  seq: number
  bid: number | null
  ask: number | null
  last: number | null
  volume: number | null
  volume_real: number | null
  flags: number | null
}

/** The filters of `ticks`. Needs symbol_id, or symbol + login. */
export interface TicksParams {
  /** the engine's symbol id */
  symbol_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `bars`: Bars of one symbol and timeframe: the EA-sent bar where there is one, else the one built here (`source` says which). */
export interface BarsRow {
  symbol_id: number
  symbol: string | null
  timeframe: string | null
  time_msc: number
  open: number | null
  high: number | null
  low: number | null
  close: number | null
  tick_volume: number | null
  real_volume: number | null
  spread: number | null
  source: string | null
}

/** The filters of `bars`. Needs timeframe + symbol_id, or timeframe + symbol + login. */
export interface BarsParams {
  /** M1 .. MN1 */
  timeframe?: 'M1' | 'M2' | 'M3' | 'M4' | 'M5' | 'M6' | 'M10' | 'M12' | 'M15' | 'M20' | 'M30' | 'H1' | 'H2' | 'H3' | 'H4' | 'H6' | 'H8' | 'H12' | 'D1' | 'W1' | 'MN1'
  /** the engine's symbol id */
  symbol_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** from this time on, inclusive (ms; compared with open_time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with open_time_msc) */
  to?: number
}

/** A row of `built_bars`: Bars built here from ticks, also where an EA sent its own. */
export interface BuiltBarsRow {
  symbol_id: number
  symbol: string | null
  timeframe: string | null
  time_msc: number
  open: number | null
  high: number | null
  low: number | null
  close: number | null
  tick_volume: number | null
  real_volume: number | null
  spread: number | null
  source: string | null
}

/** The filters of `built_bars`. Needs timeframe + symbol_id, or timeframe + symbol + login. */
export interface BuiltBarsParams {
  /** M1 .. MN1 */
  timeframe?: 'M1' | 'M2' | 'M3' | 'M4' | 'M5' | 'M6' | 'M10' | 'M12' | 'M15' | 'M20' | 'M30' | 'H1' | 'H2' | 'H3' | 'H4' | 'H6' | 'H8' | 'H12' | 'D1' | 'W1' | 'MN1'
  /** the engine's symbol id */
  symbol_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** from this time on, inclusive (ms; compared with open_time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with open_time_msc) */
  to?: number
}

/** A row of `ea_bars`: Bars the EAs sent (bar_batch). */
export interface EaBarsRow {
  symbol_id: number
  symbol: string | null
  timeframe: string | null
  time_msc: number
  open: number | null
  high: number | null
  low: number | null
  close: number | null
  tick_volume: number | null
  real_volume: number | null
  spread: number | null
  source: string | null
}

/** The filters of `ea_bars`. Needs timeframe + symbol_id, or timeframe + symbol + login. */
export interface EaBarsParams {
  /** M1 .. MN1 */
  timeframe?: 'M1' | 'M2' | 'M3' | 'M4' | 'M5' | 'M6' | 'M10' | 'M12' | 'M15' | 'M20' | 'M30' | 'H1' | 'H2' | 'H3' | 'H4' | 'H6' | 'H8' | 'H12' | 'D1' | 'W1' | 'MN1'
  /** the engine's symbol id */
  symbol_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** from this time on, inclusive (ms; compared with open_time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with open_time_msc) */
  to?: number
}

/** A row of `deals`: Deals (the trade history), newest first. */
export interface DealsRow {
  account_id: number
  login: number | null
  server: string | null
  ticket: number
  order_ticket: number | null
  position_id: number | null
  symbol: string | null
  time_msc: number
  type: string | null
  entry: string | null
  volume: number | null
  price: number | null
  profit: number | null
  commission: number | null
  swap: number | null
  fee: number | null
  sl: number | null
  tp: number | null
  magic: number | null
  reason: string | null
  comment: string | null
  instance_id: string | null
}

/** The filters of `deals`. */
export interface DealsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the EA magic number */
  magic?: number
  /** the EA instance id */
  instance?: string
  /** the position (POSITION_IDENTIFIER) */
  position_id?: number
  /** in, out, inout or out_by */
  entry?: 'in' | 'out' | 'inout' | 'out_by'
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `orders`: Orders, by setup time, newest first. */
export interface OrdersRow {
  account_id: number
  login: number | null
  server: string | null
  ticket: number
  position_id: number | null
  symbol: string | null
  type: string | null
  state: string | null
  time_setup_msc: number
  time_done_msc: number | null
  time_expiration_msc: number | null
  volume_initial: number | null
  volume_current: number | null
  price_open: number | null
  price_stoplimit: number | null
  sl: number | null
  tp: number | null
  magic: number | null
  reason: string | null
  comment: string | null
  instance_id: string | null
}

/** The filters of `orders`. */
export interface OrdersParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the EA magic number */
  magic?: number
  /** the EA instance id */
  instance?: string
  /** the order state (placed, filled, ...) */
  state?: string
  /** from this time on, inclusive (ms; compared with time_setup_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_setup_msc) */
  to?: number
}

/** A row of `order_events`: Trade transactions as the EAs reported them (order_event), newest first. */
export interface OrderEventsRow {
  id: number
  account_id: number | null
  login: number | null
  server: string | null
  time_msc: number
  event: string | null
  order_ticket: number | null
  deal_ticket: number | null
  position_id: number | null
  symbol: string | null
  order_type: string | null
  order_state: string | null
  volume: number | null
  price: number | null
  retcode: number | null
  instance_id: string | null
}

/** The filters of `order_events`. */
export interface OrderEventsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the EA instance id */
  instance?: string
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `positions`: Positions: open now (state open) and closed ones (state closed), newest first. */
export interface PositionsRow {
  account_id: number
  login: number | null
  server: string | null
  position_id: number
  ticket: number | null
  symbol: string | null
  type: string | null
  magic: number | null
  volume: number | null
  price_open: number | null
  price_current: number | null
  sl: number | null
  tp: number | null
  profit: number | null
  swap: number | null
  time_msc: number
  time_update_msc: number | null
  state: string | null
  closed_time_msc: number | null
  comment: string | null
  instance_id: string | null
}

/** The filters of `positions`. */
export interface PositionsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the EA magic number */
  magic?: number
  /** the EA instance id */
  instance?: string
  /** open or closed */
  state?: 'open' | 'closed'
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `account_snapshots`: Account snapshots (balance, equity, margin), oldest first. */
export interface AccountSnapshotsRow {
  account_id: number
  login: number | null
  server: string | null
  time_msc: number
  balance: number | null
  credit: number | null
  equity: number | null
  margin: number | null
  free_margin: number | null
  margin_level: number | null
  profit: number | null
  open_positions: number | null
  open_volume: number | null
  pending_orders: number | null
}

/** The filters of `account_snapshots`. */
export interface AccountSnapshotsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `equity_curve`: The equity curve per period (M1, H1, D1): first, highest, lowest and last equity, with the drawdown from the peak. */
export interface EquityCurveRow {
  account_id: number
  login: number | null
  server: string | null
  resolution: string | null
  time_msc: number
  balance: number | null
  equity_open: number | null
  equity_high: number | null
  equity_low: number | null
  equity_close: number | null
  peak_equity: number | null
  drawdown: number | null
  drawdown_pct: number | null
  samples: number | null
}

/** The filters of `equity_curve`. Needs resolution. */
export interface EquityCurveParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** M1, H1 or D1 */
  resolution?: 'M1' | 'H1' | 'D1'
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `journal`: The trade journal: one row per position, newest first. */
export interface JournalRow {
  account_id: number
  login: number | null
  server: string | null
  position_id: number
  symbol: string | null
  instance_id: string | null
  magic: number | null
  strategy: string | null
  direction: string | null
  state: string | null
  open_time_msc: number
  close_time_msc: number | null
  open_price: number | null
  close_price: number | null
  volume: number | null
  volume_closed: number | null
  profit: number | null
  commission: number | null
  swap: number | null
  fee: number | null
  net_profit: number | null
  pips: number | null
  duration_ms: number | null
  deal_count: number | null
  signal_id: number | null
  signal_confidence: number | null
  reasoning: unknown
}

/** The filters of `journal`. */
export interface JournalParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the EA magic number */
  magic?: number
  /** the strategy tag */
  strategy?: string
  /** the EA instance id */
  instance?: string
  /** open or closed */
  state?: 'open' | 'closed'
  /** the position (POSITION_IDENTIFIER) */
  position_id?: number
  /** from this time on, inclusive (ms; compared with open_time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with open_time_msc) */
  to?: number
}

/** A row of `performance_days`: Daily performance per account, magic, strategy or symbol. */
export interface PerformanceDaysRow {
  account_id: number
  login: number | null
  server: string | null
  scope: string
  scope_value: string
  day_msc: number
  trades: number | null
  wins: number | null
  losses: number | null
  gross_profit: number | null
  gross_loss: number | null
  net_profit: number | null
  volume: number | null
  win_rate: number | null
  profit_factor: number | null
  expectancy: number | null
  balance_start: number | null
  balance_end: number | null
  max_drawdown: number | null
  max_drawdown_pct: number | null
}

/** The filters of `performance_days`. */
export interface PerformanceDaysParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** account, magic, strategy or symbol */
  scope?: 'account' | 'magic' | 'strategy' | 'symbol'
  /** the magic, strategy or symbol name ('' for scope account) */
  scope_value?: string
  /** from this time on, inclusive (ms; compared with day_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with day_msc) */
  to?: number
}

/** A row of `performance_reports`: Performance reports per scope and period. */
export interface PerformanceReportsRow {
  account_id: number
  login: number | null
  server: string | null
  scope: string
  scope_value: string
  period: string
  from_msc: number
  to_msc: number | null
  trades: number | null
  wins: number | null
  losses: number | null
  gross_profit: number | null
  gross_loss: number | null
  net_profit: number | null
  win_rate: number | null
  profit_factor: number | null
  expectancy: number | null
  avg_win: number | null
  avg_loss: number | null
  largest_win: number | null
  largest_loss: number | null
  max_consecutive_wins: number | null
  max_consecutive_losses: number | null
  avg_holding_ms: number | null
  balance_drawdown_abs: number | null
  balance_drawdown_max: number | null
  balance_drawdown_rel_pct: number | null
  equity_drawdown_max: number | null
  equity_drawdown_rel_pct: number | null
  recovery_factor: number | null
  sharpe: number | null
  sortino: number | null
  ahpr: number | null
  ghpr: number | null
  z_score: number | null
  computed_at: number | null
}

/** The filters of `performance_reports`. */
export interface PerformanceReportsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** account, magic, strategy or symbol */
  scope?: 'account' | 'magic' | 'strategy' | 'symbol'
  /** the magic, strategy or symbol name ('' for scope account) */
  scope_value?: string
  /** day, week, month, year or all */
  period?: 'day' | 'week' | 'month' | 'year' | 'all'
  /** from this time on, inclusive (ms; compared with from_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with from_msc) */
  to?: number
}

/** A row of `risk_limits`: Risk limits per account or scope. */
export interface RiskLimitsRow {
  id: number
  account_id: number | null
  login: number | null
  server: string | null
  scope: string | null
  scope_value: string | null
  kind: string | null
  value: number | null
  action: string | null
  enabled: boolean | null
  updated_at: number | null
}

/** The filters of `risk_limits`. */
export interface RiskLimitsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** account, magic, strategy or symbol */
  scope?: 'account' | 'magic' | 'strategy' | 'symbol'
  /** the magic, strategy or symbol name ('' for scope account) */
  scope_value?: string
}

/** A row of `risk_metrics`: Risk metrics over time (exposure, daily P&L, drawdown), newest first. */
export interface RiskMetricsRow {
  account_id: number
  login: number | null
  server: string | null
  scope: string
  scope_value: string
  time_msc: number
  exposure_long_lots: number | null
  exposure_short_lots: number | null
  exposure_money: number | null
  open_positions: number | null
  daily_pnl: number | null
  daily_loss_pct: number | null
  drawdown: number | null
  drawdown_pct: number | null
  margin_level: number | null
}

/** The filters of `risk_metrics`. */
export interface RiskMetricsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** account, magic, strategy or symbol */
  scope?: 'account' | 'magic' | 'strategy' | 'symbol'
  /** the magic, strategy or symbol name ('' for scope account) */
  scope_value?: string
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `signals`: Signals the EAs sent, with confidence and reasoning, newest first. */
export interface SignalsRow {
  id: number
  account_id: number | null
  login: number | null
  server: string | null
  instance_id: string | null
  signal_uid: string | null
  symbol: string | null
  time_msc: number
  timeframe: string | null
  direction: string | null
  confidence: number | null
  price: number | null
  sl: number | null
  tp: number | null
  volume: number | null
  strategy: string | null
  status: string | null
  reasoning: unknown
}

/** The filters of `signals`. */
export interface SignalsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the EA instance id */
  instance?: string
  /** the symbol name (per account: give login too) */
  symbol?: string
  /** the strategy tag */
  strategy?: string
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `logs`: The EAs' log lines, newest first. */
export interface LogsRow {
  id: number
  stream_id: number | null
  instance_id: string | null
  time_msc: number
  iteration: number | null
  level: string | null
  phase: string | null
  duration_us: number | null
  message: string | null
  data: unknown
}

/** The filters of `logs`. */
export interface LogsParams {
  /** the EA instance id */
  instance?: string
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** debug, info, warning or error */
  level?: 'debug' | 'info' | 'warning' | 'error'
  /** from this time on, inclusive (ms; compared with time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with time_msc) */
  to?: number
}

/** A row of `commands`: Commands sent to EAs and their status, newest first. */
export interface CommandsRow {
  command_id: string
  account_id: number | null
  login: number | null
  server: string | null
  target: string | null
  instance_id: string | null
  magic: number | null
  command: string | null
  payload: unknown
  status: string | null
  created_at: number
  expires_at: number | null
  delivered_at: number | null
  acked_at: number | null
  finished_at: number | null
  result: unknown
  error: string | null
}

/** The filters of `commands`. */
export interface CommandsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** the engine's account id */
  account_id?: number
  /** the command status */
  status?: 'pending' | 'delivered' | 'accepted' | 'rejected' | 'duplicate' | 'expired' | 'succeeded' | 'failed'
  /** pause, resume, close_positions, close_all, set_risk or custom */
  command?: string
  /** from this time on, inclusive (ms; compared with created_at) */
  from?: number
  /** up to this time, exclusive (ms; compared with created_at) */
  to?: number
}

/** A row of `command_deliveries`: A command's deliveries: one per EA instance it reached. */
export interface CommandDeliveriesRow {
  command_id: string
  stream_id: number
  instance_id: string | null
  status: string | null
  delivered_at: number
  acked_at: number | null
  finished_at: number | null
  result: unknown
  error: string | null
}

/** The filters of `command_deliveries`. */
export interface CommandDeliveriesParams {
  /** the command */
  command_id?: string
  /** the EA instance id */
  instance?: string
}

/** A row of `notifications`: Notifications (refused messages, risk alerts, ...), newest first. */
export interface NotificationsRow {
  id: number
  created_at: number
  level: string | null
  kind: string | null
  account_id: number | null
  login: number | null
  server: string | null
  instance_id: string | null
  title: string | null
  body: string | null
  data: unknown
  read_at: number | null
}

/** The filters of `notifications`. */
export interface NotificationsParams {
  /** the account login */
  login?: number
  /** the account's trade server */
  server?: string
  /** info, warning, error or critical */
  level?: 'info' | 'warning' | 'error' | 'critical'
  /** what raised it */
  kind?: string
  /** true: only unread ones */
  unread?: boolean
  /** from this time on, inclusive (ms; compared with created_at) */
  from?: number
  /** up to this time, exclusive (ms; compared with created_at) */
  to?: number
}

/** A row of `backtests`: Imported Strategy Tester runs with their printed statistics, newest first. */
export interface BacktestsRow {
  id: number
  run_key: string | null
  ea_name: string | null
  ea_version: string | null
  magic: number | null
  strategy: string | null
  symbol: string | null
  timeframe: string | null
  model: string | null
  from_msc: number | null
  to_msc: number | null
  initial_deposit: number | null
  currency: string | null
  leverage: number | null
  parameters: unknown
  status: string | null
  trades: number | null
  net_profit: number | null
  gross_profit: number | null
  gross_loss: number | null
  profit_factor: number | null
  expected_payoff: number | null
  max_drawdown: number | null
  max_drawdown_pct: number | null
  sharpe: number | null
  recovery_factor: number | null
  created_at: number
}

/** The filters of `backtests`. */
export interface BacktestsParams {
  /** the EA */
  ea_name?: string
  /** the EA magic number */
  magic?: number
  /** the strategy tag */
  strategy?: string
  /** from this time on, inclusive (ms; compared with created_at) */
  from?: number
  /** up to this time, exclusive (ms; compared with created_at) */
  to?: number
}

/** A row of `backtest_trades`: A backtest's trades, in close order. */
export interface BacktestTradesRow {
  backtest_id: number | null
  position_id: number
  symbol: string | null
  direction: string | null
  open_time_msc: number | null
  close_time_msc: number
  open_price: number | null
  close_price: number | null
  volume: number | null
  profit: number | null
  commission: number | null
  swap: number | null
  fee: number | null
  net_profit: number | null
  pips: number | null
  duration_ms: number | null
}

/** The filters of `backtest_trades`. Needs backtest_id. */
export interface BacktestTradesParams {
  /** the backtest */
  backtest_id?: number
  /** from this time on, inclusive (ms; compared with close_time_msc) */
  from?: number
  /** up to this time, exclusive (ms; compared with close_time_msc) */
  to?: number
}

/** A row of `backtest_deviations`: Live against backtest, per metric and window, newest first. */
export interface BacktestDeviationsRow {
  id: number
  backtest_id: number | null
  stream_id: number | null
  instance_id: string | null
  metric: string | null
  window_from_msc: number | null
  window_to_msc: number | null
  live_trades: number | null
  live_value: number | null
  backtest_value: number | null
  deviation: number | null
  deviation_pct: number | null
  breached: boolean | null
  computed_at: number
}

/** The filters of `backtest_deviations`. */
export interface BacktestDeviationsParams {
  /** the backtest */
  backtest_id?: number
  /** the EA instance id */
  instance?: string
  /** true: only breaches */
  breached?: boolean
}

/** A row of `news`: Economic calendar events, in time order. */
export interface NewsRow {
  id: number
  source: string | null
  external_id: string | null
  event_at: number
  currency: string | null
  country: string | null
  title: string | null
  importance: string | null
  actual: number | null
  forecast: number | null
  previous: number | null
}

/** The filters of `news`. */
export interface NewsParams {
  /** the currency (USD, EUR, ...) */
  currency?: string
  /** none, low, moderate or high */
  importance?: 'none' | 'low' | 'moderate' | 'high'
  /** from this time on, inclusive (ms; compared with event_at) */
  from?: number
  /** up to this time, exclusive (ms; compared with event_at) */
  to?: number
}

/** A row of `system_metrics`: The engine's own figures over time. */
export interface SystemMetricsRow {
  name: string
  recorded_at: number
  node: string
  value: number | null
  labels: unknown
}

/** The filters of `system_metrics`. */
export interface SystemMetricsParams {
  /** the metric */
  name?: string
  /** from this time on, inclusive (ms; compared with recorded_at) */
  from?: number
  /** up to this time, exclusive (ms; compared with recorded_at) */
  to?: number
}

/** A row of `audit_logs`: What admins did (token, command, SQL console, ...), newest first. Admin only. */
export interface AuditLogsRow {
  id: number
  at: number
  actor_kind: string | null
  token_id: number | null
  actor: string | null
  action: string | null
  target: string | null
  outcome: string | null
  remote_addr: string | null
  detail: unknown
}

/** The filters of `audit_logs`. */
export interface AuditLogsParams {
  /** the action */
  action?: string
  /** from this time on, inclusive (ms; compared with at) */
  from?: number
  /** up to this time, exclusive (ms; compared with at) */
  to?: number
}

/** Every typed query by name: its parameters and the shape of its rows (docs/QUERIES.md). */
export interface QueryTypes {
  accounts: { params: AccountsParams; row: AccountsRow }
  ea_instances: { params: EaInstancesParams; row: EaInstancesRow }
  ea_heartbeats: { params: EaHeartbeatsParams; row: EaHeartbeatsRow }
  symbols: { params: SymbolsParams; row: SymbolsRow }
  ticks: { params: TicksParams; row: TicksRow }
  bars: { params: BarsParams; row: BarsRow }
  built_bars: { params: BuiltBarsParams; row: BuiltBarsRow }
  ea_bars: { params: EaBarsParams; row: EaBarsRow }
  deals: { params: DealsParams; row: DealsRow }
  orders: { params: OrdersParams; row: OrdersRow }
  order_events: { params: OrderEventsParams; row: OrderEventsRow }
  positions: { params: PositionsParams; row: PositionsRow }
  account_snapshots: { params: AccountSnapshotsParams; row: AccountSnapshotsRow }
  equity_curve: { params: EquityCurveParams; row: EquityCurveRow }
  journal: { params: JournalParams; row: JournalRow }
  performance_days: { params: PerformanceDaysParams; row: PerformanceDaysRow }
  performance_reports: { params: PerformanceReportsParams; row: PerformanceReportsRow }
  risk_limits: { params: RiskLimitsParams; row: RiskLimitsRow }
  risk_metrics: { params: RiskMetricsParams; row: RiskMetricsRow }
  signals: { params: SignalsParams; row: SignalsRow }
  logs: { params: LogsParams; row: LogsRow }
  commands: { params: CommandsParams; row: CommandsRow }
  command_deliveries: { params: CommandDeliveriesParams; row: CommandDeliveriesRow }
  notifications: { params: NotificationsParams; row: NotificationsRow }
  backtests: { params: BacktestsParams; row: BacktestsRow }
  backtest_trades: { params: BacktestTradesParams; row: BacktestTradesRow }
  backtest_deviations: { params: BacktestDeviationsParams; row: BacktestDeviationsRow }
  news: { params: NewsParams; row: NewsRow }
  system_metrics: { params: SystemMetricsParams; row: SystemMetricsRow }
  audit_logs: { params: AuditLogsParams; row: AuditLogsRow }
}

export type QueryName = keyof QueryTypes
