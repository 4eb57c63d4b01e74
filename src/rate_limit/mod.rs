//! Rate limiting for login, registration and forgot-password.
//!
//! [`RateLimiter`] is pluggable (a host with several instances can back it with a shared store);
//! [`MemoryRateLimiter`] counts in fixed windows in the process, in a bounded table that evicts
//! the oldest window when full. With the `redis` feature, `RedisRateLimiter` counts the same
//! windows in one Redis that every instance shares, so that N instances do not admit N times the
//! attempts. [`client_bucket`] maps a client address to the bucket it is counted in (an IPv6
//! address to its /64).
//!
//! The service checks the per-client limit first and counts an account only for requests that
//! passed it, so a client already refused cannot grow the table with made-up emails.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::RateLimit;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisRateLimiter, RedisRateLimiterBuilder, WhenUnavailable};

/// Counts attempts per key.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Records an attempt under `key` at `now`; `Err(retry_after)` if `limit` is exceeded.
    async fn hit(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration>;
}

/// The bucket a client address is counted in: an IPv6 address stands for its /64 network (the
/// low 64 bits zeroed), an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) for the IPv4 address, and
/// an IPv4 address for itself.
///
/// A single IPv6 subscriber is routinely given a whole /64 (often a /56 or /48), so counting each
/// IPv6 address on its own would let one client take 2^64 fresh buckets, and flood a bounded
/// table, by changing the low bits. Counting per /64 gives each subscriber one bucket; clients
/// that share a /64 also share its limit, which is the usual trade-off (as with IPv4 NAT).
///
/// ```
/// use std::net::IpAddr;
/// use assimetria_auth::rate_limit::client_bucket;
///
/// let ip: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
/// assert_eq!(client_bucket(ip), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
/// let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
/// assert_eq!(client_bucket(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
/// ```
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// Fixed-window counters in memory, bounded in size.
///
/// Keys are kept as 64-bit keyed hashes (SipHash with a per-process random key, so nobody can
/// aim collisions), which bounds an entry at a few dozen bytes whatever the key's length.
/// Expired windows are swept at most once a second once the table passes 10 000 entries. When
/// the table still holds `max_keys` entries, a new key evicts the entry whose window started
/// longest ago, so a flood of made-up keys costs bounded memory and never locks everyone out.
///
/// Eviction is the price of the bound: an attacker who can present `max_keys` distinct keys
/// within one window can push an older counter out and start it afresh. The service counts per
/// client address first (per /64 for IPv6, see [`client_bucket`]), so that takes a million
/// addresses at the default size; a host that needs exact counts under such a flood plugs in a
/// shared [`RateLimiter`].
///
/// Every operation is O(1) amortized: the age order is a FIFO queue of `(key, generation)`
/// pairs; a renewed window enqueues its key again and leaves the old pair stale, to be skipped
/// when it reaches the front or dropped by a compaction once stale pairs outnumber live ones.
/// The queue never holds more than about twice `max_keys` pairs.
pub struct MemoryRateLimiter {
    state: Mutex<State>,
    hasher: std::collections::hash_map::RandomState,
    max_keys: usize,
}

#[derive(Default)]
struct State {
    windows: HashMap<u64, Window>,
    /// Keys in the order their current windows started, with the generation of that window;
    /// a pair whose generation is not its key's current one is stale.
    queue: VecDeque<(u64, u64)>,
    next_generation: u64,
    last_sweep: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    len: i64,
    count: u32,
    generation: u64,
}

const SWEEP_ABOVE: usize = 10_000;

/// The queue is compacted once it holds more than twice this many or twice the live keys,
/// whichever is more: a compaction then drops at least half of what it scans, so its cost is
/// paid for by the pushes that made the stale pairs.
const COMPACT_ABOVE: usize = 64;

impl State {
    fn is_current(&self, (id, generation): (u64, u64)) -> bool {
        self.windows
            .get(&id)
            .is_some_and(|w| w.generation == generation)
    }

    /// Starts a new window for `id` at `now` and puts it at the back of the age order.
    fn start_window(&mut self, id: u64, len: i64, now: i64) {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.queue.push_back((id, generation));
        self.windows.insert(
            id,
            Window {
                start: now,
                len,
                count: 0,
                generation,
            },
        );
    }

    /// Removes the entry whose current window is the oldest; `false` if there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some(pair) = self.queue.pop_front() {
            if self.is_current(pair) {
                self.windows.remove(&pair.0);
                return true;
            }
        }
        false
    }

    /// Drops stale pairs once they outnumber the live ones.
    fn compact(&mut self) {
        if self.queue.len() > 2 * self.windows.len().max(COMPACT_ABOVE) {
            let mut queue = std::mem::take(&mut self.queue);
            queue.retain(|&pair| self.is_current(pair));
            self.queue = queue;
        }
    }
}

impl MemoryRateLimiter {
    /// An empty limiter holding at most one million keys.
    pub fn new() -> Self {
        Self::with_max_keys(1_000_000)
    }

    /// An empty limiter holding at most `max_keys` keys (at least one).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hasher: std::collections::hash_map::RandomState::new(),
            max_keys: max_keys.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.lock().windows.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many `(key, generation)` pairs the age queue holds, stale ones included.
    #[cfg(test)]
    fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("keys", &self.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration> {
        let len = crate::clock::secs(limit.window).max(1);
        let id = self.hasher.hash_one(key);
        let mut state = self.lock();
        if state.windows.len() > SWEEP_ABOVE && now > state.last_sweep {
            state.last_sweep = now;
            state.windows.retain(|_, w| now < w.start + w.len);
        }
        match state.windows.get(&id) {
            Some(w) if now < w.start + w.len => {}
            Some(_) => state.start_window(id, len, now),
            None => {
                while state.windows.len() >= self.max_keys && state.evict_oldest() {}
                state.start_window(id, len, now);
            }
        }
        let result = match state.windows.get_mut(&id) {
            Some(w) if w.count >= limit.max => {
                let wait = (w.start + w.len - now).max(1);
                Err(Duration::from_secs(u64::try_from(wait).unwrap_or(1)))
            }
            Some(w) => {
                w.count += 1;
                Ok(())
            }
            None => Ok(()), // just inserted above
        };
        state.compact();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_then_recovers() {
        let l = MemoryRateLimiter::new();
        let limit = RateLimit::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            l.hit("a", limit, 100).await.unwrap();
        }
        assert_eq!(l.hit("a", limit, 110).await, Err(Duration::from_secs(50)));
        l.hit("b", limit, 110).await.unwrap();
        l.hit("a", limit, 160).await.unwrap();
    }

    #[tokio::test]
    async fn memory_is_bounded() {
        let l = MemoryRateLimiter::with_max_keys(100);
        let limit = RateLimit::new(5, Duration::from_secs(60));
        let huge = "x".repeat(60_000);
        for i in 0..100 {
            l.hit(&format!("{huge}{i}"), limit, 0).await.unwrap();
        }
        assert_eq!(l.len(), 100);
        // A full table admits a new key (evicting the oldest) and still serves known ones.
        l.hit("new key", limit, 1).await.unwrap();
        assert_eq!(l.len(), 100);
        l.hit(&format!("{huge}7"), limit, 1).await.unwrap();
        assert_eq!(l.len(), 100);
    }

    #[tokio::test]
    async fn a_full_table_evicts_the_oldest_window() {
        let l = MemoryRateLimiter::with_max_keys(3);
        let limit = RateLimit::new(1, Duration::from_secs(60));
        l.hit("a", limit, 0).await.unwrap();
        l.hit("b", limit, 1).await.unwrap();
        l.hit("c", limit, 2).await.unwrap();
        // "d" pushes out "a", whose window started first; "b" and "c" stay spent.
        l.hit("d", limit, 3).await.unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.hit("b", limit, 4).await.is_err());
        assert!(l.hit("c", limit, 4).await.is_err());
        assert!(l.hit("d", limit, 4).await.is_err());
        // An evicted key starts afresh (and, new again, pushes out the oldest: "b").
        l.hit("a", limit, 5).await.unwrap();
        assert!(l.hit("a", limit, 5).await.is_err());
        assert_eq!(l.len(), 3);
        assert!(l.hit("c", limit, 6).await.is_err(), "c survived");
    }

    #[tokio::test]
    async fn a_renewed_window_counts_as_young() {
        let l = MemoryRateLimiter::with_max_keys(3);
        let limit = RateLimit::new(1, Duration::from_secs(60));
        l.hit("a", limit, 0).await.unwrap();
        l.hit("b", limit, 1).await.unwrap();
        l.hit("c", limit, 2).await.unwrap();
        // "a"'s window expires and starts again at 70: now "b" is the oldest.
        l.hit("a", limit, 70).await.unwrap();
        l.hit("d", limit, 71).await.unwrap();
        assert!(
            l.hit("a", limit, 72).await.is_err(),
            "a kept its new window"
        );
        assert!(
            l.hit("c", limit, 72).await.is_ok(),
            "c's window had expired"
        );
        // "b" was evicted: admitted afresh, evicting the oldest window left ("a", renewed at 70).
        l.hit("b", limit, 73).await.unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.hit("d", limit, 74).await.is_err(), "d (71) stays");
        assert!(
            l.hit("a", limit, 75).await.is_ok(),
            "a was evicted and starts afresh"
        );
    }

    #[tokio::test]
    async fn a_flood_keeps_table_and_queue_bounded() {
        let max = 100;
        let l = MemoryRateLimiter::with_max_keys(max);
        let limit = RateLimit::new(3, Duration::from_secs(60));
        for i in 0..10 * max {
            l.hit(&format!("flood {i}"), limit, 0).await.unwrap();
            assert!(l.len() <= max);
            assert!(l.queue_len() <= 2 * max + 1, "queue {}", l.queue_len());
        }
        assert_eq!(l.len(), max);
        // The newest keys survived the flood, the first ones did not.
        assert!(
            l.hit(&format!("flood {}", 10 * max - 1), limit, 1)
                .await
                .is_ok()
        );
        assert!(l.hit("flood 0", limit, 1).await.is_ok());
        assert!(l.hit("flood 0", limit, 1).await.is_ok());
        assert!(l.hit("flood 0", limit, 1).await.is_ok());
        assert!(l.hit("flood 0", limit, 1).await.is_err());
    }

    #[tokio::test]
    async fn renewed_windows_do_not_grow_the_queue() {
        let max = 100;
        let l = MemoryRateLimiter::with_max_keys(max);
        let limit = RateLimit::new(3, Duration::from_secs(60));
        // Every round renews every key's window, leaving one stale pair per key behind.
        for round in 0..50 {
            for i in 0..max {
                l.hit(&i.to_string(), limit, round * 61).await.unwrap();
                assert!(l.queue_len() <= 2 * max + 1, "queue {}", l.queue_len());
            }
        }
        assert_eq!(l.len(), max);
    }

    #[tokio::test]
    async fn one_key_table() {
        let l = MemoryRateLimiter::with_max_keys(0);
        let limit = RateLimit::new(1, Duration::from_secs(60));
        l.hit("a", limit, 0).await.unwrap();
        l.hit("b", limit, 0).await.unwrap();
        assert_eq!(l.len(), 1);
        l.hit("a", limit, 0).await.unwrap();
        assert!(l.hit("a", limit, 0).await.is_err());
    }

    #[test]
    fn client_buckets() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_bucket(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_bucket(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_bucket(ip("::1")), ip("::"));
        assert_eq!(client_bucket(ip("fe80::1")), ip("fe80::"));
    }

    #[tokio::test]
    async fn expired_windows_are_swept() {
        let l = MemoryRateLimiter::new();
        let limit = RateLimit::new(5, Duration::from_secs(60));
        for i in 0..(SWEEP_ABOVE + 1) {
            l.hit(&i.to_string(), limit, 0).await.unwrap();
        }
        l.hit("later", limit, 61).await.unwrap();
        assert_eq!(l.len(), 1);
        // The swept keys' queue pairs went stale and were compacted away.
        assert!(
            l.queue_len() <= 2 * COMPACT_ABOVE,
            "queue {}",
            l.queue_len()
        );
    }
}
