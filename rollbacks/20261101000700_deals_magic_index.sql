-- Undoes 20261101000700_deals_magic_index. A plain DROP INDEX on both databases: on PostgreSQL it
-- holds a brief exclusive lock on deals, acceptable for a rollback, and keeps this file
-- transactional.
DROP INDEX deals_account_magic_time_idx;
