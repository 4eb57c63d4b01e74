//! [`CleanupStore`] on [`SqlStore`]: each batch is one bounded statement (or, for sessions and
//! their refresh tokens, one short transaction) that deletes at most `limit` rows.
//!
//! Tokens and revocation-log entries are found through an index on their predicate (migration
//! 5: `expires_at`, spent `used_at`, `refused_until`). Sessions are not: "no unexpired refresh
//! token left" is no column, so a batch walks `auth_sessions` until it has `limit` dead ones,
//! checking each session's tokens through their session index. It walks them oldest last use
//! first (an index on `last_used_at`): a session's newest token was issued at its last use, so
//! the sessions that can no longer be refreshed come first, and the full batches of a purge pass
//! over few live ones. The last, short batch walks the rest (the live sessions, and ended ones
//! whose last use is recent), so a purge costs about one read of the live sessions. A column
//! holding each session's latest token expiry would make even that an index range, and is left
//! for when that matters.
//!
//! Concurrent purges (a janitor on every instance) are harmless: a row is deleted once; a purge
//! that finds a row of its batch gone deletes fewer and counts only what it deleted. On
//! PostgreSQL, a purge of sessions locks the sessions it deletes (`FOR UPDATE SKIP LOCKED`) before
//! their tokens, as the removal of a user does, so it never waits for another purge or a removal
//! (it skips their rows), and a successor being added to one of them waits, then finds the
//! session gone and is refused, as for an ended session.

use async_trait::async_trait;

use super::SqlStore;
use crate::store::{CleanupStore, Expired, StoreResult};

const DELETE_REFRESH_TOKENS: &str = "DELETE FROM auth_refresh_tokens WHERE hash IN \
     (SELECT hash FROM auth_refresh_tokens WHERE expires_at <= $1 LIMIT $2)";
const DELETE_RESET_TOKENS: &str = "DELETE FROM auth_reset_tokens WHERE hash IN \
     (SELECT hash FROM auth_reset_tokens WHERE used_at IS NOT NULL OR expires_at <= $1 LIMIT $2)";
const DELETE_VERIFICATION_TOKENS: &str = "DELETE FROM auth_verification_tokens WHERE hash IN \
     (SELECT hash FROM auth_verification_tokens \
      WHERE used_at IS NOT NULL OR expires_at <= $1 LIMIT $2)";
/// Cursors are never reused after this (SQLite `AUTOINCREMENT`, PostgreSQL identity).
const DELETE_REVOCATIONS: &str = "DELETE FROM auth_revocations WHERE id IN \
     (SELECT id FROM auth_revocations WHERE refused_until <= $1 LIMIT $2)";

/// Sessions that can no longer be refreshed: ended, or without a token that expires after `$1`.
macro_rules! dead_sessions {
    () => {
        "SELECT s.id FROM auth_sessions s WHERE s.revoked_at IS NOT NULL OR NOT EXISTS \
         (SELECT 1 FROM auth_refresh_tokens r WHERE r.session_id = s.id AND r.expires_at > $1)"
    };
}

/// SQLite: two statements in one transaction, which holds the database's one write lock from
/// the first. The rows the first picks (in last-use order, then id) are the ones the second picks: deleting a
/// dead session's tokens leaves it dead, and no other writer runs in between.
#[cfg(feature = "sqlite")]
const SQLITE_DELETE_DEAD_SESSION_TOKENS: &str = concat!(
    "DELETE FROM auth_refresh_tokens WHERE session_id IN (",
    dead_sessions!(),
    " ORDER BY s.last_used_at, s.id LIMIT $2)"
);
#[cfg(feature = "sqlite")]
const SQLITE_DELETE_DEAD_SESSIONS: &str = concat!(
    "DELETE FROM auth_sessions WHERE id IN (",
    dead_sessions!(),
    " ORDER BY s.last_used_at, s.id LIMIT $2)"
);
/// PostgreSQL: the batch's sessions are locked first (skipping rows another transaction holds),
/// then their tokens and the sessions are deleted by id.
#[cfg(feature = "postgres")]
const PG_LOCK_DEAD_SESSIONS: &str = concat!(
    dead_sessions!(),
    " ORDER BY s.last_used_at, s.id LIMIT $2 FOR UPDATE OF s SKIP LOCKED"
);
#[cfg(feature = "postgres")]
const PG_DELETE_SESSION_TOKENS: &str = "DELETE FROM auth_refresh_tokens WHERE session_id = ANY($1)";
#[cfg(feature = "postgres")]
const PG_DELETE_SESSIONS: &str = "DELETE FROM auth_sessions WHERE id = ANY($1)";

/// The table behind a kind, for counting. Fixed names, never input.
fn count_query(kind: Expired) -> &'static str {
    match kind {
        Expired::RefreshTokens => "SELECT COUNT(*) FROM auth_refresh_tokens",
        Expired::Sessions => "SELECT COUNT(*) FROM auth_sessions",
        Expired::ResetTokens => "SELECT COUNT(*) FROM auth_reset_tokens",
        Expired::VerificationTokens => "SELECT COUNT(*) FROM auth_verification_tokens",
        Expired::Revocations => "SELECT COUNT(*) FROM auth_revocations",
    }
}

impl SqlStore {
    /// Deletes at most `limit` dead sessions with their refresh tokens; how many sessions.
    async fn delete_dead_sessions(&self, now: i64, limit: i64) -> StoreResult<u64> {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            super::SqlPool::Sqlite(p) => {
                let mut tx = p.begin().await?;
                sqlx::query(SQLITE_DELETE_DEAD_SESSION_TOKENS)
                    .bind(now)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?;
                let deleted = sqlx::query(SQLITE_DELETE_DEAD_SESSIONS)
                    .bind(now)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted)
            }
            #[cfg(feature = "postgres")]
            super::SqlPool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let ids: Vec<String> = sqlx::query_scalar(PG_LOCK_DEAD_SESSIONS)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                if ids.is_empty() {
                    return Ok(0);
                }
                sqlx::query(PG_DELETE_SESSION_TOKENS)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                let deleted = sqlx::query(PG_DELETE_SESSIONS)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted)
            }
        }
    }
}

#[async_trait]
impl CleanupStore for SqlStore {
    async fn delete_expired(&self, kind: Expired, now: i64, limit: u32) -> StoreResult<u64> {
        if limit == 0 {
            return Ok(0);
        }
        let limit = i64::from(limit);
        let sql = match kind {
            Expired::RefreshTokens => DELETE_REFRESH_TOKENS,
            Expired::Sessions => return self.delete_dead_sessions(now, limit).await,
            Expired::ResetTokens => DELETE_RESET_TOKENS,
            Expired::VerificationTokens => DELETE_VERIFICATION_TOKENS,
            Expired::Revocations => DELETE_REVOCATIONS,
        };
        Ok(execute!(self, sql, [now, limit]))
    }

    async fn count_rows(&self, kind: Expired) -> StoreResult<u64> {
        let rows: i64 = scalar!(self, count_query(kind), [], fetch_one);
        Ok(u64::try_from(rows).unwrap_or(0))
    }
}
