-- mt5e:foreign-keys-off
-- Undoes 20261101000500_account_checks: rebuilds accounts without the checks (same columns, same
-- order, same key, same trigger), with foreign keys off as in the migration.
CREATE TABLE accounts_old (
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

INSERT INTO accounts_old (id, login, server, company, name, currency, currency_digits, leverage,
  margin_mode, trade_mode, server_utc_offset_min, first_seen_at, last_seen_at, created_at,
  updated_at)
SELECT id, login, server, company, name, currency, currency_digits, leverage, margin_mode,
  trade_mode, server_utc_offset_min, first_seen_at, last_seen_at, created_at, updated_at
FROM accounts;

DROP TABLE accounts;

ALTER TABLE accounts_old RENAME TO accounts;

CREATE TRIGGER accounts_touch_updated_at AFTER UPDATE ON accounts
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE accounts
  SET updated_at = CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
  WHERE id = NEW.id;
END;
