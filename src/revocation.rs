//! [`Revocations`]: ended sessions whose access tokens must be refused before they expire.
//!
//! A logout, a password reset, a role change or a detected refresh-token reuse ends sessions in
//! the store. Their access tokens are signed and stay valid on their own for up to the
//! access-token lifetime, so every instance keeps an in-process set of revoked session ids,
//! read on every JWT authentication without I/O. This type is that set together with the ways
//! it changes:
//!
//! * **publish**: end sessions in the store, add them to this process's set at once, and append
//!   them to the store's revocation log for the other instances;
//! * **sync**: read the log from this instance's cursor (the poller does it every
//!   `revocation_poll`), so another instance's logout is refused here within one interval;
//! * entries leave the set once the last token of their session would have expired.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::store::{Store, UserChange};

/// Log entries read per store call while syncing.
const SYNC_BATCH: i64 = 1000;

/// The revocation set of one process, kept current with the store's revocation log.
pub(crate) struct Revocations {
    store: Arc<dyn Store>,
    /// How long a revoked session's access tokens can live: access-token lifetime plus leeway.
    token_lifetime: i64,
    /// Session id → until when its tokens must be refused.
    set: RwLock<HashMap<String, i64>>,
    /// How far into the store's log this process has read.
    cursor: tokio::sync::Mutex<i64>,
}

impl Revocations {
    /// An empty set over `store`; `token_lifetime` is the access-token lifetime plus leeway, in
    /// seconds.
    pub(crate) fn new(store: Arc<dyn Store>, token_lifetime: i64) -> Self {
        Self {
            store,
            token_lifetime,
            set: RwLock::new(HashMap::new()),
            cursor: tokio::sync::Mutex::new(0),
        }
    }

    /// Whether `session`'s access tokens are refused at `now`. No I/O.
    pub(crate) fn is_revoked(&self, session: &str, now: i64) -> bool {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        set.get(session).is_some_and(|&until| until > now)
    }

    /// Until when a session revoked at `now` must be refused: its last token has expired.
    fn until(&self, now: i64) -> i64 {
        now.saturating_add(self.token_lifetime)
    }

    /// Adds `(session, until)` entries; a session already present keeps the later `until`.
    fn insert<'a>(&self, entries: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        for (id, until) in entries {
            let entry = set.entry(id.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    fn insert_ids(&self, ids: &[String], until: i64) {
        self.insert(ids.iter().map(|id| (id.as_str(), until)));
    }

    /// Ends sessions everywhere: in the store, in this process at once, and (through the log)
    /// in every other instance within one poll interval.
    pub(crate) async fn end_sessions(&self, ids: &[String], now: i64) -> Result<(), Error> {
        for id in ids {
            self.store.revoke_session(id, now).await?;
        }
        self.publish(ids, now).await
    }

    /// Refuses the access tokens of sessions already ended in the store.
    pub(crate) async fn publish(&self, ids: &[String], now: i64) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let until = self.until(now);
        self.insert_ids(ids, until);
        self.store.append_revocations(ids, until).await?;
        Ok(())
    }

    /// Changes a user and ends every session of the user in one store transaction (the
    /// revocation log included), then refuses their access tokens in this process at once.
    /// `false` if the user is unknown.
    pub(crate) async fn change_user(
        &self,
        user_id: i64,
        change: UserChange,
        now: i64,
    ) -> Result<bool, Error> {
        let until = self.until(now);
        let Some(ended) = self
            .store
            .update_user_ending_sessions(user_id, change, now, until)
            .await?
        else {
            return Ok(false);
        };
        self.insert_ids(&ended, until);
        Ok(true)
    }

    /// Reads the store's revocation log from this process's cursor, and forgets entries whose
    /// tokens have all expired.
    pub(crate) async fn sync(&self, now: i64) -> Result<(), Error> {
        let mut cursor = self.cursor.lock().await;
        loop {
            let batch = self
                .store
                .revocations_since(*cursor, now, SYNC_BATCH)
                .await?;
            self.insert(batch.iter().map(|r| (r.session_id.as_str(), r.until)));
            match batch.last() {
                Some(last) => *cursor = last.cursor,
                None => break,
            }
            if (batch.len() as i64) < SYNC_BATCH {
                break;
            }
        }
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.retain(|_, &mut until| until > now);
        Ok(())
    }
}

/// Runs `tick` on `target` every `interval(target)` until the target is dropped. The poller
/// holds only a weak reference, so it never keeps a service alive.
pub(crate) fn spawn_poller<T, F, Fut>(target: Weak<T>, interval: fn(&T) -> Duration, tick: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            let pause = match target.upgrade() {
                Some(t) => interval(&t),
                None => return,
            };
            tokio::time::sleep(pause).await;
            let Some(t) = target.upgrade() else { return };
            tick(t).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn published_sessions_are_refused_here_and_reach_another_instance() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let here = Revocations::new(Arc::clone(&store), 100);
        let there = Revocations::new(Arc::clone(&store), 100);
        here.publish(&["s1".to_owned()], 1_000).await.unwrap();
        assert!(here.is_revoked("s1", 1_000), "refused here at once");
        assert!(!there.is_revoked("s1", 1_000), "not before the other syncs");
        there.sync(1_001).await.unwrap();
        assert!(there.is_revoked("s1", 1_001));
        assert!(!there.is_revoked("s2", 1_001));
        // Once its last token has expired, the entry has no use left.
        assert!(!here.is_revoked("s1", 1_100));
        there.sync(1_100).await.unwrap();
        assert!(there.set.read().unwrap().is_empty(), "pruned after expiry");
    }
}
