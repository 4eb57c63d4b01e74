//! The in-process caches of verified credentials: verified access tokens, and verified API keys
//! with their pending last-use times.
//!
//! Both are tables of a fixed number of slots (set in [`CacheConfig`]), each slot an
//! [`ArcSwapOption`] holding one immutable entry. A lookup is a few lock-free loads (an entry lives
//! in one of the four slots of the group its hash picks, usually the first) and a comparison; a
//! hit allocates nothing and returns the cached [`Principal`](crate::Principal) behind an `Arc`.
//! An insertion takes a free or stale slot of the group, else evicts one. The memory is
//! therefore bounded by the slot count times the largest entry, whatever the traffic, and no
//! entry is ever trusted beyond what the caller checks on every hit (expiry, the revocation set,
//! the key ring, the key cache's generation).
//!
//! Nothing enters a cache before it was verified in full, so a flood of garbage or forgeries
//! never evicts anything.

use std::time::Duration;

use arc_swap::ArcSwapOption;

pub(crate) mod api_keys;
pub(crate) mod tokens;

/// Largest slot count either cache may be given.
pub const MAX_CACHE_SLOTS: usize = 1 << 20;

/// The in-process caches of verified credentials ([`AuthConfig::caches`](crate::AuthConfig)).
///
/// A cache hit still honours everything that can end a credential: a cached access token is
/// refused once expired, once its session is in the revocation set (logout, password reset, role
/// change, refresh-token reuse) and once its signing key left the ring; a cached API key is
/// dropped the moment a key is revoked or a user's role changes or the user is removed, on this
/// instance at once and on the others through the revocation log within one poll interval.
///
/// ```
/// use assimetria_auth::{AuthConfig, CacheConfig};
///
/// let config = AuthConfig::builder()
///     .caches(CacheConfig { tokens: 0, ..CacheConfig::default() }) // no token cache
///     .build()?;
/// assert_eq!(config.caches.api_keys, 4096);
/// # Ok::<(), assimetria_auth::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Slots of the verified-token cache, at most [`MAX_CACHE_SLOTS`]; 0 turns it off. Each
    /// holds one token of at most 2 KiB (longer ones are not cached) and its principal. Default
    /// 4096.
    pub tokens: usize,
    /// Slots of the verified-API-key cache, at most [`MAX_CACHE_SLOTS`]; 0 turns it off (every
    /// API-key request then reads the store). Default 4096.
    pub api_keys: usize,
    /// How long a cached API key is trusted before the store is read again. Revocations and role
    /// changes reach the cache without waiting for it; this bounds what a change made behind the
    /// service's back (directly in the database) can take to be seen. Default 5 minutes.
    pub api_key_ttl: Duration,
    /// How often API keys' `last_used_at` times, coalesced in memory, are written to the store in
    /// one batch ([`AuthService::flush`](crate::AuthService::flush) writes them at once, e.g. at
    /// shutdown). Default 60 s.
    pub last_used_flush: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            tokens: 4096,
            api_keys: 4096,
            api_key_ttl: Duration::from_secs(300),
            last_used_flush: Duration::from_secs(60),
        }
    }
}

impl CacheConfig {
    /// Whether the sizes and intervals are usable.
    pub(crate) fn is_valid(&self) -> bool {
        self.tokens <= MAX_CACHE_SLOTS
            && self.api_keys <= MAX_CACHE_SLOTS
            && !self.last_used_flush.is_zero()
    }
}

/// Slots an entry may live in (a group of this many, aligned).
const WAYS: usize = 4;

/// A table of slots, each holding one immutable entry; an entry lives in one of the [`WAYS`]
/// slots of the group its hash picks.
pub(crate) struct Slots<E> {
    slots: Box<[ArcSwapOption<E>]>,
    mask: usize,
}

impl<E> Slots<E> {
    /// `count` slots, rounded up to a power of two (at least one group); `None` for 0 (no
    /// cache).
    pub(crate) fn new(count: usize) -> Option<Self> {
        if count == 0 {
            return None;
        }
        let count = count.clamp(WAYS, MAX_CACHE_SLOTS).next_power_of_two();
        Some(Self {
            slots: (0..count).map(|_| ArcSwapOption::empty()).collect(),
            mask: count - 1,
        })
    }

    /// The slots of the group `hash` picks, the one it names first.
    fn group(&self, hash: u64) -> impl Iterator<Item = &ArcSwapOption<E>> {
        // The high bits: the hashes are multiplicative.
        let i = (hash >> 32) as usize & self.mask;
        (0..WAYS).map(move |k| &self.slots[i ^ k])
    }

    /// The first answer `f` gives for an entry in the group `hash` picks.
    pub(crate) fn find<R>(&self, hash: u64, mut f: impl FnMut(&E) -> Option<R>) -> Option<R> {
        self.group(hash)
            .find_map(|slot| slot.load().as_deref().and_then(&mut f))
    }

    /// Puts `entry` in the group `hash` picks: in an empty slot, else one whose entry
    /// `replaceable` gives up, else the one the hash's lowest bits name. Returns what it
    /// replaced.
    pub(crate) fn put(
        &self,
        hash: u64,
        entry: E,
        replaceable: impl Fn(&E) -> bool,
    ) -> Option<std::sync::Arc<E>> {
        let slot = self
            .group(hash)
            .find(|slot| slot.load().as_deref().is_none_or(&replaceable))
            .unwrap_or_else(|| {
                let victim = (hash as usize) % WAYS;
                self.group(hash).nth(victim).unwrap_or(&self.slots[0])
            });
        slot.swap(Some(std::sync::Arc::new(entry)))
    }

    /// How many slots hold an entry.
    pub(crate) fn occupied(&self) -> usize {
        self.slots.iter().filter(|s| s.load().is_some()).count()
    }

    /// Every entry, for the rare scans (flushing last-use times).
    pub(crate) fn entries(&self) -> impl Iterator<Item = std::sync::Arc<E>> + '_ {
        self.slots.iter().filter_map(ArcSwapOption::load_full)
    }
}

/// The slot hash of a credential's random part (a signature segment, a SHA-256): its first 16
/// bytes, mixed. Only fully verified credentials are ever inserted, and their signatures or
/// hashes are beyond a client's choosing, so the entries spread evenly; a client's lookups can
/// pick any slot but only ever miss there. Shorter input is hashed whole.
pub(crate) fn slot_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        let n = b.len().min(8);
        w[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(w)
    };
    let head = &bytes[..bytes.len().min(16)];
    let (a, b) = head.split_at(head.len().min(8));
    (word(a).wrapping_mul(K).rotate_left(29) ^ word(b)).wrapping_mul(K)
}

/// Whether two byte strings are equal, in time that depends only on their lengths: a cached
/// credential is compared without telling a prober how much of it matched.
///
/// The differences are OR-ed together eight bytes at a time with no branch on the data, and only
/// the total is looked at (through `black_box`, so the compiler cannot stop early). `subtle`'s
/// slice comparison would be as constant but puts an optimisation barrier on every byte, which
/// costs more than the whole cache hit it guards.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .fold(0u64, |acc, (x, y)| acc | u64::from(x ^ y));
    let diff = a8
        .zip(b8)
        .fold(tail, |acc, (x, y)| acc | (word(x) ^ word(y)));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_a_group_of_entries_and_replace_by_preference() {
        let slots = Slots::<u32>::new(5).unwrap();
        assert_eq!(slots.slots.len(), 8, "rounded up to a power of two");
        let h = 2u64 << 32;
        for e in 1..=4 {
            assert!(slots.put(h, e, |_| false).is_none(), "a free slot for {e}");
        }
        assert_eq!(slots.find(h, |&e| (e == 4).then_some(e)), Some(4));
        // The group is full: a replaceable entry goes first, else the hash names a victim.
        assert_eq!(slots.put(h, 5, |&e| e == 3).as_deref(), Some(&3));
        assert_eq!(slots.find(h, |&e| (e == 3).then_some(e)), None);
        assert!(slots.put(h, 6, |_| false).is_some());
        assert_eq!(slots.entries().count(), 4, "one group, never more");
        assert!(Slots::<u32>::new(0).is_none(), "0 turns the cache off");
    }

    #[test]
    fn same_bytes_compares_whole_strings() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
        assert_ne!(slot_hash(b"abcdefghij"), slot_hash(b"abcdefghik"));
        assert_ne!(slot_hash(b"abcdefgh"), slot_hash(b"bbcdefgh"));
        assert_eq!(slot_hash(b""), slot_hash(b""));
    }
}
