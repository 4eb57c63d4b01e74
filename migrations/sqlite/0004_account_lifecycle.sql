-- assimetria-auth schema, version 4 (SQLite).
--
-- Kept in step with ../postgres/0004_account_lifecycle.sql. The account lifecycle: whether a
-- user proved they receive mail at their address, what each session started from and when it was
-- last refreshed (so that a user can list and end their sessions), and email-verification tokens.

-- Existing users have proved nothing yet: false. STRICT tables have no BOOLEAN; 0 or 1.
ALTER TABLE auth_users
    ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));

-- A session's last refresh; until its first, its start. ADD COLUMN cannot copy another column,
-- and a NOT NULL column needs a default to be added, so it is added as 0 and filled in at once
-- (the same transaction: nobody reads the 0). The store always writes it.
ALTER TABLE auth_sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE auth_sessions SET last_used_at = created_at;

-- The User-Agent and client address a session started from, when known (earlier sessions: not).
ALTER TABLE auth_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE auth_sessions ADD COLUMN ip TEXT;

-- Email-verification tokens, shaped and spent like reset tokens.
CREATE TABLE auth_verification_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    INTEGER NOT NULL REFERENCES auth_users (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- A user's verification tokens (spending one spends every pending token of the user; removing
-- the user deletes them).
CREATE INDEX auth_verification_tokens_by_user ON auth_verification_tokens (user_id);
