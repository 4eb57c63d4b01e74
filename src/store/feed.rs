//! [`RevocationFeed`]: a store's announcements that its revocation log changed.

use async_trait::async_trait;

use super::StoreResult;

/// Announcements that a [`RevocationStore`](super::RevocationStore)'s log may have changed, from
/// [`RevocationStore::revocation_feed`](super::RevocationStore::revocation_feed). The service waits on [`changed`](Self::changed) and reads
/// the log each time it resolves; it keeps polling as well (unless the host turned polling off),
/// so a feed that misses an announcement delays a revocation by at most one poll interval.
#[async_trait]
pub trait RevocationFeed: Send {
    /// Resolves once entries may have been appended to the log (by any process) since the feed
    /// opened or since this last resolved. Resolving without an append is allowed (it costs one
    /// read of the log); staying pending after a committed append is not.
    ///
    /// A feed whose connection was lost and restored must resolve once restored, since what was
    /// announced meanwhile is lost. An error means the feed is broken: the service drops it
    /// (logging a warning once per outage), reads the log, and opens a new feed, retrying with a
    /// backoff. At shutdown the service drops the feed, possibly while this is pending.
    async fn changed(&mut self) -> StoreResult<()>;
}
