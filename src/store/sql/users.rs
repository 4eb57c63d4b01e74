//! [`UserStore`] on [`SqlStore`]: users, the change that ends a user's sessions in one
//! transaction, a signed-in user's password change (compare-and-set, ending the user's other
//! sessions) in another, and the removal of a user with everything that belongs to them.

use async_trait::async_trait;

use super::revocations::INSERT_REVOCATION;
#[cfg(feature = "postgres")]
use super::revocations::LOCK_REVOCATIONS;
use super::rows;
use super::sessions::REVOKE_USER_SESSIONS;
use super::{SqlPool, SqlStore};
use crate::store::{NewUser, StoreResult, User, UserChange, UserStore, user_change_entry};

const INSERT_USER: &str = "INSERT INTO auth_users \
     (email, password_hash, role, org, created_at, email_verified) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
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
/// A reset: the mailed link reached the user, so the address is verified in the same write.
const SET_PASSWORD_HASH: &str =
    "UPDATE auth_users SET password_hash = $2, email_verified = TRUE WHERE id = $1";
const SET_ROLE: &str = "UPDATE auth_users SET role = $2 WHERE id = $1";

// Removing a user. The first read finds the user row and makes the removal wait for, or hold
// back, every write that could add a row referring to the user:
// * PostgreSQL: `FOR UPDATE` conflicts with every other row lock. A session, key or reset token
//   being created for the user either committed first (its insert's foreign-key check held a lock
//   this waits for, and the deletes below see it) or waits for the removal and then fails its
//   foreign key.
// * SQLite: the transaction begins `IMMEDIATE`, holding the one write lock throughout.

/// SQLite: the user row, in a transaction that holds the write lock.
#[cfg(feature = "sqlite")]
const FIND_USER_FOR_REMOVAL: &str = "SELECT id FROM auth_users WHERE id = $1";
/// PostgreSQL: the user row, locked until the removal commits.
#[cfg(feature = "postgres")]
const LOCK_USER_FOR_REMOVAL: &str = "SELECT id FROM auth_users WHERE id = $1 FOR UPDATE";
/// PostgreSQL: the user's sessions, locked before their tokens are read. A refresh token being
/// added to one of them (its foreign-key check holds a lock this waits for) has committed by the
/// time the tokens are deleted, or waits and then fails its foreign key; it cannot slip in between
/// the tokens' deletion and the sessions'.
#[cfg(feature = "postgres")]
const LOCK_USER_SESSIONS: &str = "SELECT id FROM auth_sessions WHERE user_id = $1 FOR UPDATE";
/// The removal, children first (the foreign keys do not cascade); each finds its rows through an
/// index on the user's id (schema version 3; verification tokens: version 4).
const DELETE_USER_REFRESH_TOKENS: &str = "DELETE FROM auth_refresh_tokens \
     WHERE session_id IN (SELECT id FROM auth_sessions WHERE user_id = $1)";
const DELETE_USER_SESSIONS: &str = "DELETE FROM auth_sessions WHERE user_id = $1";
const DELETE_USER_RESET_TOKENS: &str = "DELETE FROM auth_reset_tokens WHERE user_id = $1";
const DELETE_USER_VERIFICATION_TOKENS: &str =
    "DELETE FROM auth_verification_tokens WHERE user_id = $1";
const DELETE_USER_API_KEYS: &str = "DELETE FROM auth_api_keys WHERE created_by = $1";
const DELETE_USER: &str = "DELETE FROM auth_users WHERE id = $1";

/// How a removal starts on this database: the statement that begins its transaction, and the read
/// that finds (on PostgreSQL, locks) the user row.
fn removal_start(pool: &SqlPool) -> (&'static str, &'static str) {
    match pool {
        #[cfg(feature = "sqlite")]
        SqlPool::Sqlite(_) => ("BEGIN IMMEDIATE", FIND_USER_FOR_REMOVAL),
        #[cfg(feature = "postgres")]
        SqlPool::Postgres(_) => ("BEGIN", LOCK_USER_FOR_REMOVAL),
    }
}

/// Inside the transaction `$tx`: ends the live sessions of user `$id` at `$now` but `$keep` (an
/// `Option<&str>`; `None`: all of them) and appends each to the revocation log (refused until
/// `$until`), then the user's own entry ([`user_change_entry`]); evaluates to the sessions' ids,
/// sorted.
macro_rules! end_sessions_logged {
    ($store:expr, $tx:ident, $id:expr, $keep:expr, $now:expr, $until:expr) => {{
        let mut ended: Vec<String> = sqlx::query_scalar(REVOKE_USER_SESSIONS)
            .bind($id)
            .bind($now)
            .bind($keep)
            .fetch_all(&mut *$tx)
            .await?;
        ended.sort();
        #[cfg(feature = "postgres")]
        if $store.pool.is_postgres() {
            sqlx::query(LOCK_REVOCATIONS).execute(&mut *$tx).await?;
        }
        for entry in ended.iter().cloned().chain([user_change_entry($id)]) {
            sqlx::query(INSERT_REVOCATION)
                .bind(entry)
                .bind($until)
                .execute(&mut *$tx)
                .await?;
        }
        ended
    }};
}

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
                user.created_at,
                user.email_verified
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
            let ended = end_sessions_logged!(self, tx, id, None::<&str>, now, refused_until);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    async fn delete_user_ending_sessions(
        &self,
        id: i64,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let (begin, find_user) = removal_start(&self.pool);
        with_pool!(&self.pool, p => {
            // Dropping `tx` on any error (or an unknown user) rolls everything back.
            let mut tx = p.begin_with(begin).await?;
            let found = sqlx::query(find_user).bind(id).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Ok(None);
            }
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_USER_SESSIONS).bind(id).execute(&mut *tx).await?;
            }
            let ended = end_sessions_logged!(self, tx, id, None::<&str>, now, refused_until);
            for delete in [
                DELETE_USER_REFRESH_TOKENS,
                DELETE_USER_SESSIONS,
                DELETE_USER_RESET_TOKENS,
                DELETE_USER_VERIFICATION_TOKENS,
                DELETE_USER_API_KEYS,
                DELETE_USER,
            ] {
                sqlx::query(delete).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    async fn change_password_ending_sessions(
        &self,
        id: i64,
        expected: &str,
        new: &str,
        keep: Option<&str>,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        with_pool!(&self.pool, p => {
            // The compare-and-set first, as `update_user_ending_sessions` writes the user row
            // first: it takes the row's lock (on SQLite the write lock), so a session being
            // created for the user is either among those ended here or created after this commits.
            // On PostgreSQL a reset committed meanwhile makes the `WHERE` fail on the row's new
            // version. Dropping `tx` (no match, or any error) rolls everything back.
            let mut tx = p.begin().await?;
            let changed = sqlx::query(REPLACE_PASSWORD_HASH)
                .bind(id)
                .bind(expected)
                .bind(new)
                .execute(&mut *tx)
                .await?;
            if changed.rows_affected() == 0 {
                return Ok(None);
            }
            let ended = end_sessions_logged!(self, tx, id, keep, now, refused_until);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }
}
