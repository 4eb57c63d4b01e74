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
    /// (default 1 hour; at least 1 second).
    pub interval: Duration,
    /// Rows deleted per store call: each call holds its locks for one batch only, and a purge
    /// yields to other tasks between batches (default 1000; at least 1, at most 100 000).
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

    /// Whether the interval and batch are usable.
    pub(crate) fn is_valid(&self) -> bool {
        self.interval >= Duration::from_secs(1) && (1..=Self::MAX_BATCH).contains(&self.batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthConfig;
    use crate::error::{ConfigError, Error};

    fn build(cleanup: CleanupConfig) -> Result<AuthConfig, Error> {
        AuthConfig::builder().cleanup(cleanup).build()
    }

    #[test]
    fn the_janitor_is_on_by_default_hourly_in_batches_of_1000() {
        let c = AuthConfig::default().cleanup;
        assert!(c.janitor);
        assert_eq!((c.interval, c.batch), (Duration::from_secs(3600), 1000));
    }

    #[test]
    fn an_interval_under_a_second_or_a_batch_out_of_range_is_refused() {
        let base = CleanupConfig::default();
        for bad in [
            CleanupConfig {
                interval: Duration::from_millis(999),
                ..base.clone()
            },
            CleanupConfig {
                batch: 0,
                ..base.clone()
            },
            CleanupConfig {
                batch: CleanupConfig::MAX_BATCH + 1,
                ..base.clone()
            },
        ] {
            assert!(matches!(
                build(bad),
                Err(Error::Config(ConfigError::Cleanup))
            ));
        }
        let edge = CleanupConfig {
            interval: Duration::from_secs(1),
            batch: 1,
            janitor: false,
        };
        assert_eq!(build(edge.clone()).unwrap().cleanup, edge);
    }
}
