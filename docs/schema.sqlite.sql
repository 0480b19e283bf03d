-- mt5-engine schema (sqlite), written by `mt5-engine migrate dump`: do not edit.

CREATE TABLE account_snapshots (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  time_msc INTEGER NOT NULL,
  balance REAL NOT NULL,
  credit REAL NOT NULL DEFAULT 0,
  equity REAL NOT NULL,
  margin REAL NOT NULL DEFAULT 0,
  free_margin REAL NOT NULL DEFAULT 0,
  margin_level REAL,
  profit REAL NOT NULL DEFAULT 0,
  open_positions INTEGER NOT NULL DEFAULT 0,
  open_volume REAL NOT NULL DEFAULT 0,
  pending_orders INTEGER NOT NULL DEFAULT 0,
  stream_id INTEGER REFERENCES streams (id),
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, time_msc)
) WITHOUT ROWID;

CREATE TABLE account_utc_offsets (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  since_msc INTEGER NOT NULL,
  offset_min INTEGER NOT NULL CHECK (offset_min BETWEEN -720 AND 840),
  recorded_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, since_msc)
) WITHOUT ROWID;

CREATE TABLE "accounts" (
  id INTEGER PRIMARY KEY,
  login INTEGER NOT NULL,
  server TEXT NOT NULL,
  company TEXT,
  name TEXT,
  currency TEXT,
  currency_digits INTEGER,
  leverage INTEGER,
  margin_mode TEXT,
  trade_mode TEXT,
  server_utc_offset_min INTEGER NOT NULL DEFAULT 0,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT accounts_login_server_key UNIQUE (login, server),
  CONSTRAINT accounts_login_check CHECK (login > 0),
  CONSTRAINT accounts_leverage_check CHECK (leverage > 0),
  CONSTRAINT accounts_margin_mode_check CHECK (margin_mode IN ('retail_netting', 'exchange',
    'retail_hedging')),
  CONSTRAINT accounts_trade_mode_check CHECK (trade_mode IN ('demo', 'contest', 'real')),
  CONSTRAINT accounts_server_utc_offset_min_check CHECK (server_utc_offset_min BETWEEN -720 AND 840)
);

CREATE TABLE audit_logs (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  actor_kind TEXT NOT NULL CHECK (actor_kind IN ('token', 'cli', 'system')),
  token_id INTEGER,
  actor TEXT,
  action TEXT NOT NULL,
  target TEXT,
  outcome TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'error')),
  remote_addr TEXT,
  detail TEXT CHECK (detail IS NULL OR json_valid(detail))
);

CREATE TABLE backtest_benchmarks (
  backtest_id INTEGER NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
  metric TEXT NOT NULL CHECK (metric IN ('trades_per_day', 'win_rate', 'profit_factor',
    'expectancy', 'avg_win', 'avg_loss', 'avg_holding_ms', 'net_profit_per_day',
    'max_drawdown_pct', 'sharpe')),
  value REAL NOT NULL,
  tolerance_abs REAL,
  tolerance_pct REAL,
  PRIMARY KEY (backtest_id, metric)
) WITHOUT ROWID;

CREATE TABLE backtest_deviations (
  id INTEGER PRIMARY KEY,
  backtest_id INTEGER NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  metric TEXT NOT NULL CHECK (metric IN ('trades_per_day', 'win_rate', 'profit_factor',
    'expectancy', 'avg_win', 'avg_loss', 'avg_holding_ms', 'net_profit_per_day',
    'max_drawdown_pct', 'sharpe')),
  window_from_msc INTEGER NOT NULL,
  window_to_msc INTEGER NOT NULL,
  live_trades INTEGER NOT NULL DEFAULT 0,
  live_value REAL,
  backtest_value REAL,
  deviation REAL GENERATED ALWAYS AS (live_value - backtest_value) STORED,
  deviation_pct REAL,
  breached INTEGER NOT NULL DEFAULT 0 CHECK (breached IN (0, 1)),
  computed_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT backtest_deviations_window_key UNIQUE (backtest_id, stream_id, metric, window_from_msc,
    window_to_msc),
  CONSTRAINT backtest_deviations_window_check CHECK (window_to_msc >= window_from_msc)
);

CREATE TABLE backtest_trades (
  backtest_id INTEGER NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
  position_id INTEGER NOT NULL,
  symbol_id INTEGER REFERENCES symbols (id),
  direction TEXT NOT NULL CHECK (direction IN ('buy', 'sell')),
  open_time_msc INTEGER NOT NULL,
  close_time_msc INTEGER NOT NULL,
  open_price REAL NOT NULL,
  close_price REAL NOT NULL,
  volume REAL NOT NULL,
  profit REAL NOT NULL DEFAULT 0,
  commission REAL NOT NULL DEFAULT 0,
  swap REAL NOT NULL DEFAULT 0,
  fee REAL NOT NULL DEFAULT 0,
  net_profit REAL GENERATED ALWAYS AS (profit + commission + swap + fee) STORED,
  pips REAL,
  duration_ms INTEGER GENERATED ALWAYS AS (close_time_msc - open_time_msc) STORED,
  PRIMARY KEY (backtest_id, position_id)
);

CREATE TABLE backtests (
  id INTEGER PRIMARY KEY,
  run_key TEXT NOT NULL,
  ea_name TEXT NOT NULL,
  ea_version TEXT,
  magic INTEGER,
  strategy TEXT,
  symbol_id INTEGER REFERENCES symbols (id),
  timeframe TEXT CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15',
    'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  model TEXT CHECK (model IN ('every_tick', 'real_ticks', 'ohlc_m1', 'open_prices', 'math')),
  from_msc INTEGER NOT NULL,
  to_msc INTEGER NOT NULL,
  initial_deposit REAL NOT NULL,
  currency TEXT,
  leverage INTEGER,
  parameters TEXT CHECK (parameters IS NULL OR json_valid(parameters)),
  status TEXT NOT NULL DEFAULT 'completed' CHECK (status IN ('running', 'completed', 'failed')),
  trades INTEGER,
  net_profit REAL,
  gross_profit REAL,
  gross_loss REAL,
  profit_factor REAL,
  expected_payoff REAL,
  max_drawdown REAL,
  max_drawdown_pct REAL,
  sharpe REAL,
  recovery_factor REAL,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  finished_at INTEGER,
  CONSTRAINT backtests_run_key_key UNIQUE (run_key),
  CONSTRAINT backtests_range_check CHECK (to_msc >= from_msc)
);

CREATE TABLE bar_dirty (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  minute_msc INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, from_ticks INTEGER NOT NULL DEFAULT 1 CHECK (from_ticks IN (0, 1)),
  PRIMARY KEY (symbol_id, minute_msc)
) WITHOUT ROWID;

CREATE TABLE built_bars (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  timeframe TEXT NOT NULL CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12',
    'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  open_time_msc INTEGER NOT NULL,
  open REAL NOT NULL,
  high REAL NOT NULL,
  low REAL NOT NULL,
  close REAL NOT NULL,
  tick_volume INTEGER NOT NULL,
  real_volume REAL NOT NULL,
  spread INTEGER NOT NULL,
  PRIMARY KEY (symbol_id, timeframe, open_time_msc),
  CONSTRAINT built_bars_ohlc_check CHECK (low <= open AND low <= close AND high >= open AND high >= close)
) WITHOUT ROWID;

CREATE TABLE command_deliveries (
  command_id TEXT NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  status TEXT NOT NULL DEFAULT 'delivered' CHECK (status IN ('delivered', 'accepted', 'rejected',
    'duplicate', 'expired', 'succeeded', 'failed')),
  delivered_at INTEGER NOT NULL,
  acked_at INTEGER,
  finished_at INTEGER,
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  error TEXT,
  PRIMARY KEY (command_id, stream_id)
);

CREATE TABLE commands (
  id TEXT NOT NULL PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  target TEXT NOT NULL CHECK (target IN ('instance', 'magic', 'account')),
  stream_id INTEGER REFERENCES streams (id),
  magic INTEGER,
  type TEXT NOT NULL CHECK (type IN ('pause', 'resume', 'close_positions', 'close_all', 'set_risk',
    'custom')),
  payload TEXT CHECK (payload IS NULL OR json_valid(payload)),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'accepted',
    'rejected', 'duplicate', 'expired', 'succeeded', 'failed')),
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  expires_at INTEGER NOT NULL,
  delivered_at INTEGER,
  acked_at INTEGER,
  finished_at INTEGER,
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  error TEXT,
  issued_by_token_id INTEGER REFERENCES tokens (id),
  CONSTRAINT commands_target_fields_check CHECK (
    (target = 'instance' AND stream_id IS NOT NULL AND magic IS NULL)
    OR (target = 'magic' AND stream_id IS NULL AND magic IS NOT NULL)
    OR (target = 'account' AND stream_id IS NULL AND magic IS NULL)),
  CONSTRAINT commands_expiry_check CHECK (expires_at > created_at)
);

CREATE TABLE deals (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  ticket INTEGER NOT NULL,
  order_ticket INTEGER NOT NULL DEFAULT 0,
  position_id INTEGER NOT NULL DEFAULT 0,
  symbol_id INTEGER REFERENCES symbols (id),
  stream_id INTEGER REFERENCES streams (id),
  time_msc INTEGER NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('buy', 'sell', 'balance', 'credit', 'charge', 'correction',
    'bonus', 'commission', 'commission_daily', 'commission_monthly', 'commission_agent_daily',
    'commission_agent_monthly', 'interest', 'buy_canceled', 'sell_canceled', 'dividend',
    'dividend_franked', 'tax')),
  entry TEXT NOT NULL CHECK (entry IN ('in', 'out', 'inout', 'out_by')),
  volume REAL NOT NULL DEFAULT 0,
  price REAL NOT NULL DEFAULT 0,
  profit REAL NOT NULL DEFAULT 0,
  commission REAL NOT NULL DEFAULT 0,
  swap REAL NOT NULL DEFAULT 0,
  fee REAL NOT NULL DEFAULT 0,
  sl REAL,
  tp REAL,
  magic INTEGER NOT NULL DEFAULT 0,
  reason TEXT CHECK (reason IN ('client', 'mobile', 'web', 'expert', 'sl', 'tp', 'so', 'rollover',
    'vmargin', 'split', 'corporate_action')),
  comment TEXT,
  external_id TEXT,
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, ticket)
);

CREATE TABLE "ea_bars" (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  timeframe TEXT NOT NULL CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12',
    'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  open_time_msc INTEGER NOT NULL,
  open REAL NOT NULL,
  high REAL NOT NULL,
  low REAL NOT NULL,
  close REAL NOT NULL,
  tick_volume INTEGER NOT NULL DEFAULT 0,
  real_volume REAL NOT NULL DEFAULT 0,
  spread INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (symbol_id, timeframe, open_time_msc),
  CONSTRAINT bars_ohlc_check CHECK (low <= open AND low <= close AND high >= open AND high >= close)
) WITHOUT ROWID;

CREATE TABLE ea_heartbeats (
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  time_msc INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'paused', 'stopping', 'error')),
  trade_allowed INTEGER NOT NULL CHECK (trade_allowed IN (0, 1)),
  terminal_connected INTEGER NOT NULL CHECK (terminal_connected IN (0, 1)),
  server_utc_offset_min INTEGER,
  open_positions INTEGER,
  pending_orders INTEGER,
  ping_us INTEGER,
  last_error INTEGER,
  message TEXT,
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)), queue_depth integer, dropped_ticks bigint,
  PRIMARY KEY (stream_id, time_msc)
) WITHOUT ROWID;

CREATE TABLE equity_points (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  resolution TEXT NOT NULL CHECK (resolution IN ('M1', 'H1', 'D1')),
  time_msc INTEGER NOT NULL,
  balance REAL NOT NULL,
  equity_open REAL NOT NULL,
  equity_high REAL NOT NULL,
  equity_low REAL NOT NULL,
  equity_close REAL NOT NULL,
  peak_equity REAL NOT NULL,
  drawdown REAL NOT NULL DEFAULT 0,
  drawdown_pct REAL NOT NULL DEFAULT 0,
  samples INTEGER NOT NULL DEFAULT 1, first_time_msc INTEGER, last_time_msc INTEGER,
  PRIMARY KEY (account_id, resolution, time_msc)
) WITHOUT ROWID;

CREATE TABLE iteration_logs (
  id INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  time_msc INTEGER NOT NULL,
  iteration INTEGER,
  level TEXT NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warning', 'error')),
  phase TEXT,
  duration_us INTEGER,
  message TEXT,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))
);

CREATE TABLE journal_trades (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  position_id INTEGER NOT NULL,
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  stream_id INTEGER REFERENCES streams (id),
  magic INTEGER NOT NULL DEFAULT 0,
  strategy TEXT,
  direction TEXT NOT NULL CHECK (direction IN ('buy', 'sell')),
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  open_time_msc INTEGER NOT NULL,
  close_time_msc INTEGER,
  close_day_msc INTEGER,
  open_price REAL NOT NULL,
  close_price REAL,
  volume REAL NOT NULL,
  volume_closed REAL NOT NULL DEFAULT 0,
  profit REAL NOT NULL DEFAULT 0,
  commission REAL NOT NULL DEFAULT 0,
  swap REAL NOT NULL DEFAULT 0,
  fee REAL NOT NULL DEFAULT 0,
  net_profit REAL GENERATED ALWAYS AS (profit + commission + swap + fee) STORED,
  pips REAL,
  duration_ms INTEGER GENERATED ALWAYS AS (close_time_msc - open_time_msc) STORED,
  deal_count INTEGER NOT NULL DEFAULT 0,
  first_deal_ticket INTEGER,
  last_deal_ticket INTEGER,
  signal_id INTEGER REFERENCES signals (id),
  signal_confidence REAL CHECK (signal_confidence BETWEEN 0 AND 1),
  reasoning TEXT CHECK (reasoning IS NULL OR json_valid(reasoning)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, position_id),
  CONSTRAINT journal_trades_closed_check CHECK (state = 'open' OR close_time_msc IS NOT NULL)
);

CREATE TABLE news_events (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  external_id TEXT NOT NULL,
  event_at INTEGER NOT NULL,
  currency TEXT,
  country TEXT,
  title TEXT NOT NULL,
  importance TEXT NOT NULL DEFAULT 'low' CHECK (importance IN ('none', 'low', 'moderate', 'high')),
  actual REAL,
  forecast REAL,
  previous REAL,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT news_events_source_external_key UNIQUE (source, external_id)
);

CREATE TABLE news_restrictions (
  id INTEGER PRIMARY KEY,
  news_event_id INTEGER NOT NULL REFERENCES news_events (id) ON DELETE CASCADE,
  account_id INTEGER REFERENCES accounts (id),
  symbol_id INTEGER REFERENCES symbols (id),
  currency TEXT,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('no_new_trades', 'close_positions', 'tighten_stops',
    'alert')),
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT news_restrictions_window_check CHECK (ends_at >= starts_at)
);

CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error', 'critical')),
  kind TEXT NOT NULL,
  account_id INTEGER REFERENCES accounts (id),
  stream_id INTEGER REFERENCES streams (id),
  title TEXT NOT NULL,
  body TEXT,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  dedupe_key TEXT,
  read_at INTEGER,
  CONSTRAINT notifications_dedupe_key_key UNIQUE (dedupe_key)
);

CREATE TABLE order_events (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  stream_id INTEGER REFERENCES streams (id),
  time_msc INTEGER NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('order_add', 'order_update', 'order_delete', 'history_add',
    'history_update', 'history_delete', 'deal_add', 'deal_update', 'deal_delete', 'position',
    'request')),
  order_ticket INTEGER NOT NULL DEFAULT 0,
  deal_ticket INTEGER NOT NULL DEFAULT 0,
  position_id INTEGER NOT NULL DEFAULT 0,
  symbol_id INTEGER REFERENCES symbols (id),
  order_type TEXT,
  order_state TEXT,
  volume REAL,
  price REAL,
  sl REAL,
  tp REAL,
  request_id INTEGER,
  retcode INTEGER,
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))
);

CREATE TABLE orders (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  ticket INTEGER NOT NULL,
  position_id INTEGER NOT NULL DEFAULT 0,
  symbol_id INTEGER REFERENCES symbols (id),
  stream_id INTEGER REFERENCES streams (id),
  type TEXT NOT NULL CHECK (type IN ('buy', 'sell', 'buy_limit', 'sell_limit', 'buy_stop',
    'sell_stop', 'buy_stop_limit', 'sell_stop_limit', 'close_by')),
  state TEXT NOT NULL CHECK (state IN ('started', 'placed', 'canceled', 'partial', 'filled',
    'rejected', 'expired', 'request_add', 'request_modify', 'request_cancel')),
  type_filling TEXT CHECK (type_filling IN ('fok', 'ioc', 'return', 'boc')),
  type_time TEXT CHECK (type_time IN ('gtc', 'day', 'specified', 'specified_day')),
  time_setup_msc INTEGER NOT NULL,
  time_expiration_msc INTEGER,
  time_done_msc INTEGER,
  volume_initial REAL NOT NULL,
  volume_current REAL NOT NULL,
  price_open REAL,
  price_stoplimit REAL,
  sl REAL,
  tp REAL,
  magic INTEGER NOT NULL DEFAULT 0,
  reason TEXT CHECK (reason IN ('client', 'mobile', 'web', 'expert', 'sl', 'tp', 'so')),
  comment TEXT,
  external_id TEXT,
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, ticket)
);

CREATE TABLE performance_days (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  scope TEXT NOT NULL CHECK (scope IN ('account', 'magic', 'strategy', 'symbol')),
  scope_value TEXT NOT NULL DEFAULT '',
  day_msc INTEGER NOT NULL,
  trades INTEGER NOT NULL DEFAULT 0,
  wins INTEGER NOT NULL DEFAULT 0,
  losses INTEGER NOT NULL DEFAULT 0,
  gross_profit REAL NOT NULL DEFAULT 0,
  gross_loss REAL NOT NULL DEFAULT 0,
  commission REAL NOT NULL DEFAULT 0,
  swap REAL NOT NULL DEFAULT 0,
  fee REAL NOT NULL DEFAULT 0,
  net_profit REAL NOT NULL DEFAULT 0,
  volume REAL NOT NULL DEFAULT 0,
  win_rate REAL CHECK (win_rate BETWEEN 0 AND 1),
  profit_factor REAL,
  expectancy REAL,
  balance_start REAL,
  balance_end REAL,
  max_drawdown REAL,
  max_drawdown_pct REAL,
  sharpe REAL,
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, scope, scope_value, day_msc),
  CONSTRAINT performance_days_scope_value_check CHECK ((scope = 'account') = (scope_value = '')),
  CONSTRAINT performance_days_counts_check CHECK (wins + losses <= trades)
) WITHOUT ROWID;

CREATE TABLE performance_reports (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  scope TEXT NOT NULL CHECK (scope IN ('account', 'magic', 'strategy', 'symbol')),
  scope_value TEXT NOT NULL DEFAULT '',
  period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month', 'year', 'all')),
  from_msc INTEGER NOT NULL,
  to_msc INTEGER NOT NULL,
  trades INTEGER NOT NULL DEFAULT 0,
  wins INTEGER NOT NULL DEFAULT 0,
  losses INTEGER NOT NULL DEFAULT 0,
  gross_profit REAL NOT NULL DEFAULT 0,
  gross_loss REAL NOT NULL DEFAULT 0,
  net_profit REAL NOT NULL DEFAULT 0,
  win_rate REAL CHECK (win_rate BETWEEN 0 AND 1),
  profit_factor REAL,
  expectancy REAL,
  avg_win REAL,
  avg_loss REAL,
  largest_win REAL,
  largest_loss REAL,
  max_consecutive_wins INTEGER,
  max_consecutive_losses INTEGER,
  avg_holding_ms INTEGER,
  balance_drawdown_abs REAL,
  balance_drawdown_max REAL,
  balance_drawdown_rel_pct REAL,
  equity_drawdown_max REAL,
  equity_drawdown_rel_pct REAL,
  recovery_factor REAL,
  sharpe REAL,
  sortino REAL,
  ahpr REAL,
  ghpr REAL,
  z_score REAL,
  computed_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, scope, scope_value, period, from_msc),
  CONSTRAINT performance_reports_scope_value_check CHECK ((scope = 'account') = (scope_value = '')),
  CONSTRAINT performance_reports_range_check CHECK (to_msc >= from_msc),
  CONSTRAINT performance_reports_counts_check CHECK (wins + losses <= trades)
);

CREATE TABLE positions (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  position_id INTEGER NOT NULL,
  ticket INTEGER NOT NULL,
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  stream_id INTEGER REFERENCES streams (id),
  type TEXT NOT NULL CHECK (type IN ('buy', 'sell')),
  magic INTEGER NOT NULL DEFAULT 0,
  volume REAL NOT NULL,
  price_open REAL NOT NULL,
  price_current REAL,
  sl REAL,
  tp REAL,
  profit REAL NOT NULL DEFAULT 0,
  swap REAL NOT NULL DEFAULT 0,
  time_msc INTEGER NOT NULL,
  time_update_msc INTEGER NOT NULL,
  reason TEXT CHECK (reason IN ('client', 'mobile', 'web', 'expert')),
  comment TEXT,
  external_id TEXT,
  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
  closed_time_msc INTEGER,
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, position_id),
  CONSTRAINT positions_closed_time_check CHECK (state = 'open' OR closed_time_msc IS NOT NULL)
);

CREATE TABLE risk_limits (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  scope TEXT NOT NULL CHECK (scope IN ('account', 'magic', 'strategy', 'symbol')),
  scope_value TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK (kind IN ('max_exposure_lots', 'max_exposure_money', 'max_positions',
    'max_volume_per_trade', 'daily_loss_money', 'daily_loss_pct', 'max_drawdown_money',
    'max_drawdown_pct')),
  value REAL NOT NULL CHECK (value >= 0),
  action TEXT NOT NULL DEFAULT 'alert' CHECK (action IN ('alert', 'block_new', 'pause',
    'close_all')),
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT risk_limits_scope_value_check CHECK ((scope = 'account') = (scope_value = '')),
  CONSTRAINT risk_limits_scope_kind_key UNIQUE (account_id, scope, scope_value, kind)
);

CREATE TABLE risk_metrics (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  scope TEXT NOT NULL CHECK (scope IN ('account', 'magic', 'strategy', 'symbol')),
  scope_value TEXT NOT NULL DEFAULT '',
  time_msc INTEGER NOT NULL,
  exposure_long_lots REAL NOT NULL DEFAULT 0,
  exposure_short_lots REAL NOT NULL DEFAULT 0,
  exposure_money REAL NOT NULL DEFAULT 0,
  open_positions INTEGER NOT NULL DEFAULT 0,
  daily_pnl REAL NOT NULL DEFAULT 0,
  daily_loss_pct REAL,
  drawdown REAL,
  drawdown_pct REAL,
  margin_level REAL,
  computed_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, scope, scope_value, time_msc),
  CONSTRAINT risk_metrics_scope_value_check CHECK ((scope = 'account') = (scope_value = ''))
) WITHOUT ROWID;

CREATE TABLE schema_migrations (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  rollback_checksum text,
  applied_at integer NOT NULL,
  apply_order integer NOT NULL UNIQUE,
  duration_ms integer,
  state text NOT NULL DEFAULT 'applied'
    CHECK (state IN ('applied', 'running', 'failed', 'rolling_back', 'rollback_failed')),
  error text
);

CREATE TABLE signals (
  id INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  signal_uid TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  symbol_id INTEGER REFERENCES symbols (id),
  time_msc INTEGER NOT NULL,
  timeframe TEXT CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15',
    'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  direction TEXT NOT NULL CHECK (direction IN ('buy', 'sell', 'close', 'hold')),
  confidence REAL CHECK (confidence BETWEEN 0 AND 1),
  price REAL,
  sl REAL,
  tp REAL,
  volume REAL,
  strategy TEXT,
  status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'taken', 'skipped', 'expired',
    'rejected')),
  reasoning TEXT CHECK (reasoning IS NULL OR json_valid(reasoning)),
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT signals_stream_uid_key UNIQUE (stream_id, signal_uid)
);

CREATE TABLE stream_sequences (
  stream_id INTEGER PRIMARY KEY REFERENCES streams (id),
  last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))
);

CREATE TABLE streams (
  id INTEGER PRIMARY KEY,
  instance_id TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  ea_name TEXT NOT NULL,
  ea_version TEXT,
  magic INTEGER NOT NULL DEFAULT 0,
  symbol_id INTEGER REFERENCES symbols (id),
  timeframe TEXT CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15', 'M20',
    'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  strategy TEXT,
  risk_config TEXT CHECK (risk_config IS NULL OR json_valid(risk_config)),
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL, token_id BIGINT REFERENCES tokens (id),
  CONSTRAINT streams_instance_id_key UNIQUE (instance_id)
);

CREATE TABLE "symbols" (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  server TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  digits INTEGER CHECK (digits BETWEEN 0 AND 16),
  point REAL CHECK (point > 0),
  contract_size REAL,
  tick_size REAL,
  tick_value REAL,
  volume_min REAL,
  volume_max REAL,
  volume_step REAL,
  currency_base TEXT,
  currency_profit TEXT,
  currency_margin TEXT,
  chart_mode TEXT NOT NULL DEFAULT 'bid' CHECK (chart_mode IN ('bid', 'last')),
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  CONSTRAINT symbols_account_name_key UNIQUE (account_id, name)
);

CREATE TABLE system_metrics (
  name TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  node TEXT NOT NULL,
  value REAL NOT NULL,
  labels TEXT CHECK (labels IS NULL OR json_valid(labels)),
  PRIMARY KEY (name, recorded_at, node)
) WITHOUT ROWID;

CREATE TABLE ticks (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  seq INTEGER NOT NULL DEFAULT 0,
  time_msc INTEGER NOT NULL,
  bid REAL NOT NULL,
  ask REAL NOT NULL,
  last REAL NOT NULL,
  volume INTEGER NOT NULL,
  volume_real REAL NOT NULL,
  flags INTEGER NOT NULL,
  PRIMARY KEY (symbol_id, time_msc, seq)
) WITHOUT ROWID;

CREATE TABLE tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('ea', 'viewer', 'admin')),
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  revoked_at INTEGER, expires_at BIGINT, last_used_at BIGINT, scope_login BIGINT, scope_server TEXT, scope_instance TEXT, scope_magic BIGINT, scope_first_use INTEGER NOT NULL DEFAULT 0 CHECK (scope_first_use IN (0, 1)), bound_at BIGINT,
  CONSTRAINT tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX audit_logs_action_at_idx ON audit_logs (action, at);

CREATE INDEX audit_logs_at_idx ON audit_logs (at);

CREATE INDEX backtest_deviations_stream_idx ON backtest_deviations (stream_id, window_to_msc);

CREATE INDEX backtest_trades_close_idx ON backtest_trades (backtest_id, close_time_msc);

CREATE INDEX backtests_ea_created_idx ON backtests (ea_name, created_at);

CREATE INDEX command_deliveries_stream_idx ON command_deliveries (stream_id, delivered_at);

CREATE INDEX commands_account_created_idx ON commands (account_id, created_at);

CREATE INDEX commands_open_expiry_idx ON commands (expires_at)
  WHERE status IN ('pending', 'delivered', 'accepted');

CREATE INDEX deals_account_magic_time_idx ON deals (account_id, magic, time_msc);

CREATE INDEX deals_account_position_idx ON deals (account_id, position_id);

CREATE INDEX deals_account_symbol_time_idx ON deals (account_id, symbol_id, time_msc);

CREATE INDEX deals_account_time_idx ON deals (account_id, time_msc);

CREATE INDEX iteration_logs_stream_time_idx ON iteration_logs (stream_id, time_msc);

CREATE INDEX journal_trades_account_close_idx ON journal_trades
  (account_id, close_time_msc);

CREATE INDEX journal_trades_account_magic_close_idx ON journal_trades
  (account_id, magic, close_time_msc);

CREATE INDEX journal_trades_account_open_idx ON journal_trades (account_id, open_time_msc, position_id);

CREATE INDEX journal_trades_account_strategy_close_idx ON journal_trades
  (account_id, strategy, close_time_msc);

CREATE INDEX journal_trades_account_symbol_close_idx ON journal_trades
  (account_id, symbol_id, close_time_msc);

CREATE INDEX journal_trades_open_idx ON journal_trades (open_time_msc, account_id, position_id);

CREATE INDEX news_events_at_idx ON news_events (event_at);

CREATE INDEX news_events_currency_at_idx ON news_events (currency, event_at);

CREATE INDEX news_restrictions_ends_idx ON news_restrictions (ends_at, starts_at);

CREATE INDEX news_restrictions_event_idx ON news_restrictions (news_event_id);

CREATE INDEX notifications_account_created_idx ON notifications (account_id, created_at);

CREATE INDEX notifications_created_idx ON notifications (created_at);

CREATE INDEX notifications_unread_idx ON notifications (created_at) WHERE read_at IS NULL;

CREATE INDEX order_events_account_time_idx ON order_events (account_id, time_msc);

CREATE INDEX order_events_order_idx ON order_events (account_id, order_ticket, time_msc);

CREATE INDEX orders_account_position_idx ON orders (account_id, position_id);

CREATE INDEX orders_account_time_idx ON orders (account_id, time_setup_msc);

CREATE INDEX orders_working_idx ON orders (account_id, symbol_id)
  WHERE state IN ('started', 'placed', 'partial', 'request_add', 'request_modify', 'request_cancel');

CREATE INDEX positions_open_account_idx ON positions (account_id, magic) WHERE state = 'open';

CREATE INDEX positions_open_symbol_idx ON positions (symbol_id) WHERE state = 'open';

CREATE INDEX signals_account_time_idx ON signals (account_id, time_msc);

CREATE INDEX signals_stream_time_idx ON signals (stream_id, time_msc);

CREATE INDEX streams_account_magic_idx ON streams (account_id, magic);

CREATE UNIQUE INDEX tokens_live_name_key ON tokens (name) WHERE revoked_at IS NULL;

CREATE VIEW bars AS
SELECT symbol_id, timeframe, open_time_msc, open, high, low, close, tick_volume, real_volume, spread, 'ea' AS source
FROM ea_bars
UNION ALL
SELECT b.symbol_id, b.timeframe, b.open_time_msc, b.open, b.high, b.low, b.close, b.tick_volume, b.real_volume, b.spread, 'built' AS source
FROM built_bars b
WHERE NOT EXISTS (
  SELECT 1 FROM ea_bars e
  WHERE e.symbol_id = b.symbol_id AND e.timeframe = b.timeframe AND e.open_time_msc = b.open_time_msc
);

CREATE TRIGGER accounts_touch_updated_at AFTER UPDATE ON accounts
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE accounts
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

CREATE TRIGGER audit_logs_append_only BEFORE UPDATE ON audit_logs
BEGIN
  SELECT RAISE(ABORT, 'audit_logs is append-only: rows cannot be updated');
END;

CREATE TRIGGER news_events_touch_updated_at AFTER UPDATE ON news_events
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE news_events
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

CREATE TRIGGER risk_limits_touch_updated_at AFTER UPDATE ON risk_limits
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE risk_limits
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

CREATE TRIGGER symbols_touch_updated_at AFTER UPDATE ON symbols
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE symbols
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;
