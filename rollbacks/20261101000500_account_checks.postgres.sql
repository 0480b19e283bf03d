-- Undoes 20261101000500_account_checks: drops the account checks.
ALTER TABLE accounts
  DROP CONSTRAINT accounts_server_utc_offset_min_check,
  DROP CONSTRAINT accounts_trade_mode_check,
  DROP CONSTRAINT accounts_margin_mode_check,
  DROP CONSTRAINT accounts_leverage_check,
  DROP CONSTRAINT accounts_login_check;
