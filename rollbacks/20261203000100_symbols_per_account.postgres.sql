-- Undoes 20261203000100_symbols_per_account. Fails (and changes nothing) while two accounts of one
-- server hold a symbol of the same name: merging their ticks is a decision, not a rollback.
ALTER TABLE symbols DROP CONSTRAINT symbols_account_name_key;
ALTER TABLE symbols ADD CONSTRAINT symbols_server_name_key UNIQUE (server, name);
ALTER TABLE symbols DROP COLUMN account_id;
