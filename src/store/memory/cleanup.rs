//! [`CleanupStore`] on [`MemoryStore`]: each batch under the store's one lock, like every call.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{CleanupStore, Expired, StoreResult};

#[async_trait]
impl CleanupStore for MemoryStore {
    async fn delete_expired(&self, kind: Expired, now: i64, limit: u32) -> StoreResult<u64> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut s = self.lock();
        let deleted = match kind {
            Expired::RefreshTokens => s.sessions.purge_refresh(now, limit),
            Expired::Sessions => s.sessions.purge_sessions(now, limit),
            Expired::ResetTokens => s.resets.purge(now, limit),
            Expired::VerificationTokens => s.verifications.purge(now, limit),
            Expired::Revocations => s.revocations.purge(now, limit),
        };
        Ok(deleted as u64)
    }

    async fn count_rows(&self, kind: Expired) -> StoreResult<u64> {
        let s = self.lock();
        let (sessions, refresh_tokens) = s.sessions.counts();
        let rows = match kind {
            Expired::RefreshTokens => refresh_tokens,
            Expired::Sessions => sessions,
            Expired::ResetTokens => s.resets.len(),
            Expired::VerificationTokens => s.verifications.len(),
            Expired::Revocations => s.revocations.len(),
        };
        Ok(rows as u64)
    }
}
