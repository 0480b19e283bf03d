-- Analytics: daily performance and performance reports, risk limits and risk metrics, backtests
-- with their trades, benchmarks and live-versus-backtest deviations, and news events with the
-- trading restrictions they impose. All written by aggregators with upserts on natural keys, so
-- recomputing a period replaces its row. Split by dialect for row ids, JSON and WITHOUT ROWID.
--
-- scope/scope_value say what a row is about: the whole account (scope_value ''), one magic
-- number ('12345'), one strategy tag, or one symbol name.

-- One row per trading day (day_msc = start of the trading day in server time; the boundary is
-- configurable and defaults to server midnight). Realised P&L is booked on the close day.
-- gross_loss is <= 0; profit_factor = gross_profit / |gross_loss|, NULL when there is no loss.
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

-- Performance history: the full metric set for a period (week, month, year, all time, or a
-- day), recomputed and upserted by (scope, period, from_msc); the rows of one period kind over
-- from_msc are the history. Drawdowns follow the MT5 report (absolute, maximal in money,
-- relative in percent); sharpe is the trade-based (AHPR - 1) / SD(HPR).
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

-- Risk limits an operator sets; one limit of each kind per scope. action says what the engine
-- does on a breach.
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

CREATE TRIGGER risk_limits_touch_updated_at AFTER UPDATE ON risk_limits
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE risk_limits
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

-- Risk measured over time (server time), the numbers risk_limits are checked against.
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

-- Strategy tester runs. run_key is the importer's identity for a run (e.g. a hash of the report),
-- so importing the same report twice yields one row.
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

CREATE INDEX backtests_ea_created_idx ON backtests (ea_name, created_at);

-- A backtest's trades, one per tester position; same shape as journal_trades.
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

CREATE INDEX backtest_trades_close_idx ON backtest_trades (backtest_id, close_time_msc);

-- The metric values a backtest produced that live trading is held to, with a tolerance.
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

-- Live versus backtest: one metric of one live EA instance over one window against its benchmark.
-- Recomputing a window upserts the same row.
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

CREATE INDEX backtest_deviations_stream_idx ON backtest_deviations (stream_id, window_to_msc);

-- Economic calendar events. event_at is UTC (not server time): one event concerns every broker.
-- (source, external_id) is the calendar's own identity, so re-importing updates in place.
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

CREATE INDEX news_events_at_idx ON news_events (event_at);
CREATE INDEX news_events_currency_at_idx ON news_events (currency, event_at);

CREATE TRIGGER news_events_touch_updated_at AFTER UPDATE ON news_events
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE news_events
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

-- What an event forbids, and when (UTC). NULL account_id = every account; NULL symbol_id with a
-- currency = every symbol whose base or profit currency it is.
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

CREATE INDEX news_restrictions_ends_idx ON news_restrictions (ends_at, starts_at);
CREATE INDEX news_restrictions_event_idx ON news_restrictions (news_event_id);
