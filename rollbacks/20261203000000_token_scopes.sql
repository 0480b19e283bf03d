-- Undoes 20261203000000_token_scopes: every token is unscoped again and streams forget their owner.
ALTER TABLE streams DROP COLUMN token_id;
ALTER TABLE tokens DROP COLUMN bound_at;
ALTER TABLE tokens DROP COLUMN scope_first_use;
ALTER TABLE tokens DROP COLUMN scope_magic;
ALTER TABLE tokens DROP COLUMN scope_instance;
ALTER TABLE tokens DROP COLUMN scope_server;
ALTER TABLE tokens DROP COLUMN scope_login;
