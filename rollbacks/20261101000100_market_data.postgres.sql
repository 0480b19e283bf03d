-- Undoes 20261101000100_market_data: drops bars, the symbol-delete guard and ticks.
DROP TABLE bars;
DROP TRIGGER symbols_keep_ticked ON symbols;
DROP FUNCTION mt5e_refuse_ticked_symbol_delete();
DROP TABLE ticks;
