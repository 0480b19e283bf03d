-- Undoes 20261101000400_analytics: drops the analytics tables, children first. Their indexes and
-- updated_at triggers go with them.
DROP TABLE news_restrictions;
DROP TABLE news_events;
DROP TABLE backtest_deviations;
DROP TABLE backtest_benchmarks;
DROP TABLE backtest_trades;
DROP TABLE backtests;
DROP TABLE risk_metrics;
DROP TABLE risk_limits;
DROP TABLE performance_reports;
DROP TABLE performance_days;
