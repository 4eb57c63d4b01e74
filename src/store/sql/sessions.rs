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
const INSERT_SESSION: &str = concat!(
    "INSERT INTO auth_sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
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
/// The first step of adding a successor: moves a live session's last use forward (never back).
/// It matches nothing for a revoked or unknown session, and holds the session row until the
/// token is in: a revocation or removal of the session waits for both, or comes first and leaves
/// nothing to add to. (`CASE`: SQLite's two-argument `MAX` is PostgreSQL's `GREATEST`.)
const TOUCH_LIVE_SESSION: &str = "UPDATE auth_sessions \
     SET last_used_at = CASE WHEN last_used_at < $2 THEN $2 ELSE last_used_at END \
     WHERE id = $1 AND revoked_at IS NULL";
/// The second: the token itself; an existing hash is left alone (a grace-window retry).
const INSERT_REFRESH: &str = "INSERT INTO auth_refresh_tokens \
     (hash, session_id, user_id, issued_at, expires_at, spent_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING";
const REVOKE_SESSION: &str =
    "UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
/// Ends a user's live sessions but `$3` (NULL: all of them); their ids.
pub(super) const REVOKE_USER_SESSIONS: &str = "UPDATE auth_sessions SET revoked_at = $2 \
     WHERE user_id = $1 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3) RETURNING id";
/// Through the index on `user_id`. Not ordered here: PostgreSQL would order the ids by the
/// database's collation, the other stores by their bytes; the caller sorts.
const LIVE_SESSIONS_OF_USER: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL"
);

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
                .bind(session.last_used_at)
                .bind(session.revoked_at)
                .bind(&session.user_agent)
                .bind(&session.ip)
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
        with_pool!(&self.pool, p => {
            // One transaction: the session's last use moves only with the token added, and
            // neither happens for a revoked or unknown session. The first statement writes, so on
            // SQLite it waits for the write lock rather than failing on a stale read snapshot.
            // Dropping `tx` rolls back.
            let mut tx = p.begin().await?;
            let touched = sqlx::query(TOUCH_LIVE_SESSION)
                .bind(&record.session_id)
                .bind(record.issued_at)
                .execute(&mut *tx)
                .await?;
            if touched.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(INSERT_REFRESH)
                .bind(bytes(&record.hash))
                .bind(&record.session_id)
                .bind(record.user_id)
                .bind(record.issued_at)
                .bind(record.expires_at)
                .bind(record.spent_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(execute!(self, REVOKE_SESSION, [id, now]) == 1)
    }

    async fn sessions_of_user(&self, user_id: i64) -> StoreResult<Vec<Session>> {
        let live: StoreResult<Vec<Session>> =
            fetch_all!(self, LIVE_SESSIONS_OF_USER, [user_id], rows::session);
        let mut live = live?;
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }
}
