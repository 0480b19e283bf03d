-- Undoes 20261204000100_journal_open_time_indexes: journal pages sort again.
DROP INDEX journal_trades_account_open_idx;
DROP INDEX journal_trades_open_idx;
