//! [`UserStore`] on [`SqlStore`]: users, and the change that ends a user's sessions in one
//! transaction.

use async_trait::async_trait;

use super::SqlStore;
use super::revocations::INSERT_REVOCATION;
#[cfg(feature = "postgres")]
use super::revocations::LOCK_REVOCATIONS;
use super::rows;
use super::sessions::REVOKE_USER_SESSIONS;
use crate::store::{NewUser, StoreResult, User, UserChange, UserStore};

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
