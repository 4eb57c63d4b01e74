//! [`SessionStore`] on [`SqlStore`]: login sessions and their refresh tokens.

use async_trait::async_trait;

use super::SqlStore;
use super::queries::bytes;
use super::rows::{self, SqlRow as _};
use crate::secret::TokenHash;
use crate::store::{Consumed, RefreshRecord, Session, SessionStore, StoreResult};

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
pub(super) const REVOKE_USER_SESSIONS: &str = "UPDATE auth_sessions SET revoked_at = $2 \
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
