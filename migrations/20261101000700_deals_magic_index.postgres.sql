-- mt5e:no-transaction
-- Deals per EA: dashboards and the journal aggregator ask for one EA's deals over a time range
-- (WHERE account_id = ? AND magic = ? AND time_msc BETWEEN ? AND ?), which the first indexes
-- answered by scanning all of the account's deals in the range.
-- CONCURRENTLY so that engines writing deals into a large shared table are not blocked while the
-- index builds; PostgreSQL refuses it inside a transaction, hence the directive and the single
-- statement. If it fails it leaves an INVALID index: DROP INDEX it, then run the migration again.
CREATE INDEX CONCURRENTLY deals_account_magic_time_idx ON deals (account_id, magic, time_msc);
