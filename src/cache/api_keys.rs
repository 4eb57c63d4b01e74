//! The verified-API-key cache, and the last-use times it coalesces.
//!
//! An entry is the principal a key authenticated as, under the cache's *generation*. Anything
//! that can change what a key may do (revoking a key, changing a user's role, removing a user)
//! moves the generation on, here at once and on every other instance when its revocation sync
//! reads the log, and an entry of an older generation never hits again. A loader reads the
//! generation before it reads the store, so a read that raced such a change is cached under
//! the old generation and is never served.
//!
//! Each hit records the time in its entry (one relaxed atomic, written at most once a second);
//! [`KeyCache::take_uses`] collects the times not yet written, for one batched store write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Slots, same_bytes, slot_hash};
use crate::principal::{Principal, PrincipalKind};
use crate::secret::TokenHash;

/// Verified API keys (see the [module](self) for the design).
pub(crate) struct KeyCache {
    /// `None`: caching is off; uses are still coalesced in `pending`.
    slots: Option<Slots<Entry>>,
    generation: AtomicU64,
    /// Seconds an entry is trusted.
    ttl: i64,
    /// Last-use times of keys not (or no longer) in a slot, by key id, until the next flush.
    pending: Mutex<HashMap<i64, i64>>,
}

struct Entry {
    hash: TokenHash,
    principal: Arc<Principal>,
    key_id: i64,
    generation: u64,
    loaded_at: i64,
    /// The latest use seen.
    last_used: AtomicI64,
    /// The latest use written to the store.
    written: AtomicI64,
}

impl Entry {
    fn unwritten(&self) -> Option<(i64, i64)> {
        let used = self.last_used.load(Ordering::Relaxed);
        (used > self.written.load(Ordering::Relaxed)).then_some((self.key_id, used))
    }
}

impl KeyCache {
    /// A cache of `slots` entries (0: off), each trusted for `ttl` seconds.
    pub(crate) fn new(slots: usize, ttl: i64) -> Self {
        Self {
            slots: Slots::new(slots),
            generation: AtomicU64::new(0),
            ttl,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// How many keys are cached.
    pub(crate) fn len(&self) -> usize {
        self.slots.as_ref().map_or(0, Slots::occupied)
    }

    /// Seconds an entry is trusted.
    pub(crate) fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The current generation; read it *before* reading the store for an [`insert`](Self::insert).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Makes every cached key stale: the next request of each reads the store again.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The principal of the key with this hash, cached under the current generation and loaded
    /// less than the TTL before `now`. A hit records a use at `now` and allocates nothing.
    pub(crate) fn get(&self, hash: &TokenHash, now: i64) -> Option<Arc<Principal>> {
        let slots = self.slots.as_ref()?;
        let generation = self.generation.load(Ordering::SeqCst);
        slots.find(slot_hash(hash.as_bytes()), |e| {
            let live = e.generation == generation && now.saturating_sub(e.loaded_at) < self.ttl;
            if !(live && same_bytes(e.hash.as_bytes(), hash.as_bytes())) {
                return None;
            }
            if e.last_used.load(Ordering::Relaxed) < now {
                e.last_used.fetch_max(now, Ordering::Relaxed);
            }
            Some(Arc::clone(&e.principal))
        })
    }

    /// Caches a key read from the store under `generation` (read before the store), and records
    /// its use at `now`.
    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        principal: Arc<Principal>,
        generation: u64,
        now: i64,
    ) {
        let PrincipalKind::ApiKey { id: key_id, .. } = principal.kind else {
            return;
        };
        let Some(slots) = &self.slots else {
            self.record(key_id, now);
            return;
        };
        let current = self.generation();
        let ttl = self.ttl;
        let h = slot_hash(hash.as_bytes());
        let entry = Entry {
            hash,
            principal,
            key_id,
            generation,
            loaded_at: now,
            last_used: AtomicI64::new(now),
            written: AtomicI64::new(i64::MIN),
        };
        let evicted = slots.put(h, entry, |e| {
            e.generation != current || now.saturating_sub(e.loaded_at) >= ttl
        });
        // An evicted entry's unwritten use waits for the next flush.
        if let Some((id, used)) = evicted.as_deref().and_then(Entry::unwritten) {
            self.record(id, used);
        }
    }

    /// Records a use of a key that is not in a slot.
    fn record(&self, key_id: i64, at: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry(key_id).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// The uses not yet written, one per key (the latest), sorted by key id.
    pub(crate) fn take_uses(&self) -> Vec<(i64, i64)> {
        let mut uses: HashMap<i64, i64> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for entry in self.slots.iter().flat_map(|s| s.entries()) {
            if let Some((id, used)) = entry.unwritten() {
                // Marked written now; a failed write puts it back with `restore`.
                entry.written.fetch_max(used, Ordering::Relaxed);
                let slot = uses.entry(id).or_insert(used);
                *slot = (*slot).max(used);
            }
        }
        let mut uses: Vec<(i64, i64)> = uses.into_iter().collect();
        uses.sort_unstable();
        uses
    }

    /// Puts back uses whose write failed, for the next flush.
    pub(crate) fn restore(&self, uses: &[(i64, i64)]) {
        for &(id, at) in uses {
            self.record(id, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::Environment;
    use crate::rbac::seed;

    fn principal(id: i64) -> Arc<Principal> {
        Arc::new(Principal {
            subject: format!("apikey:{id}"),
            user_id: 1,
            org: None,
            role: seed::VIEWER,
            kind: PrincipalKind::ApiKey {
                id,
                environment: Environment::Live,
            },
        })
    }

    #[test]
    fn a_hit_needs_the_hash_the_generation_and_a_fresh_entry() {
        let cache = KeyCache::new(64, 300);
        let hash = TokenHash::of("osk_live_a");
        let g = cache.generation();
        cache.insert(TokenHash::of("osk_live_a"), principal(7), g, 1_000);
        assert!(cache.get(&hash, 1_001).is_some());
        assert!(cache.get(&TokenHash::of("osk_live_b"), 1_001).is_none());
        assert!(cache.get(&hash, 1_300).is_none(), "past the TTL");
        cache.invalidate();
        assert!(cache.get(&hash, 1_001).is_none(), "a new generation");
        // A read that began before the change is cached under the old generation: never served.
        cache.insert(TokenHash::of("osk_live_a"), principal(7), g, 1_002);
        assert!(cache.get(&hash, 1_003).is_none());
    }

    #[test]
    fn uses_are_coalesced_per_key_and_taken_once() {
        let cache = KeyCache::new(64, 300);
        let g = cache.generation();
        cache.insert(TokenHash::of("osk_live_a"), principal(7), g, 1_000);
        cache.insert(TokenHash::of("osk_live_b"), principal(8), g, 1_000);
        for t in 1_001..1_010 {
            cache.get(&TokenHash::of("osk_live_a"), t);
        }
        assert_eq!(cache.take_uses(), vec![(7, 1_009), (8, 1_000)]);
        assert!(
            cache.take_uses().is_empty(),
            "written uses are not taken again"
        );
        cache.restore(&[(7, 1_009)]);
        assert_eq!(
            cache.take_uses(),
            vec![(7, 1_009)],
            "a failed write comes back"
        );
        // With the cache off, uses still coalesce.
        let off = KeyCache::new(0, 300);
        off.insert(TokenHash::of("osk_live_a"), principal(7), 0, 5);
        off.insert(TokenHash::of("osk_live_a"), principal(7), 0, 9);
        assert!(off.get(&TokenHash::of("osk_live_a"), 9).is_none());
        assert_eq!(off.take_uses(), vec![(7, 9)]);
    }
}
