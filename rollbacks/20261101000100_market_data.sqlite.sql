-- Undoes 20261101000100_market_data: drops bars and ticks.
DROP TABLE bars;
DROP TABLE ticks;
