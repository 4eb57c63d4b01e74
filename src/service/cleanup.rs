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
        let config = &self.inner.config;
        let batch = config.cleanup.batch;
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
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }

    /// One run of the janitor: a purge, one log line if it deleted anything (counts only).
    pub(super) async fn janitor_run(&self) {
        match self.purge_expired().await {
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
