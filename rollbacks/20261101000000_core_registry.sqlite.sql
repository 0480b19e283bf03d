-- Undoes 20261101000000_core_registry: drops the core registry, children first. The updated_at
-- triggers go with their tables.
DROP TABLE ea_heartbeats;
DROP TABLE stream_sequences;
DROP TABLE streams;
DROP TABLE symbols;
DROP TABLE account_utc_offsets;
DROP TABLE accounts;
