//! Rate limiting for login and forgot-password.
//!
//! [`RateLimiter`] is pluggable (a host with several instances can back it with a shared store);
//! [`MemoryRateLimiter`] counts in fixed windows in the process.

use std::collections::HashMap;
use std::fmt;
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

/// Fixed-window counters in memory. Stale windows are pruned as the map grows.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    len: i64,
    count: u32,
}

const PRUNE_ABOVE: usize = 10_000;

impl MemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration> {
        let len = crate::clock::secs(limit.window).max(1);
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, w| now < w.start + w.len);
        }
        let w = map.entry(key.to_owned()).or_insert(Window {
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
}
