//! [`RevocationStore`] on [`SqlStore`]: the revocation log, in cursor order.

use async_trait::async_trait;

use super::SqlStore;
use super::rows;
use crate::store::{Revocation, RevocationFeed, RevocationStore, StoreResult};

/// PostgreSQL only: concurrent appends take turns, so that ids are allocated and committed in
/// order and a poller reading "after cursor n" never steps past an id still being written. `SHARE
/// ROW EXCLUSIVE` conflicts with itself but not with readers' `ACCESS SHARE`; it is released at
/// commit, after the rows became visible.
#[cfg(feature = "postgres")]
pub(super) const LOCK_REVOCATIONS: &str = "LOCK TABLE auth_revocations IN SHARE ROW EXCLUSIVE MODE";
pub(super) const INSERT_REVOCATION: &str =
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

    /// On PostgreSQL, a feed listening for the notifications every append sends (see
    /// `migrations/postgres/0006_revocation_notify.sql`), on a connection of its own opened with
    /// the pool's settings. SQLite: `None` (instances sharing a file poll).
    async fn revocation_feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
        match &self.pool {
            #[cfg(feature = "postgres")]
            super::SqlPool::Postgres(p) => {
                let feed = super::feed::PgRevocationFeed::open(p).await?;
                Ok(Some(Box::new(feed)))
            }
            #[allow(unreachable_patterns)] // with `postgres` alone, nothing else is compiled in
            _ => Ok(None),
        }
    }
}
