//! The storage traits on [`SqlStore`]. Every query is written once, with `$n` placeholders that
//! both SQLite and PostgreSQL accept, and runs on whichever pool the store holds.

use async_trait::async_trait;

use super::SqlStore;
use super::rows::{self, SqlRow as _};
use crate::secret::TokenHash;
use crate::store::{
    ApiKeyRecord, ApiKeyStore, Consumed, NewApiKey, NewUser, RefreshRecord, ResetTokenStore,
    Revocation, RevocationStore, Session, SessionStore, SigningKeyStore, StoreResult, StoredKey,
    User, UserChange, UserStore,
};

// The shapes of a one-statement call: `$sql` with `$arg`s bound in order (never interpolated), run
// on the store's pool. Each evaluates to the same type for every database, as `with_pool!` needs.

/// At most one row, read back with `$map`: a `StoreResult<Option<T>>`.
macro_rules! fetch_optional {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $map:path) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .fetch_optional(p)
            .await?
            .map(|row| $map(&row))
            .transpose())
    };
}

/// Every row, read back with `$map`: a `StoreResult<Vec<T>>`.
macro_rules! fetch_all {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $map:path) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .fetch_all(p)
            .await?
            .iter()
            .map($map)
            .collect())
    };
}

/// The first column of the result, fetched with `$fetch` (`fetch_one`, `fetch_optional`,
/// `fetch_all`); the caller names the type.
macro_rules! scalar {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $fetch:ident) => {
        with_pool!(&$store.pool, p => sqlx::query_scalar($sql)
            $(.bind($arg))*
            .$fetch(p)
            .await?)
    };
}

/// Runs a statement: the number of rows it changed.
macro_rules! execute {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?]) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .execute(p)
            .await?
            .rows_affected())
    };
}

/// The bytes a token hash is stored as.
fn bytes(hash: &TokenHash) -> &[u8] {
    hash.as_bytes()
}

// ---------------------------------------------------------------------------------------------
// Users

const INSERT_USER: &str = "INSERT INTO auth_users (email, password_hash, role, org, created_at) \
                           VALUES ($1, $2, $3, $4, $5) RETURNING id";
const USER_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM auth_users WHERE email = $1"
);
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM auth_users WHERE id = $1");
/// `org = $1` is never true for NULL, so `None` (bound as NULL) is matched on its own: the same
/// test as `IS NOT DISTINCT FROM`, in a form both SQLite and PostgreSQL accept.
const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM auth_users WHERE (org = $1 OR (org IS NULL AND $1 IS NULL)) ORDER BY id"
);
/// Compare-and-set: only over the hash that was verified.
const REPLACE_PASSWORD_HASH: &str =
    "UPDATE auth_users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
const SET_PASSWORD_HASH: &str = "UPDATE auth_users SET password_hash = $2 WHERE id = $1";
const SET_ROLE: &str = "UPDATE auth_users SET role = $2 WHERE id = $1";

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        // A taken email violates the unique index: `StoreError::Conflict`, nothing inserted.
        let id: i64 = scalar!(
            self,
            INSERT_USER,
            [
                &user.email,
                &user.password_hash,
                user.role.as_str(),
                user.org.as_deref(),
                user.created_at
            ],
            fetch_one
        );
        Ok(user.into_user(id))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        fetch_optional!(self, USER_BY_EMAIL, [email], rows::user)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        fetch_optional!(self, USER_BY_ID, [id], rows::user)
    }

    async fn list_users(&self, org: Option<&str>) -> StoreResult<Vec<User>> {
        fetch_all!(self, LIST_USERS, [org], rows::user)
    }

    async fn replace_password_hash(&self, id: i64, expected: &str, new: &str) -> StoreResult<bool> {
        Ok(execute!(self, REPLACE_PASSWORD_HASH, [id, expected, new]) == 1)
    }

    async fn update_user_ending_sessions(
        &self,
        id: i64,
        change: UserChange,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let (sql, value) = match &change {
            UserChange::Role(role) => (SET_ROLE, role.as_str()),
            UserChange::PasswordHash(hash) => (SET_PASSWORD_HASH, hash.as_str()),
        };
        with_pool!(&self.pool, p => {
            // The user row first: on SQLite the first statement writes, so the transaction waits
            // for the write lock rather than failing on a stale snapshot. Dropping `tx` on any
            // error (or an unknown user) rolls everything back.
            let mut tx = p.begin().await?;
            let changed = sqlx::query(sql).bind(id).bind(value).execute(&mut *tx).await?;
            if changed.rows_affected() == 0 {
                return Ok(None);
            }
            let mut ended: Vec<String> = sqlx::query_scalar(REVOKE_USER_SESSIONS)
                .bind(id)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            ended.sort();
            if !ended.is_empty() {
                #[cfg(feature = "postgres")]
                if self.pool.is_postgres() {
                    sqlx::query(LOCK_REVOCATIONS).execute(&mut *tx).await?;
                }
                for sid in &ended {
                    sqlx::query(INSERT_REVOCATION)
                        .bind(sid)
                        .bind(refused_until)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(Some(ended))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions and refresh tokens

/// A new session waits for any change of its user in flight, and holds a change back until it
/// commits: without it, under PostgreSQL's READ COMMITTED a reset or role change could end the
/// user's sessions from a snapshot taken just before this session was inserted, while the login
/// behind it still read the old password hash or role (SQLite serializes writers already).
/// `FOR SHARE` conflicts with the change's row lock and not with other new sessions.
#[cfg(feature = "postgres")]
const LOCK_USER_FOR_SESSION: &str = "SELECT 1 FROM auth_users WHERE id = $1 FOR SHARE";
const INSERT_SESSION: &str =
    "INSERT INTO auth_sessions (id, user_id, created_at, revoked_at) VALUES ($1, $2, $3, $4)";
const INSERT_FIRST_REFRESH: &str = "INSERT INTO auth_refresh_tokens \
     (hash, session_id, user_id, issued_at, expires_at, spent_at) VALUES ($1, $2, $3, $4, $5, $6)";
/// The spend: one statement, so the database's row lock picks the one winner. Only an unspent,
/// unexpired token of a live session matches.
const SPEND_REFRESH: &str = concat!(
    "UPDATE auth_refresh_tokens SET spent_at = $2 \
     WHERE hash = $1 AND spent_at IS NULL AND expires_at > $2 \
     AND EXISTS (SELECT 1 FROM auth_sessions s \
                 WHERE s.id = auth_refresh_tokens.session_id AND s.revoked_at IS NULL) \
     RETURNING ",
    refresh_columns!()
);
/// After a spend that matched nothing: why not.
const REFRESH_STATE: &str = "SELECT r.hash, r.session_id, r.user_id, r.issued_at, r.expires_at, \
     r.spent_at, s.revoked_at AS session_revoked_at \
     FROM auth_refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id WHERE r.hash = $1";
/// Inserts only into a live session; an existing hash is left alone. (The `WHERE` also settles
/// SQLite's parse of `INSERT … SELECT … ON CONFLICT`.)
const INSERT_REFRESH: &str = "INSERT INTO auth_refresh_tokens \
     (hash, session_id, user_id, issued_at, expires_at, spent_at) \
     SELECT $1, $2, $3, $4, $5, $6 \
     WHERE EXISTS (SELECT 1 FROM auth_sessions WHERE id = $2 AND revoked_at IS NULL) \
     ON CONFLICT (hash) DO NOTHING";
const SESSION_IS_LIVE: &str =
    "SELECT COUNT(*) FROM auth_sessions WHERE id = $1 AND revoked_at IS NULL";
const REVOKE_SESSION: &str =
    "UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
const REVOKE_USER_SESSIONS: &str = "UPDATE auth_sessions SET revoked_at = $2 \
     WHERE user_id = $1 AND revoked_at IS NULL RETURNING id";

/// How often [`SessionStore::consume_refresh`] tries again when the spend matched nothing yet the
/// follow-up read finds a spendable token (the row changed between the two statements).
const CONSUME_ATTEMPTS: usize = 3;

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: Session, first: RefreshRecord) -> StoreResult<()> {
        with_pool!(&self.pool, p => {
            // Both inserts or neither: dropping the transaction on an error rolls it back. The
            // first statement writes, so on SQLite it waits for the write lock (busy timeout)
            // rather than failing on a stale read snapshot.
            let mut tx = p.begin().await?;
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_USER_FOR_SESSION)
                    .bind(session.user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            sqlx::query(INSERT_SESSION)
                .bind(&session.id)
                .bind(session.user_id)
                .bind(session.created_at)
                .bind(session.revoked_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_FIRST_REFRESH)
                .bind(bytes(&first.hash))
                .bind(&first.session_id)
                .bind(first.user_id)
                .bind(first.issued_at)
                .bind(first.expires_at)
                .bind(first.spent_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn consume_refresh(&self, hash: &TokenHash, now: i64) -> StoreResult<Consumed> {
        with_pool!(&self.pool, p => {
            for _ in 0..CONSUME_ATTEMPTS {
                let spent = sqlx::query(SPEND_REFRESH)
                    .bind(bytes(hash))
                    .bind(now)
                    .fetch_optional(p)
                    .await?;
                if let Some(row) = spent {
                    return Ok(Consumed::Spent(rows::refresh(&row)?));
                }
                // Matched nothing. A concurrent winner has committed by now (the database made
                // this statement wait for its row lock), so this read sees its `spent_at`.
                let state = sqlx::query(REFRESH_STATE).bind(bytes(hash)).fetch_optional(p).await?;
                let Some(row) = state else {
                    return Ok(Consumed::Invalid);
                };
                let record = rows::refresh(&row)?;
                let session_live = row.opt_int("session_revoked_at")?.is_none();
                if !session_live || record.expires_at <= now {
                    return Ok(Consumed::Invalid);
                }
                if record.spent_at.is_some() {
                    return Ok(Consumed::AlreadySpent(record));
                }
            }
        });
        Ok(Consumed::Invalid)
    }

    async fn insert_refresh(&self, record: RefreshRecord) -> StoreResult<bool> {
        let inserted = execute!(
            self,
            INSERT_REFRESH,
            [
                bytes(&record.hash),
                &record.session_id,
                record.user_id,
                record.issued_at,
                record.expires_at,
                record.spent_at,
            ]
        );
        if inserted == 1 {
            return Ok(true);
        }
        // Nothing inserted: the hash exists (a retry: fine while the session is live), or the
        // session is revoked or unknown.
        let live: i64 = scalar!(self, SESSION_IS_LIVE, [&record.session_id], fetch_one);
        Ok(live == 1)
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(execute!(self, REVOKE_SESSION, [id, now]) == 1)
    }
}

// ---------------------------------------------------------------------------------------------
// API keys

const INSERT_API_KEY: &str = "INSERT INTO auth_api_keys \
     (name, hash, prefix, environment, role, org, created_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
const API_KEY_BY_HASH: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE hash = $1"
);
const API_KEY_BY_ID: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE id = $1"
);
const LIST_API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE (org = $1 OR (org IS NULL AND $1 IS NULL)) ORDER BY id"
);
const REVOKE_API_KEY: &str =
    "UPDATE auth_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
const TOUCH_API_KEY: &str = "UPDATE auth_api_keys SET last_used_at = $2 WHERE id = $1";

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let id: i64 = scalar!(
            self,
            INSERT_API_KEY,
            [
                &key.name,
                bytes(&key.hash),
                &key.prefix,
                key.environment.as_str(),
                key.role.as_str(),
                key.org.as_deref(),
                key.created_by,
                key.created_at,
            ],
            fetch_one
        );
        Ok(key.into_record(id))
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        fetch_optional!(self, API_KEY_BY_HASH, [bytes(hash)], rows::api_key)
    }

    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        fetch_all!(self, LIST_API_KEYS, [org], rows::api_key)
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>> {
        fetch_optional!(self, API_KEY_BY_ID, [id], rows::api_key)
    }

    async fn revoke_api_key(&self, id: i64, now: i64) -> StoreResult<bool> {
        Ok(execute!(self, REVOKE_API_KEY, [id, now]) == 1)
    }

    async fn touch_api_key(&self, id: i64, now: i64) -> StoreResult<()> {
        execute!(self, TOUCH_API_KEY, [id, now]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Reset tokens

/// A hash seen again (only by a host's mistake: reset tokens are 256 random bits) replaces the
/// old record, as in the memory store.
const INSERT_RESET_TOKEN: &str = "INSERT INTO auth_reset_tokens (hash, user_id, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE \
     SET user_id = excluded.user_id, expires_at = excluded.expires_at, used_at = NULL";
/// The spend, one statement: the presented token and every other pending token of its user are
/// spent together, so of concurrent callers (with one token, or with different tokens of one
/// user) exactly one sees its own token among the rows it changed. On PostgreSQL a loser blocks on
/// the winner's row locks and then finds `used_at` set; SQLite has one writer.
const SPEND_RESET_TOKENS: &str = "UPDATE auth_reset_tokens SET used_at = $2 \
     WHERE used_at IS NULL AND user_id = (SELECT user_id FROM auth_reset_tokens \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2) \
     RETURNING hash, user_id";
const RESET_TOKEN_USER: &str = "SELECT user_id FROM auth_reset_tokens \
     WHERE hash = $1 AND used_at IS NULL AND expires_at > $2";

#[async_trait]
impl ResetTokenStore for SqlStore {
    async fn create_reset_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        execute!(self, INSERT_RESET_TOKEN, [bytes(hash), user_id, expires_at]);
        Ok(())
    }

    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(scalar!(
            self,
            RESET_TOKEN_USER,
            [bytes(hash), now],
            fetch_optional
        ))
    }

    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        let spent: Vec<(Vec<u8>, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as(SPEND_RESET_TOKENS)
                .bind(bytes(hash))
                .bind(now)
                .fetch_all(p)
                .await?
        });
        Ok(spent
            .iter()
            .find(|(h, _)| h.as_slice() == bytes(hash))
            .map(|&(_, user_id)| user_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation log

/// PostgreSQL only: concurrent appends take turns, so that ids are allocated and committed in
/// order and a poller reading "after cursor n" never steps past an id still being written. `SHARE
/// ROW EXCLUSIVE` conflicts with itself but not with readers' `ACCESS SHARE`; it is released at
/// commit, after the rows became visible.
#[cfg(feature = "postgres")]
const LOCK_REVOCATIONS: &str = "LOCK TABLE auth_revocations IN SHARE ROW EXCLUSIVE MODE";
const INSERT_REVOCATION: &str =
    "INSERT INTO auth_revocations (session_id, refused_until) VALUES ($1, $2)";
const REVOCATIONS_SINCE: &str = "SELECT id, session_id, refused_until FROM auth_revocations \
     WHERE id > $1 AND refused_until > $2 ORDER BY id LIMIT $3";

#[async_trait]
impl RevocationStore for SqlStore {
    async fn append_revocations(&self, session_ids: &[String], until: i64) -> StoreResult<()> {
        if session_ids.is_empty() {
            return Ok(());
        }
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_REVOCATIONS).execute(&mut *tx).await?;
            }
            for id in session_ids {
                sqlx::query(INSERT_REVOCATION).bind(id).bind(until).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn revocations_since(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<Revocation>> {
        // SQLite reads a negative LIMIT as "no limit"; the contract says at most `limit`.
        let limit = limit.max(0);
        fetch_all!(
            self,
            REVOCATIONS_SINCE,
            [cursor, now, limit],
            rows::revocation
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Signing keys

const INSERT_SIGNING_KEY: &str = "INSERT INTO auth_signing_keys \
     (kid, algorithm, material, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (kid) DO NOTHING";
/// Only into an empty table. On PostgreSQL the caller first takes a table lock that conflicts
/// with itself, so two instances starting at once cannot both see "empty".
const INSERT_FIRST_SIGNING_KEY: &str = "INSERT INTO auth_signing_keys \
     (kid, algorithm, material, created_at) SELECT $1, $2, $3, $4 \
     WHERE NOT EXISTS (SELECT 1 FROM auth_signing_keys)";
#[cfg(feature = "postgres")]
const LOCK_SIGNING_KEYS: &str = "LOCK TABLE auth_signing_keys IN SHARE ROW EXCLUSIVE MODE";
const RESEAL_SIGNING_KEY: &str =
    "UPDATE auth_signing_keys SET material = $3 WHERE kid = $1 AND material = $2";
const DELETE_SIGNING_KEY: &str = "DELETE FROM auth_signing_keys WHERE kid = $1";
const INSERT_SECRET: &str = "INSERT INTO auth_secrets (name, material, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
const SECRET: &str = "SELECT material FROM auth_secrets WHERE name = $1";
const RESEAL_SECRET: &str =
    "UPDATE auth_secrets SET material = $3 WHERE name = $1 AND material = $2";
/// Insertion order (`seq`), so that every instance agrees on which key is the newest.
const SIGNING_KEYS: &str = concat!(
    "SELECT ",
    signing_key_columns!(),
    " FROM auth_signing_keys ORDER BY seq"
);

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn insert_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        execute!(
            self,
            INSERT_SIGNING_KEY,
            [
                &key.kid,
                key.algorithm.as_str(),
                &key.material[..],
                key.created_at
            ]
        );
        self.signing_keys().await
    }

    async fn insert_first_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_SIGNING_KEYS).execute(&mut *tx).await?;
            }
            sqlx::query(INSERT_FIRST_SIGNING_KEY)
                .bind(&key.kid)
                .bind(key.algorithm.as_str())
                .bind(&key.material[..])
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.signing_keys().await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        fetch_all!(self, SIGNING_KEYS, [], rows::signing_key)
    }

    async fn reseal_signing_key(
        &self,
        kid: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        Ok(execute!(self, RESEAL_SIGNING_KEY, [kid, expected, material]) == 1)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        Ok(execute!(self, DELETE_SIGNING_KEY, [kid]) == 1)
    }

    async fn insert_secret(&self, name: &str, material: &[u8], now: i64) -> StoreResult<Vec<u8>> {
        execute!(self, INSERT_SECRET, [name, material, now]);
        Ok(scalar!(self, SECRET, [name], fetch_one))
    }

    async fn reseal_secret(
        &self,
        name: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        Ok(execute!(self, RESEAL_SECRET, [name, expected, material]) == 1)
    }
}
