-- Undoes 20261101000200_trading: drops the trading tables, children first (journal_trades
-- references signals). Their indexes go with them.
DROP TABLE journal_trades;
DROP TABLE signals;
DROP TABLE equity_points;
DROP TABLE account_snapshots;
DROP TABLE positions;
DROP TABLE deals;
DROP TABLE order_events;
DROP TABLE orders;
