//! Pushed revocations: a task that waits on the store's [`RevocationFeed`] and wakes the
//! revocation poller whenever the log may have changed, reopening a broken feed with a backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::store::{RevocationFeed, Store, StoreResult};

/// The first pause before reopening a broken feed.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest pause between two attempts to reopen a feed.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Follows the store's feed for as long as the task runs (the service's background ends it):
/// every announcement wakes the poller (`wake`), which reads the log. A broken feed also wakes
/// it (what was announced meanwhile is lost), is dropped, and a new one is opened after a pause
/// that doubles from [`BACKOFF_MIN`] to [`BACKOFF_MAX`]; each attempt that fails wakes the poller
/// too, so that a service whose timed polling is off still reads the log now and then. One
/// warning per outage, and one line when the feed is back.
///
/// `first` is the feed the builder opened (before it read the log) or the error opening it
/// gave. The task holds the store, never the service.
pub(crate) async fn follow(
    store: Arc<dyn Store>,
    first: StoreResult<Box<dyn RevocationFeed>>,
    wake: Arc<Notify>,
) {
    let mut backoff = Backoff::default();
    let mut outage = Outage::default();
    let mut next = Some(first);
    loop {
        let opened = match next.take() {
            Some(first) => first,
            None => match store.revocation_feed().await {
                Ok(Some(feed)) => Ok(feed),
                // The store stopped offering a feed: polling is all there is.
                Ok(None) => return,
                Err(e) => Err(e),
            },
        };
        match opened {
            Ok(mut feed) => {
                if outage.ended() {
                    tracing::info!("revocation feed restored");
                    // Appends announced while no feed listened.
                    wake.notify_one();
                }
                let since = Instant::now();
                let error = loop {
                    match feed.changed().await {
                        Ok(()) => {
                            wake.notify_one();
                            backoff.reset();
                        }
                        Err(e) => break e,
                    }
                };
                // A feed that worked for a while starts the next outage's pauses afresh.
                if since.elapsed() >= BACKOFF_MAX {
                    backoff.reset();
                }
                if outage.began() {
                    tracing::warn!(
                        error = %error,
                        "revocation feed lost; reading the log and reopening it (polling goes on)"
                    );
                }
            }
            Err(error) => {
                if outage.began() {
                    tracing::warn!(
                        error = %error,
                        "revocation feed cannot be opened; will retry (polling goes on)"
                    );
                }
            }
        }
        wake.notify_one();
        tokio::time::sleep(backoff.next_pause()).await;
    }
}

/// The pauses between attempts to reopen a feed: [`BACKOFF_MIN`], doubling up to
/// [`BACKOFF_MAX`], until [`reset`](Self::reset).
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next_pause(&mut self) -> Duration {
        let pause = BACKOFF_MIN
            .saturating_mul(1 << self.failures.min(16))
            .min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Whether the feed is down, so that an outage is logged once however many attempts it takes.
#[derive(Debug, Default)]
struct Outage {
    down: bool,
}

impl Outage {
    /// The feed failed: `true` if it was up (log the outage), `false` if already down.
    fn began(&mut self) -> bool {
        !std::mem::replace(&mut self.down, true)
    }

    /// The feed opened: `true` if it was down (log the recovery).
    fn ended(&mut self) -> bool {
        std::mem::replace(&mut self.down, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_backs_off_from_100_ms_doubling_to_30_s_and_starts_again_after_a_reset() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..12).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(
            pauses,
            [
                100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000, 30_000
            ]
        );
        for _ in 0..1_000 {
            assert_eq!(
                b.next_pause(),
                BACKOFF_MAX,
                "bounded, however long it lasts"
            );
        }
        b.reset();
        assert_eq!(b.next_pause(), BACKOFF_MIN);
    }

    #[test]
    fn an_outage_is_reported_once_and_its_end_once() {
        let mut o = Outage::default();
        assert!(!o.ended(), "a first open is no recovery");
        assert!(o.began(), "the first failure is reported");
        assert!(!o.began() && !o.began(), "the retries are not");
        assert!(o.ended(), "the recovery is reported");
        assert!(!o.ended());
        assert!(o.began(), "a new outage is reported again");
    }
}
