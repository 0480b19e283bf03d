-- mt5e:foreign-keys-off
-- Accounts: the first version stored the EA's hello fields unchecked. The database now refuses
-- what the gateway refuses: a login <= 0, a leverage <= 0, unknown margin or trade modes (MT5's
-- ACCOUNT_MARGIN_MODE_* / ACCOUNT_TRADE_MODE_* names in lower case) and an impossible UTC
-- offset. If a stored row breaks a rule the migration fails and nothing changes.
--
-- SQLite cannot add a CHECK to an existing table, so the table is rebuilt: new table, copy, drop,
-- rename (https://sqlite.org/lang_altertable.html#otheralter). Nearly every table references
-- accounts, so foreign keys are off for the rebuild (otherwise DROP TABLE would delete or
-- refuse); the migrator runs PRAGMA foreign_key_check before commit. The rename leaves the
-- references in other tables pointing at "accounts" as before. accounts has no index besides its
-- keys; its updated_at trigger went with the old table and is created again.
CREATE TABLE accounts_new (
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

INSERT INTO accounts_new (id, login, server, company, name, currency, currency_digits, leverage,
  margin_mode, trade_mode, server_utc_offset_min, first_seen_at, last_seen_at, created_at,
  updated_at)
SELECT id, login, server, company, name, currency, currency_digits, leverage, margin_mode,
  trade_mode, server_utc_offset_min, first_seen_at, last_seen_at, created_at, updated_at
FROM accounts;

DROP TABLE accounts;

ALTER TABLE accounts_new RENAME TO accounts;

CREATE TRIGGER accounts_touch_updated_at AFTER UPDATE ON accounts
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE accounts
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;
