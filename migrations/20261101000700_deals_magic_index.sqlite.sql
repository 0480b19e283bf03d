-- Deals per EA: dashboards and the journal aggregator ask for one EA's deals over a time range
-- (WHERE account_id = ? AND magic = ? AND time_msc BETWEEN ? AND ?), which the first indexes
-- answered by scanning all of the account's deals in the range.
CREATE INDEX deals_account_magic_time_idx ON deals (account_id, magic, time_msc);
