-- assimetria-auth schema, version 1 (SQLite).
--
-- Kept in step with ../postgres/0001_initial.sql: same tables, columns and constraints; only the
-- types differ. Timestamps are Unix seconds. Secrets appear only as their SHA-256 (32-byte BLOBs).
-- Role and environment are TEXT ('admin'/'member'/'viewer', 'live'/'test'); the store refuses to
-- read back anything else. STRICT tables make SQLite enforce the column types.

CREATE TABLE auth_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    org           TEXT,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE auth_sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES auth_users (id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX auth_sessions_live_by_user ON auth_sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE auth_refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT    NOT NULL REFERENCES auth_sessions (id),
    user_id    INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER
) STRICT;

CREATE INDEX auth_refresh_tokens_by_session ON auth_refresh_tokens (session_id);

CREATE TABLE auth_api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix       TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    org          TEXT,
    created_by   INTEGER NOT NULL REFERENCES auth_users (id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX auth_api_keys_by_org ON auth_api_keys (org);

CREATE TABLE auth_reset_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    INTEGER NOT NULL REFERENCES auth_users (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- The revocation log. `id` is the pollers' cursor; AUTOINCREMENT never reuses an id.
CREATE TABLE auth_revocations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id    TEXT    NOT NULL,
    refused_until INTEGER NOT NULL
) STRICT;

-- `seq` orders the keys by insertion: the newest signing key is the active signer.
CREATE TABLE auth_signing_keys (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kid        TEXT    NOT NULL UNIQUE,
    algorithm  TEXT    NOT NULL,
    material   BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
