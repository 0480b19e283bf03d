-- What a minute on the bar work list needs. from_ticks = 1: its M1 bar is built again from its
-- ticks (a backfill, a replay, `bars rebuild`, and every minute listed before this migration).
-- from_ticks = 0: the writer built its M1 bar in the ticks' own transaction, and only the
-- timeframes above M1 are rolled up again. A minute listed both ways is built from its ticks:
-- writers raise from_ticks, never lower it (docs/BARS.md, "How the engine keeps bars current").
ALTER TABLE bar_dirty ADD COLUMN from_ticks INTEGER NOT NULL DEFAULT 1 CHECK (from_ticks IN (0, 1));
