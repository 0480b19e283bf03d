-- Undoes 20261101000600_token_expiry: drops the two columns (SQLite 3.35+ and PostgreSQL).
ALTER TABLE tokens DROP COLUMN last_used_at;
ALTER TABLE tokens DROP COLUMN expires_at;
