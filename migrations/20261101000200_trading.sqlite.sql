-- Trading: orders and their transaction events, deals, open positions, account snapshots and the
-- equity curve, signals, and the trade journal rebuilt from deals. Split by dialect for row ids,
-- JSON and WITHOUT ROWID. Money and prices are REAL (doubles, as MT5 reports them); enum values
-- are MT5's enum names in lower case without their prefix (DEAL_TYPE_BUY -> 'buy').

-- Orders, current state per ticket; replays upsert the same row.
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

CREATE INDEX orders_account_time_idx ON orders (account_id, time_setup_msc);
CREATE INDEX orders_account_position_idx ON orders (account_id, position_id);
CREATE INDEX orders_working_idx ON orders (account_id, symbol_id)
  WHERE state IN ('started', 'placed', 'partial', 'request_add', 'request_modify', 'request_cancel');

-- OnTradeTransaction events as the EA saw them (the order's history of state changes and request
-- results). No natural key: the stream's high-water sequence makes replays harmless.
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

CREATE INDEX order_events_account_time_idx ON order_events (account_id, time_msc);
CREATE INDEX order_events_order_idx ON order_events (account_id, order_ticket, time_msc);

-- Deals: the broker's durable log. EAs resend deals after every reconnect; the ticket is unique
-- per account, so INSERT OR IGNORE / ON CONFLICT DO NOTHING stores each deal once.
-- Balance, credit and commission deals carry no symbol (symbol_id NULL).
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

CREATE INDEX deals_account_time_idx ON deals (account_id, time_msc);
CREATE INDEX deals_account_position_idx ON deals (account_id, position_id);
CREATE INDEX deals_account_symbol_time_idx ON deals (account_id, symbol_id, time_msc);

-- Positions: the latest snapshot per POSITION_IDENTIFIER (the ticket can change). A closed
-- position stays as 'closed' so a late, stale snapshot cannot reopen it: upserts apply only
-- WHERE state = 'open' AND excluded.time_update_msc >= positions.time_update_msc.
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

CREATE INDEX positions_open_account_idx ON positions (account_id, magic) WHERE state = 'open';
CREATE INDEX positions_open_symbol_idx ON positions (symbol_id) WHERE state = 'open';

-- Account snapshots keyed by server time: a resent snapshot, or the same one from a second EA on
-- the account, is the same row.
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

-- The equity curve: snapshots downsampled by the aggregator into M1/H1/D1 buckets (bucket start in
-- server time), with the running peak and drawdown from it.
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
  samples INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (account_id, resolution, time_msc)
) WITHOUT ROWID;

-- Signals an EA emitted; signal_uid is the EA's own id for it, so a resent signal is one row.
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

CREATE INDEX signals_account_time_idx ON signals (account_id, time_msc);
CREATE INDEX signals_stream_time_idx ON signals (stream_id, time_msc);

-- The trade journal: one row per position, rebuilt from its deals by the journal aggregator and
-- upserted by (account, position id), so rebuilding twice changes nothing. net_profit and
-- duration_ms are generated so they cannot disagree with their parts. close_day_msc is the start
-- of the trading day (server time) the position closed on: realised P&L is booked on that day.
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

CREATE INDEX journal_trades_account_close_idx ON journal_trades
  (account_id, close_time_msc);
CREATE INDEX journal_trades_account_magic_close_idx ON journal_trades
  (account_id, magic, close_time_msc);
CREATE INDEX journal_trades_account_symbol_close_idx ON journal_trades
  (account_id, symbol_id, close_time_msc);
CREATE INDEX journal_trades_account_strategy_close_idx ON journal_trades
  (account_id, strategy, close_time_msc);
