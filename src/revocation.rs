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
//!   where the store announces appends (PostgreSQL's LISTEN/NOTIFY, [`push`]), the poller is
//!   woken at once and the logout is refused here within milliseconds;
//! * entries leave the set once the last token of their session would have expired.
//!
//! Reads take no lock: the set is an immutable value behind an [`ArcSwap`], replaced whole by
//! each change (an empty set costs one load). So that a change does not copy a large set, it is
//! kept in two levels: a large `settled` map shared between versions, and a small `recent` one
//! that changes copy; `recent` is folded into `settled` once it passes the square root of its
//! size, which keeps a change's copying amortized to O(√n) entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::cache::api_keys::KeyCache;

use crate::error::Error;
use crate::store::{Store, UserChange, is_key_change_entry};

mod push;
pub(crate) use push::follow;

/// Log entries read per store call while syncing.
const SYNC_BATCH: i64 = 1000;

/// The revocation set of one process, kept current with the store's revocation log.
pub(crate) struct Revocations {
    store: Arc<dyn Store>,
    /// How long a revoked session's access tokens can live: access-token lifetime plus leeway.
    token_lifetime: i64,
    /// Session id → until when its tokens must be refused. Read without a lock.
    set: ArcSwap<RevokedSet>,
    /// Serializes the writers of `set` (each builds the next version from the current one).
    writer: Mutex<()>,
    /// How far into the store's log this process has read.
    cursor: tokio::sync::Mutex<i64>,
    /// The verified-API-key cache, made stale by log entries that name a key or a user.
    keys: KeyCache,
    /// When the log was last read in full (Unix seconds; 0: never).
    synced_at: AtomicI64,
}

impl Revocations {
    /// An empty set over `store`; `token_lifetime` is the access-token lifetime plus leeway, in
    /// seconds.
    pub(crate) fn new(store: Arc<dyn Store>, token_lifetime: i64, keys: KeyCache) -> Self {
        Self {
            keys,
            synced_at: AtomicI64::new(0),
            store,
            token_lifetime,
            set: ArcSwap::from_pointee(RevokedSet::default()),
            writer: Mutex::new(()),
            cursor: tokio::sync::Mutex::new(0),
        }
    }

    /// The verified-API-key cache.
    pub(crate) fn keys(&self) -> &KeyCache {
        &self.keys
    }

    /// Revokes an API key: in the store with its log entry (one transaction), and out of this
    /// process's key cache at once; other instances drop it when they read the entry. `false`
    /// if the key was unknown or already revoked.
    pub(crate) async fn revoke_api_key(&self, id: i64, now: i64) -> Result<bool, Error> {
        let revoked = self.store.revoke_api_key(id, now, self.until(now)).await?;
        self.keys.invalidate();
        Ok(revoked)
    }

    /// Whether `session`'s access tokens are refused at `now`. No I/O.
    pub(crate) fn is_revoked(&self, session: &str, now: i64) -> bool {
        self.set
            .load()
            .get(session)
            .is_some_and(|until| until > now)
    }

    /// Until when a session revoked at `now` must be refused: its last token has expired.
    fn until(&self, now: i64) -> i64 {
        now.saturating_add(self.token_lifetime)
    }

    /// Adds `(session, until)` entries; a session already present keeps the later `until`.
    fn insert<'a>(&self, entries: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut entries = entries.into_iter().peekable();
        if entries.peek().is_none() {
            return;
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.set.load().with(entries);
        self.set.store(Arc::new(next));
    }

    fn insert_ids(&self, ids: &[String], until: i64) {
        self.insert(ids.iter().map(|id| (id.as_str(), until)));
    }

    /// Ends sessions everywhere: in the store, in this process at once, and (through the log)
    /// in every other instance within one poll interval.
    pub(crate) async fn end_sessions(&self, ids: &[String], now: i64) -> Result<(), Error> {
        for (i, id) in ids.iter().enumerate() {
            if let Err(e) = self.store.revoke_session(id, now).await {
                // The sessions already ended in the store lose their access tokens too.
                self.publish(&ids[..i], now).await?;
                return Err(e.into());
            }
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
        // The keys the user made act with at most the user's role. The store logged the change
        // for the other instances in the same transaction.
        self.keys.invalidate();
        Ok(true)
    }

    /// A signed-in user's password change: compare-and-set of the hash over `expected`, and the
    /// end of every session of the user but `keep`, in one store transaction (the log
    /// included), then their access tokens are refused here at once. The ended sessions' ids, or
    /// `None` (nothing changed) if the hash changed meanwhile or the user is gone.
    pub(crate) async fn change_password(
        &self,
        user_id: i64,
        (expected, new): (&str, &str),
        keep: Option<&str>,
        now: i64,
    ) -> Result<Option<Vec<String>>, Error> {
        let until = self.until(now);
        let ended = self
            .store
            .change_password_ending_sessions(user_id, expected, new, keep, now, until)
            .await?;
        if let Some(ended) = &ended {
            self.insert_ids(ended, until);
            self.keys.invalidate();
        }
        Ok(ended)
    }

    /// Deletes a user with their sessions, reset tokens and API keys in one store transaction
    /// (the ended sessions go to the log in it), then refuses their access tokens and drops their
    /// cached keys, here at once and elsewhere through the log. `false` if the user is unknown.
    pub(crate) async fn remove_user(&self, user_id: i64, now: i64) -> Result<bool, Error> {
        let until = self.until(now);
        let Some(ended) = self
            .store
            .delete_user_ending_sessions(user_id, now, until)
            .await?
        else {
            return Ok(false);
        };
        self.insert_ids(&ended, until);
        self.keys.invalidate();
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
            if batch.iter().any(|r| is_key_change_entry(&r.session_id)) {
                self.keys.invalidate();
            }
            self.insert(
                batch
                    .iter()
                    .filter(|r| !is_key_change_entry(&r.session_id))
                    .map(|r| (r.session_id.as_str(), r.until)),
            );
            match batch.last() {
                Some(last) => *cursor = last.cursor,
                None => break,
            }
            if (batch.len() as i64) < SYNC_BATCH {
                break;
            }
        }
        // After a gap longer than a cached key is trusted (failed syncs, a paused process), an
        // entry may have left the log unread: read every cached key again.
        let last = self.synced_at.swap(now, Ordering::Relaxed);
        if now.saturating_sub(last) >= self.keys.ttl() {
            self.keys.invalidate();
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.set.load_full();
        if current.has_expired(now) {
            self.set.store(Arc::new(current.without_expired(now)));
        }
        Ok(())
    }

    /// How many sessions are refused: a test hook.
    #[cfg(test)]
    fn len(&self) -> usize {
        let set = self.set.load();
        set.settled.len() + set.recent.len()
    }
}

/// One version of the revocation set: `settled`, shared between versions, and `recent`, which
/// each change copies. A session may be in both; the later `until` counts.
#[derive(Default)]
struct RevokedSet {
    settled: Arc<HashMap<Box<str>, i64>>,
    recent: HashMap<Box<str>, i64>,
    /// The earliest `until` in the set: nothing can be pruned before it.
    earliest: Option<i64>,
    /// When the set was last pruned. Expired entries refuse nothing, so pruning (a full copy)
    /// runs at most once per [`PRUNE_EVERY`] seconds, however often the earliest entry expires.
    pruned_at: i64,
}

/// Seconds between two prunings of the revocation set, at least.
const PRUNE_EVERY: i64 = 60;

/// `recent` is folded into `settled` once it holds more than this, or more than the square root
/// of `settled`'s size, whichever is larger: a change then copies O(√n) entries, and the fold's
/// O(n) copy comes once per √n changes.
const RECENT_MIN: usize = 256;

/// When `recent` is folded into a `settled` of `settled` entries.
fn fold_at(settled: usize) -> usize {
    RECENT_MIN.max(settled.isqrt())
}

impl RevokedSet {
    fn get(&self, session: &str) -> Option<i64> {
        // An empty set answers without a lookup.
        self.earliest?;
        let settled = self.settled.get(session).copied();
        let recent = self.recent.get(session).copied();
        settled.max(recent)
    }

    /// The next version: this one with `entries` added.
    fn with<'a>(&self, entries: impl Iterator<Item = (&'a str, i64)>) -> Self {
        let mut recent = self.recent.clone();
        let mut earliest = self.earliest;
        for (id, until) in entries {
            let entry = recent.entry(Box::from(id)).or_insert(until);
            *entry = (*entry).max(until);
            earliest = Some(earliest.map_or(until, |e| e.min(until)));
        }
        if recent.len() > fold_at(self.settled.len()) {
            let mut settled = HashMap::clone(&self.settled);
            for (id, until) in recent {
                let entry = settled.entry(id).or_insert(until);
                *entry = (*entry).max(until);
            }
            return Self {
                settled: Arc::new(settled),
                recent: HashMap::new(),
                earliest,
                pruned_at: self.pruned_at,
            };
        }
        Self {
            settled: Arc::clone(&self.settled),
            recent,
            earliest,
            pruned_at: self.pruned_at,
        }
    }

    /// Whether pruning is due at `now`: some entry has expired and the last pruning is old.
    fn has_expired(&self, now: i64) -> bool {
        self.earliest.is_some_and(|e| e <= now) && now.saturating_sub(self.pruned_at) >= PRUNE_EVERY
    }

    /// This set without the entries whose tokens have all expired at `now`, in one level.
    fn without_expired(&self, now: i64) -> Self {
        let mut settled: HashMap<Box<str>, i64> = self
            .settled
            .iter()
            .filter(|&(_, &until)| until > now)
            .map(|(id, &until)| (id.clone(), until))
            .collect();
        for (id, &until) in &self.recent {
            if until > now {
                let entry = settled.entry(id.clone()).or_insert(until);
                *entry = (*entry).max(until);
            }
        }
        let earliest = settled.values().copied().min();
        Self {
            settled: Arc::new(settled),
            recent: HashMap::new(),
            earliest,
            pruned_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn published_sessions_are_refused_here_and_reach_another_instance() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let here = Revocations::new(Arc::clone(&store), 100, KeyCache::new(8, 60));
        let there = Revocations::new(Arc::clone(&store), 100, KeyCache::new(8, 60));
        here.publish(&["s1".to_owned()], 1_000).await.unwrap();
        assert!(here.is_revoked("s1", 1_000), "refused here at once");
        assert!(!there.is_revoked("s1", 1_000), "not before the other syncs");
        there.sync(1_001).await.unwrap();
        assert!(there.is_revoked("s1", 1_001));
        assert!(!there.is_revoked("s2", 1_001));
        // Once its last token has expired, the entry has no use left.
        assert!(!here.is_revoked("s1", 1_100));
        there.sync(1_100).await.unwrap();
        assert_eq!(there.len(), 0, "pruned after expiry");
    }

    #[tokio::test]
    async fn a_key_change_reaches_another_instance_through_the_log_and_revokes_no_session() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let here = Revocations::new(Arc::clone(&store), 100, KeyCache::new(8, 60));
        let there = Revocations::new(Arc::clone(&store), 100, KeyCache::new(8, 60));
        there.sync(1_000).await.unwrap();
        let (g_here, g_there) = (here.keys.generation(), there.keys.generation());
        assert!(!here.revoke_api_key(7, 1_000).await.unwrap(), "no such key");
        assert_ne!(here.keys.generation(), g_here, "stale here at once");
        // What a revocation on another instance leaves in the log.
        store
            .append_revocations(&[crate::store::api_key_change_entry(7)], 1_100)
            .await
            .unwrap();
        assert_eq!(there.keys.generation(), g_there);
        there.sync(1_001).await.unwrap();
        assert_ne!(
            there.keys.generation(),
            g_there,
            "stale there after one sync"
        );
        assert_eq!(there.len(), 0, "a key change is not a session");
        // A sync that reads only sessions leaves the cache alone.
        let g = there.keys.generation();
        here.publish(&["s1".to_owned()], 1_002).await.unwrap();
        there.sync(1_003).await.unwrap();
        assert_eq!(there.keys.generation(), g);
        // A sync after a gap longer than a cached key is trusted: whatever the log lost meanwhile,
        // the cached keys are read again.
        there.sync(1_100).await.unwrap();
        assert_ne!(there.keys.generation(), g, "stale after a long gap");
    }

    #[tokio::test]
    async fn a_large_set_folds_recent_entries_and_keeps_every_one() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let set = Revocations::new(store, 100, KeyCache::new(8, 60));
        let ids: Vec<String> = (0..3_000).map(|i| format!("s{i}")).collect();
        for chunk in ids.chunks(7) {
            set.publish(chunk, 1_000).await.unwrap();
        }
        let current = set.set.load();
        assert!(
            current.recent.len() <= fold_at(current.settled.len()) + 7,
            "recent entries are folded into the shared level"
        );
        assert!(ids.iter().all(|id| set.is_revoked(id, 1_050)));
        assert!(!set.is_revoked("s-unknown", 1_050));
        // A later revocation of the same session extends it, whichever level holds it.
        set.publish(&["s0".to_owned()], 1_080).await.unwrap();
        assert!(set.is_revoked("s0", 1_150) && !set.is_revoked("s1", 1_150));
        set.sync(1_150).await.unwrap();
        assert_eq!(set.len(), 1, "only the extended session is left");
    }
}
