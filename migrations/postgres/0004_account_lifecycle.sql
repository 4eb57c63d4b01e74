-- assimetria-auth schema, version 4 (PostgreSQL).
--
-- Kept in step with ../sqlite/0004_account_lifecycle.sql. The account lifecycle: whether a user
-- proved they receive mail at their address, what each session started from and when it was last
-- refreshed (so that a user can list and end their sessions), and email-verification tokens.

-- Existing users have proved nothing yet: false.
ALTER TABLE auth_users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;

-- A session's last refresh; until its first, its start. Added as 0 and filled in at once (the
-- same transaction: nobody reads the 0), as on SQLite. The default stays, as it must on SQLite:
-- the store always writes the column, and an instance of the previous version still running
-- during a rolling upgrade, which does not know it, can still open sessions.
ALTER TABLE auth_sessions ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
UPDATE auth_sessions SET last_used_at = created_at;

-- The User-Agent and client address a session started from, when known (earlier sessions: not).
ALTER TABLE auth_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE auth_sessions ADD COLUMN ip TEXT;

-- Email-verification tokens, shaped and spent like reset tokens.
CREATE TABLE auth_verification_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    BIGINT NOT NULL REFERENCES auth_users (id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- A user's verification tokens (spending one spends every pending token of the user; removing
-- the user deletes them).
CREATE INDEX auth_verification_tokens_by_user ON auth_verification_tokens (user_id);
