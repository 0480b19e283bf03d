-- Bars come from two places: the EA's terminal (bar_batch, its own history copied with CopyRates)
-- and the engine, which builds them from stored ticks. They are kept apart, so that neither
-- overwrites the other and `bars verify` can compare them:
--   ea_bars      what EAs sent (the table formerly named bars; its rows are kept)
--   built_bars   what the aggregator built from ticks
--   bars         the view readers use: an EA-sent bar where there is one, else the built bar,
--                with `source` saying which ('ea' or 'built'); docs/BARS.md says why the EA wins.
ALTER TABLE bars RENAME TO ea_bars;

CREATE TABLE built_bars (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  timeframe TEXT NOT NULL CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12',
    'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  open_time_msc BIGINT NOT NULL,
  open DOUBLE PRECISION NOT NULL,
  high DOUBLE PRECISION NOT NULL,
  low DOUBLE PRECISION NOT NULL,
  close DOUBLE PRECISION NOT NULL,
  tick_volume BIGINT NOT NULL,
  real_volume DOUBLE PRECISION NOT NULL,
  spread INTEGER NOT NULL,
  PRIMARY KEY (symbol_id, timeframe, open_time_msc),
  CONSTRAINT built_bars_ohlc_check CHECK (low <= open AND low <= close AND high >= open AND high >= close)
);

-- The minutes whose bars are out of date: written in the same transaction as the ticks that made
-- them so (a tick that commits always leaves its minute here), deleted in the same transaction as
-- the bars rebuilt from them. `version` grows with each write, so the aggregator deletes a minute
-- only if no tick came into it while its bars were being computed. After a crash the rows still
-- here are exactly the work left.
-- No foreign key here, as on ticks: on PostgreSQL it is a per-row trigger taking a KEY SHARE lock
-- on the symbol row in every tick batch; the symbol-delete guard already keeps ticked symbols.
CREATE TABLE bar_dirty (
  symbol_id INTEGER NOT NULL,
  minute_msc BIGINT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (symbol_id, minute_msc)
);

CREATE VIEW bars AS
SELECT symbol_id, timeframe, open_time_msc, open, high, low, close, tick_volume, real_volume, spread, 'ea' AS source
FROM ea_bars
UNION ALL
SELECT b.symbol_id, b.timeframe, b.open_time_msc, b.open, b.high, b.low, b.close, b.tick_volume, b.real_volume, b.spread, 'built' AS source
FROM built_bars b
WHERE NOT EXISTS (
  SELECT 1 FROM ea_bars e
  WHERE e.symbol_id = b.symbol_id AND e.timeframe = b.timeframe AND e.open_time_msc = b.open_time_msc
);
