-- Accounts: the first version stored the EA's hello fields unchecked. The database now refuses
-- what the gateway refuses: a login <= 0, a leverage <= 0, unknown margin or trade modes (MT5's
-- ACCOUNT_MARGIN_MODE_* / ACCOUNT_TRADE_MODE_* names in lower case) and an impossible UTC
-- offset. If a stored row breaks a rule the migration fails and nothing changes.
-- PostgreSQL adds the checks in place (one scan of a small table); the SQLite twin rebuilds the
-- table. Constraint names are the same on both.
ALTER TABLE accounts
  ADD CONSTRAINT accounts_login_check CHECK (login > 0),
  ADD CONSTRAINT accounts_leverage_check CHECK (leverage > 0),
  ADD CONSTRAINT accounts_margin_mode_check CHECK (margin_mode IN ('retail_netting', 'exchange',
    'retail_hedging')),
  ADD CONSTRAINT accounts_trade_mode_check CHECK (trade_mode IN ('demo', 'contest', 'real')),
  ADD CONSTRAINT accounts_server_utc_offset_min_check CHECK (server_utc_offset_min BETWEEN -720 AND 840);
