//! [`CleanupConfig`]: the janitor that deletes rows that can no longer matter.

use std::time::Duration;

/// The janitor: how often it deletes the rows that can no longer matter (expired and spent
/// refresh, reset and verification tokens, sessions that can no longer be refreshed, revocation
/// entries no longer in force; see [`CleanupStore`](crate::store::CleanupStore)), and in batches
/// of how many rows.
///
/// On by default: deleting those rows changes no answer of the service, and without it every
/// login, refresh and reset leaves rows behind for good (and the memory store's memory grows
/// with them). Janitors on several instances at once only share the work. Turn it off only if
/// the host calls [`AuthService::purge_expired`](crate::AuthService::purge_expired) itself (from
/// a cron job, say).
///
/// ```
/// use std::time::Duration;
/// use assimetria_auth::config::CleanupConfig;
/// use assimetria_auth::AuthConfig;
///
/// let config = AuthConfig::builder()
///     .cleanup(CleanupConfig { interval: Duration::from_secs(600), ..CleanupConfig::default() })
///     .build()?;
/// assert_eq!(config.cleanup.batch, 1000);
/// # Ok::<(), assimetria_auth::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupConfig {
    /// Whether the janitor runs in the background (default on).
    pub janitor: bool,
    /// Time between two runs of the janitor, the first one interval after the service starts
    /// (default 1 hour; anything under 1 second counts as 1 second).
    pub interval: Duration,
    /// Rows deleted per store call: each call holds its locks for one batch only, and a purge
    /// yields to other tasks between batches (default 1000; 0 counts as 1, and anything above
    /// [`MAX_BATCH`](Self::MAX_BATCH) as that).
    pub batch: u32,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            janitor: true,
            interval: Duration::from_secs(3600),
            batch: 1000,
        }
    }
}

impl CleanupConfig {
    /// The largest batch: bounds how long one call may hold a lock.
    pub const MAX_BATCH: u32 = 100_000;

    /// The batch in use: [`batch`](Self::batch) within `1..=MAX_BATCH`.
    pub(crate) fn effective_batch(&self) -> u32 {
        self.batch.clamp(1, Self::MAX_BATCH)
    }

    /// The interval in use: [`interval`](Self::interval), at least 1 second.
    pub(crate) fn effective_interval(&self) -> Duration {
        self.interval.max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthConfig;

    #[test]
    fn the_janitor_is_on_by_default_hourly_in_batches_of_1000() {
        let c = AuthConfig::default().cleanup;
        assert!(c.janitor);
        assert_eq!(
            (c.effective_interval(), c.effective_batch()),
            (Duration::from_secs(3600), 1000)
        );
    }

    #[test]
    fn an_interval_under_a_second_and_a_batch_out_of_range_are_brought_in_range() {
        let c = CleanupConfig {
            interval: Duration::ZERO,
            batch: 0,
            janitor: true,
        };
        assert_eq!(
            (c.effective_interval(), c.effective_batch()),
            (Duration::from_secs(1), 1)
        );
        let c = CleanupConfig {
            batch: u32::MAX,
            ..CleanupConfig::default()
        };
        assert_eq!(c.effective_batch(), CleanupConfig::MAX_BATCH);
        let built = AuthConfig::builder().cleanup(c.clone()).build().unwrap();
        assert_eq!(built.cleanup, c, "kept as given");
    }
}
