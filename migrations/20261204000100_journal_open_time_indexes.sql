-- The journal is read newest first by open time (the `journal` query's keys: open_time_msc,
-- account_id, position_id), across accounts or for one: without these, every page sorted every
-- row of the journal (93 ms for a 10,000-row page of 50,000 trades, `npm run bench -- reads`).
CREATE INDEX journal_trades_open_idx ON journal_trades (open_time_msc, account_id, position_id);
CREATE INDEX journal_trades_account_open_idx ON journal_trades (account_id, open_time_msc, position_id);
