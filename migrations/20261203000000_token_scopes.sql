-- Token scopes: what an `ea` token may write. A bound token may say hello only as its account
-- (scope_login@scope_server), as its instance (scope_instance: an id, or a prefix ending in '*')
-- and with its magic (scope_magic); a NULL part is not restricted. A token with scope_first_use = 1
-- binds to the account and instance of its first hello (trust on first use, bound_at says when).
-- Tokens from before this migration keep scope_first_use = 0 and no scope: they are unscoped, as
-- they were, and `token list` says so (docs/SECURITY.md, "Upgrading tokens").
ALTER TABLE tokens ADD COLUMN scope_login BIGINT;
ALTER TABLE tokens ADD COLUMN scope_server TEXT;
ALTER TABLE tokens ADD COLUMN scope_instance TEXT;
ALTER TABLE tokens ADD COLUMN scope_magic BIGINT;
ALTER TABLE tokens ADD COLUMN scope_first_use INTEGER NOT NULL DEFAULT 0 CHECK (scope_first_use IN (0, 1));
ALTER TABLE tokens ADD COLUMN bound_at BIGINT;

-- The token a stream was last opened with: another token may take the instance over only when it
-- is bound to exactly this instance, or when this one is revoked or expired. NULL for streams from
-- before this migration: the first token to open one becomes its owner.
ALTER TABLE streams ADD COLUMN token_id BIGINT REFERENCES tokens (id);
