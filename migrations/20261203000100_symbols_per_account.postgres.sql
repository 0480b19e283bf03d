-- Symbols (and so their ticks and bars) belong to the account whose EAs sent them, not to the
-- trade server: keyed by (server, name), any EA on a server could write a tick in the future or a
-- wrong contract size into every other account's market data, and the genuine writes were then
-- dropped as duplicates. Two EAs of one account on one symbol still share its rows and deduplicate.
-- Existing symbols go to the oldest account on their server, which keeps their ticks.
ALTER TABLE symbols ADD COLUMN account_id BIGINT REFERENCES accounts (id);
UPDATE symbols s SET account_id = (SELECT min(a.id) FROM accounts a WHERE a.server = s.server);
ALTER TABLE symbols ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE symbols DROP CONSTRAINT symbols_server_name_key;
ALTER TABLE symbols ADD CONSTRAINT symbols_account_name_key UNIQUE (account_id, name);
