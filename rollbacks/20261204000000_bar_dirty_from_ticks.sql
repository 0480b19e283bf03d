-- Undoes 20261204000000_bar_dirty_from_ticks: every minute still listed is built from its ticks.
ALTER TABLE bar_dirty DROP COLUMN from_ticks;
