-- Undoes 20261204000200_equity_point_times.
ALTER TABLE equity_points DROP COLUMN last_time_msc;
ALTER TABLE equity_points DROP COLUMN first_time_msc;
