-- mt5e:foreign-keys-off
-- Undoes 20261203000100_symbols_per_account. Fails (and changes nothing) while two accounts of one
-- server hold a symbol of the same name: merging their ticks is a decision, not a rollback.
CREATE TABLE symbols_rebuilt (
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

INSERT INTO symbols_rebuilt (id, server, name, description, digits, point, contract_size, tick_size, tick_value, volume_min, volume_max, volume_step, currency_base, currency_profit, currency_margin, chart_mode, created_at, updated_at)
SELECT id, server, name, description, digits, point, contract_size, tick_size, tick_value, volume_min, volume_max, volume_step, currency_base, currency_profit, currency_margin, chart_mode, created_at, updated_at FROM symbols;

DROP TABLE symbols;
ALTER TABLE symbols_rebuilt RENAME TO symbols;

CREATE TRIGGER symbols_touch_updated_at AFTER UPDATE ON symbols
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE symbols
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;
