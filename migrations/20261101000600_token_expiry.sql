-- Tokens: an optional expiry (a token for a contractor's dashboard should stop working by
-- itself) and the time of last use (to find tokens nobody uses before revoking them).
-- Plain ADD COLUMN, the same on both databases; existing tokens keep no expiry.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
