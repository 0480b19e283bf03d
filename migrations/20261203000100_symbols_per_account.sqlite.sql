-- mt5e:foreign-keys-off
-- Symbols (and so their ticks and bars) belong to the account whose EAs sent them, not to the
-- trade server: keyed by (server, name), any EA on a server could write a tick in the future or a
-- wrong contract size into every other account's market data, and the genuine writes were then
-- dropped as duplicates. Two EAs of one account on one symbol still share its rows and deduplicate.
-- Existing symbols go to the oldest account on their server, which keeps their ticks.
-- SQLite cannot drop a UNIQUE constraint: the table is rebuilt, ids kept, so every reference holds.
CREATE TABLE symbols_rebuilt (
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

INSERT INTO symbols_rebuilt (account_id, id, server, name, description, digits, point, contract_size, tick_size, tick_value, volume_min, volume_max, volume_step, currency_base, currency_profit, currency_margin, chart_mode, created_at, updated_at)
SELECT (SELECT min(a.id) FROM accounts a WHERE a.server = s.server), s.id, s.server, s.name, s.description, s.digits, s.point, s.contract_size, s.tick_size, s.tick_value, s.volume_min, s.volume_max, s.volume_step, s.currency_base, s.currency_profit, s.currency_margin, s.chart_mode, s.created_at, s.updated_at
FROM symbols s;

DROP TABLE symbols;
ALTER TABLE symbols_rebuilt RENAME TO symbols;

CREATE TRIGGER symbols_touch_updated_at AFTER UPDATE ON symbols
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE symbols
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;
