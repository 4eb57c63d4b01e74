//! Rate limiting for login, registration and forgot-password.
//!
//! [`RateLimiter`] is pluggable (a host with several instances can back it with a shared store);
//! [`MemoryRateLimiter`] counts in fixed windows in the process.
//!
//! The service checks the per-client limit first and counts an account only for requests that
//! passed it, so a client already refused cannot grow the table with made-up emails.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::RateLimit;

/// Counts attempts per key.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Records an attempt under `key` at `now`; `Err(retry_after)` if `limit` is exceeded.
    async fn hit(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration>;
}

/// Fixed-window counters in memory, bounded in size.
///
/// Keys are kept as 64-bit keyed hashes (SipHash with a per-process random key, so nobody can
/// aim collisions), which bounds an entry at a few dozen bytes whatever the key's length.
/// Expired windows are swept at most once a second once the table passes 10 000 entries; if it
/// still holds `max_keys` entries, attempts under new keys are refused (429) until windows
/// expire, rather than letting memory grow without bound.
pub struct MemoryRateLimiter {
    state: Mutex<State>,
    hasher: std::collections::hash_map::RandomState,
    max_keys: usize,
}

#[derive(Default)]
struct State {
    windows: HashMap<u64, Window>,
    last_sweep: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    len: i64,
    count: u32,
}

const SWEEP_ABOVE: usize = 10_000;

impl MemoryRateLimiter {
    /// An empty limiter holding at most one million keys.
    pub fn new() -> Self {
        Self::with_max_keys(1_000_000)
    }

    /// An empty limiter holding at most `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hasher: std::collections::hash_map::RandomState::new(),
            max_keys: max_keys.max(1),
        }
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .windows
            .len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.windows.len() > SWEEP_ABOVE && now > state.last_sweep {
            state.last_sweep = now;
            state.windows.retain(|_, w| now < w.start + w.len);
        }
        if !state.windows.contains_key(&id) && state.windows.len() >= self.max_keys {
            return Err(Duration::from_secs(1));
        }
        let w = state.windows.entry(id).or_insert(Window {
            start: now,
            len,
            count: 0,
        });
        if now >= w.start + w.len {
            *w = Window {
                start: now,
                len,
                count: 0,
            };
        }
        if w.count >= limit.max {
            let wait = (w.start + w.len - now).max(1);
            return Err(Duration::from_secs(u64::try_from(wait).unwrap_or(1)));
        }
        w.count += 1;
        Ok(())
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
        // A full table refuses new keys but still serves known ones.
        assert!(l.hit("new key", limit, 1).await.is_err());
        l.hit(&format!("{huge}7"), limit, 1).await.unwrap();
        assert_eq!(l.len(), 100);
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
    }
}
