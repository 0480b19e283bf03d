-- Market data: raw ticks and OHLC bars. Split by dialect: SQLite stores both as WITHOUT ROWID
-- tables so the primary key is the table (one b-tree per row instead of table + index).

-- Ticks are the hot path (hundreds of thousands of rows per second): no index besides the key.
-- seq numbers the ticks of one symbol within one millisecond (0, 1, ...) as the EA's
-- CopyTicksRange cursor counts them, so the key is natural: a replay, or a second EA streaming
-- the same symbol from the same server, produces the same keys and INSERT OR IGNORE drops them.
-- The key also serves every range read: WHERE symbol_id = ? AND time_msc BETWEEN ? AND ?.
-- Column order matches PostgreSQL, where it avoids alignment padding.
CREATE TABLE ticks (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  seq INTEGER NOT NULL DEFAULT 0,
  time_msc INTEGER NOT NULL,
  bid REAL NOT NULL,
  ask REAL NOT NULL,
  last REAL NOT NULL,
  volume INTEGER NOT NULL,
  volume_real REAL NOT NULL,
  flags INTEGER NOT NULL,
  PRIMARY KEY (symbol_id, time_msc, seq)
) WITHOUT ROWID;

-- Bars as MT5 builds them: open time = start of the period in server time, tick_volume = number
-- of ticks, spread in points. Upserted by the bar aggregator; the key serves chart reads.
CREATE TABLE bars (
  symbol_id INTEGER NOT NULL REFERENCES symbols (id),
  timeframe TEXT NOT NULL CHECK (timeframe IN ('M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12',
    'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
  open_time_msc INTEGER NOT NULL,
  open REAL NOT NULL,
  high REAL NOT NULL,
  low REAL NOT NULL,
  close REAL NOT NULL,
  tick_volume INTEGER NOT NULL DEFAULT 0,
  real_volume REAL NOT NULL DEFAULT 0,
  spread INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (symbol_id, timeframe, open_time_msc),
  CONSTRAINT bars_ohlc_check CHECK (low <= open AND low <= close AND high >= open AND high >= close)
) WITHOUT ROWID;
