-- Core registry: trading accounts, broker symbols, EA instances (streams) with their high-water
-- sequence, and EA heartbeats. Every other table hangs off these. Split by dialect for the
-- INTEGER PRIMARY KEY row ids, the JSON check and the millisecond clock expression.
-- Times: *_msc = MT5 broker server time in ms as sent; *_at = engine UTC time in ms.

CREATE TABLE accounts (
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
  CONSTRAINT accounts_login_server_key UNIQUE (login, server)
);

-- Stamps updated_at on any update that did not set it itself (operator SQL, forgetful upserts).
CREATE TRIGGER accounts_touch_updated_at AFTER UPDATE ON accounts
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE accounts
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

-- The server's UTC offset changes with DST; one row per change lets any stored server time be
-- turned into UTC later: the row with the greatest since_msc <= t applies.
CREATE TABLE account_utc_offsets (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  since_msc INTEGER NOT NULL,
  offset_min INTEGER NOT NULL CHECK (offset_min BETWEEN -720 AND 840),
  recorded_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (account_id, since_msc)
) WITHOUT ROWID;

-- Symbols are per trade server: the same name may have other digits or contract size elsewhere.
-- Properties are nullable because ticks may name a symbol before the EA has sent its properties.
CREATE TABLE symbols (
  id INTEGER PRIMARY KEY,
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
  CONSTRAINT symbols_server_name_key UNIQUE (server, name)
);

CREATE TRIGGER symbols_touch_updated_at AFTER UPDATE ON symbols
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE symbols
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;

-- One row per EA instance (a stream). instance_id is the persistent id the EA keeps across
-- restarts; the EA registry (name, version, magic, symbol, strategy, risk config) lives here.
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
  last_seen_at INTEGER NOT NULL,
  CONSTRAINT streams_instance_id_key UNIQUE (instance_id)
);

CREATE INDEX streams_account_magic_idx ON streams (account_id, magic);

-- The replay guard: the writer upserts last_seq in the same transaction as the stream's rows
-- (ON CONFLICT DO UPDATE ... WHERE excluded.last_seq > stream_sequences.last_seq).
CREATE TABLE stream_sequences (
  stream_id INTEGER PRIMARY KEY REFERENCES streams (id),
  last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))
);

-- Heartbeats keyed by the EA's own clock, so a resent heartbeat is the same row.
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
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  PRIMARY KEY (stream_id, time_msc)
) WITHOUT ROWID;
