-- Undoes 20261203000200_built_bars: the built bars and the work list go (a rebuild makes them
-- again from ticks); EA-sent bars get their old name back.
DROP VIEW bars;
DROP TABLE bar_dirty;
DROP TABLE built_bars;
ALTER TABLE ea_bars RENAME TO bars;
