//! Cleanup: deleting the rows that can no longer matter, by the janitor or when the host asks.

use crate::clock::secs;
use crate::error::Error;
use crate::store::Expired;

use super::AuthService;

/// How far before its clock the service deletes: a request that read the clock just before a
/// purge, or an instance whose clock lags a little (up to this much), never sees a row vanish
/// that it would still have accepted. Five minutes, the largest clock leeway accepted.
const CLOCK_SLACK: i64 = 300;

/// What one purge deleted, per kind of row (see [`AuthService::purge_expired`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Refresh tokens past their own expiry (spent or not).
    pub refresh_tokens: u64,
    /// Sessions that can no longer be refreshed (ended, or without an unexpired refresh token),
    /// deleted with their refresh tokens (not counted in `refresh_tokens`).
    pub sessions: u64,
    /// Spent or expired password-reset tokens.
    pub reset_tokens: u64,
    /// Spent or expired email-verification tokens.
    pub verification_tokens: u64,
    /// Revocation-log entries no longer in force.
    pub revocations: u64,
}

impl CleanupReport {
    /// The rows deleted of `kind`.
    pub fn deleted(&self, kind: Expired) -> u64 {
        match kind {
            Expired::RefreshTokens => self.refresh_tokens,
            Expired::Sessions => self.sessions,
            Expired::ResetTokens => self.reset_tokens,
            Expired::VerificationTokens => self.verification_tokens,
            Expired::Revocations => self.revocations,
        }
    }

    /// Every row deleted.
    pub fn total(&self) -> u64 {
        Expired::ALL.iter().map(|&kind| self.deleted(kind)).sum()
    }

    fn slot(&mut self, kind: Expired) -> &mut u64 {
        match kind {
            Expired::RefreshTokens => &mut self.refresh_tokens,
            Expired::Sessions => &mut self.sessions,
            Expired::ResetTokens => &mut self.reset_tokens,
            Expired::VerificationTokens => &mut self.verification_tokens,
            Expired::Revocations => &mut self.revocations,
        }
    }
}

impl AuthService {
    /// Deletes every row that can no longer matter: refresh tokens past their own expiry,
    /// sessions that can no longer be refreshed (with their tokens), spent or expired reset and
    /// verification tokens, and revocation-log entries no longer in force (see
    /// [`CleanupStore`](crate::store::CleanupStore) for why each changes no answer). A spent
    /// refresh token that has not expired is kept, so its reuse still ends its session.
    ///
    /// Works in batches of [`CleanupConfig::batch`](crate::config::CleanupConfig::batch) rows,
    /// each one short store call, yielding to other tasks between them, until a batch comes back
    /// short. Rows count as gone a few minutes after they stop mattering (a margin for requests
    /// in flight and clocks a little apart). The janitor
    /// ([`CleanupConfig::janitor`](crate::config::CleanupConfig::janitor), on by default) calls
    /// this every interval; a host that turned it off calls it itself. Running it on several
    /// instances at once is harmless.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a batch fails; the batches before it stay deleted, and the next
    /// purge carries on.
    pub async fn purge_expired(&self) -> Result<CleanupReport, Error> {
        self.purge(false).await
    }

    /// The purge; with `stoppable`, it ends early (between two batches) once the service is
    /// shutting down, so that [`shutdown`](Self::shutdown) does not wait for a long purge (each
    /// batch stands on its own; the next purge carries on).
    async fn purge(&self, stoppable: bool) -> Result<CleanupReport, Error> {
        let config = &self.inner.config;
        let batch = config.cleanup.effective_batch();
        let cutoff = self.now().saturating_sub(CLOCK_SLACK);
        // An access token can outlive its session's last refresh token when it lives longer than
        // refresh tokens do; keep such a session until its access tokens expired too, so that a
        // global logout still finds it and refuses them.
        let access_beyond_refresh = secs(config.access_ttl)
            .saturating_add(secs(config.leeway))
            .saturating_sub(secs(config.refresh_ttl))
            .max(0);
        let mut report = CleanupReport::default();
        for kind in Expired::ALL {
            let now = match kind {
                Expired::Sessions => cutoff.saturating_sub(access_beyond_refresh),
                _ => cutoff,
            };
            loop {
                let deleted = self.inner.store.delete_expired(kind, now, batch).await?;
                *report.slot(kind) += deleted;
                if deleted < u64::from(batch) {
                    break;
                }
                if stoppable && self.inner.background.is_stopped() {
                    return Ok(report);
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }

    /// One run of the janitor: a purge, one log line if it deleted anything (counts only).
    pub(super) async fn janitor_run(&self) {
        match self.purge(true).await {
            Ok(r) if r.total() > 0 => tracing::info!(
                refresh_tokens = r.refresh_tokens,
                sessions = r.sessions,
                reset_tokens = r.reset_tokens,
                verification_tokens = r.verification_tokens,
                revocations = r.revocations,
                "cleanup deleted rows that can no longer matter"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleanup failed; the next run carries on"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::config::{AuthConfig, CleanupConfig};
    use crate::keys::MasterKey;
    use crate::store::memory::MemoryStore;
    use crate::store::{Expired, Store};

    use super::{AuthService, CLOCK_SLACK};

    const NOW: i64 = 1_800_000_000;

    /// A service on a store whose revocation log holds one entry out of force (by more than the
    /// slack) and one in force.
    async fn service(janitor: bool) -> (AuthService, Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let stale = NOW - CLOCK_SLACK - 1;
        store
            .append_revocations(&["old".into()], stale)
            .await
            .unwrap();
        store
            .append_revocations(&["new".into()], NOW + 60)
            .await
            .unwrap();
        let config = AuthConfig::builder()
            .master_key(MasterKey::from_bytes([3; 32]))
            .cleanup(CleanupConfig {
                janitor,
                interval: Duration::from_secs(60),
                batch: 1,
            })
            .build()
            .unwrap();
        let service = AuthService::builder(config, Arc::clone(&store))
            .clock(Arc::new(ManualClock::new(NOW)))
            .background_revocation_sync(false)
            .build()
            .await
            .unwrap();
        (service, store)
    }

    async fn log_rows(store: &Arc<dyn Store>) -> u64 {
        store.count_rows(Expired::Revocations).await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_janitor_purges_every_interval_until_shutdown() {
        let (service, store) = service(true).await;
        // Paused time: each sleep lets the clock jump to the next timer. The first run comes at
        // a random point of the first interval.
        tokio::time::sleep(Duration::from_secs(61)).await;
        let after = log_rows(&store).await;
        assert_eq!(after, 1, "the entry out of force went, the other stayed");
        store.append_revocations(&["y".into()], 0).await.unwrap();
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(
            log_rows(&store).await,
            1,
            "and again within the next interval"
        );
        service.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        store.append_revocations(&["x".into()], 0).await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(log_rows(&store).await, 2, "no janitor after the shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn no_janitor_when_turned_off_and_purge_expired_reports_per_kind() {
        let (service, store) = service(false).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(log_rows(&store).await, 2, "no janitor ran");
        // Batches of one: the purge goes on until a batch comes back short.
        store
            .append_revocations(&["a".into(), "b".into()], NOW - CLOCK_SLACK)
            .await
            .unwrap();
        let report = service.purge_expired().await.unwrap();
        assert_eq!(report.revocations, 3);
        assert_eq!(
            (report.total(), report.deleted(Expired::Revocations)),
            (3, 3)
        );
        assert_eq!(log_rows(&store).await, 1);
        // Within the slack: kept.
        store
            .append_revocations(&["c".into()], NOW - CLOCK_SLACK + 1)
            .await
            .unwrap();
        assert_eq!(service.purge_expired().await.unwrap().total(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_ends_the_janitors_purge_between_two_batches() {
        let (service, store) = service(false).await;
        let stale: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
        store.append_revocations(&stale, 0).await.unwrap();
        service.inner.background.stop(Duration::from_secs(1)).await;
        // Batches of one row: the janitor's purge stops after the first.
        let report = service.purge(true).await.unwrap();
        assert_eq!(report.total(), 1, "one batch, then the stop was seen");
        // A host's own purge after the shutdown still goes to the end.
        assert_eq!(service.purge_expired().await.unwrap().total(), 50);
        assert_eq!(log_rows(&store).await, 1);
    }
}
