-- The times of each equity point's first and last snapshot: they decide its open and close when
-- snapshots arrive out of order (two EAs of one account). Points stored before have none: the
-- next snapshot of their period takes them over as it finds them.
ALTER TABLE equity_points ADD COLUMN first_time_msc INTEGER;
ALTER TABLE equity_points ADD COLUMN last_time_msc INTEGER;
