-- assimetria-auth schema, version 5 (PostgreSQL).
--
-- Kept in step with ../sqlite/0005_cleanup_indexes.sql. Indexes for deleting the rows that can no
-- longer matter (CleanupStore::delete_expired): each batch finds its rows through an index on its
-- predicate instead of a scan of the table.

-- Refresh tokens past their own expiry.
CREATE INDEX auth_refresh_tokens_by_expiry ON auth_refresh_tokens (expires_at);

-- Reset and verification tokens that expired, or were spent.
CREATE INDEX auth_reset_tokens_by_expiry ON auth_reset_tokens (expires_at);
CREATE INDEX auth_reset_tokens_spent ON auth_reset_tokens (used_at) WHERE used_at IS NOT NULL;
CREATE INDEX auth_verification_tokens_by_expiry ON auth_verification_tokens (expires_at);
CREATE INDEX auth_verification_tokens_spent ON auth_verification_tokens (used_at)
    WHERE used_at IS NOT NULL;

-- Revocation-log entries no longer in force.
CREATE INDEX auth_revocations_by_expiry ON auth_revocations (refused_until);

-- Sessions, oldest last use first: a session's newest refresh token was issued at its last use,
-- so the ones that can no longer be refreshed come first in this order, and a batch that looks
-- for them rarely walks past a live one.
CREATE INDEX auth_sessions_by_last_use ON auth_sessions (last_used_at, id);
