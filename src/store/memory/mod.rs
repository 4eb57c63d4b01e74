//! [`MemoryStore`]: every storage trait in the process, behind one mutex.
//!
//! For tests, examples and single-process hosts that accept losing state on restart. Each call
//! takes the mutex once and never holds it across an `.await`, which makes every operation
//! atomic, refresh-, reset- and verification-token consumption included, and so is the removal of
//! a user with everything that belongs to them.
//!
//! A session, API key, reset or verification token of a user this store deleted is refused with
//! [`StoreError::Backend`], as a foreign key refuses it. Unlike the SQL stores, it does not check
//! user ids it never handed out.
//!
//! # Cost
//!
//! No call scans a table. Every record is held in a hash map by its key, beside the indexes its
//! lookups need (in `tables`): users by id, email and organization; API keys by id, hash,
//! organization and creator; sessions by id and user; refresh tokens by hash and session; reset
//! and verification tokens by hash and user. A lookup by key is O(1), a listing O(result),
//! listing, ending or removing a user's sessions O(that user's sessions), and reading the
//! revocation log by cursor a binary search. Signing keys and server secrets stay a plain list
//! and map: a store holds a handful of signing keys (the signer and the keys retiring behind it)
//! and a few named secrets, by design.
//!
//! The one exception is [`CleanupStore`]: a purge batch walks the table it cleans (up to the rows
//! it deletes, or the whole table when fewer are left), under the lock like every call. It runs
//! off the request path, in the janitor or when the host calls it.

mod cleanup;
mod tables;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use self::tables::{ApiKeys, ResetTokens, RevocationLog, Sessions, Users};
use super::*;

/// The in-process store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: Users,
    sessions: Sessions,
    api_keys: ApiKeys,
    resets: ResetTokens,
    /// Email-verification tokens: the same rules as reset tokens (spending one spends the user's
    /// others), and spending one marks the address verified.
    verifications: ResetTokens,
    revocations: RevocationLog,
    /// A handful by design (the signer and the keys retiring behind it): a list is the index.
    keys: Vec<StoredKey>,
    secrets: HashMap<String, Vec<u8>>,
}

/// A record of a user this store has deleted: refused, as the SQL stores' foreign keys refuse it.
#[derive(Debug, thiserror::Error)]
#[error("the user has been deleted")]
struct DeletedUser;

fn deleted_user() -> StoreError {
    StoreError::backend(DeletedUser)
}

impl State {
    /// Stores a pending single-use token of `user_id` in `table` (reset or verification tokens);
    /// a user this store deleted is refused.
    fn insert_token(
        &mut self,
        table: fn(&mut State) -> &mut ResetTokens,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        if self.users.was_deleted(user_id) {
            return Err(deleted_user());
        }
        table(self).insert(*hash, user_id, expires_at);
        Ok(())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No critical section can panic (see `tables`), so a poisoned lock (a panic elsewhere in
        // the thread that held it) still guards whole tables and is safe to reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.lock().users.insert(user)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users.by_email(email).cloned())
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn list_users(&self, org: Option<&str>) -> StoreResult<Vec<User>> {
        Ok(self.lock().users.list(org))
    }

    async fn replace_password_hash(&self, id: i64, expected: &str, new: &str) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.users.get_mut(id) {
            Some(u) if u.password_hash == expected => {
                u.password_hash = new.to_owned();
                true
            }
            _ => false,
        })
    }

    async fn update_user_ending_sessions(
        &self,
        id: i64,
        change: UserChange,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // One lock for the three writes: nobody sees one without the others.
        let mut s = self.lock();
        let Some(user) = s.users.get_mut(id) else {
            return Ok(None);
        };
        match change {
            UserChange::Role(role) => user.role = role,
            UserChange::PasswordHash(hash) => {
                user.password_hash = hash;
                user.email_verified = true;
            }
        }
        let ended = s.sessions.revoke_user(id, now);
        s.revocations.append(&ended, refused_until);
        s.revocations
            .append(&[user_change_entry(id)], refused_until);
        Ok(Some(ended))
    }

    async fn delete_user_ending_sessions(
        &self,
        id: i64,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // One lock for the whole removal, as one transaction: nobody sees part of it.
        let mut s = self.lock();
        if s.users.get(id).is_none() {
            return Ok(None);
        }
        let ended = s.sessions.revoke_user(id, now);
        s.revocations.append(&ended, refused_until);
        s.revocations
            .append(&[user_change_entry(id)], refused_until);
        s.sessions.remove_user(id);
        s.resets.remove_user(id);
        s.verifications.remove_user(id);
        s.api_keys.remove_created_by(id);
        s.users.remove(id);
        Ok(Some(ended))
    }

    async fn change_password_ending_sessions(
        &self,
        id: i64,
        expected: &str,
        new: &str,
        keep: Option<&str>,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // One lock for the compare, the write and the ends: one transaction.
        let mut s = self.lock();
        match s.users.get_mut(id) {
            Some(u) if u.password_hash == expected => u.password_hash = new.to_owned(),
            _ => return Ok(None),
        }
        let ended = s.sessions.revoke_user_except(id, keep, now);
        s.revocations.append(&ended, refused_until);
        s.revocations
            .append(&[user_change_entry(id)], refused_until);
        Ok(Some(ended))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: Session, first: RefreshRecord) -> StoreResult<()> {
        let mut s = self.lock();
        if s.users.was_deleted(session.user_id) {
            return Err(deleted_user());
        }
        s.sessions.insert(session, first)
    }

    async fn consume_refresh(&self, hash: &TokenHash, now: i64) -> StoreResult<Consumed> {
        Ok(self.lock().sessions.consume_refresh(hash, now))
    }

    async fn insert_refresh(&self, record: RefreshRecord) -> StoreResult<bool> {
        Ok(self.lock().sessions.insert_refresh(record))
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(self.lock().sessions.revoke(id, now))
    }

    async fn sessions_of_user(&self, user_id: i64) -> StoreResult<Vec<Session>> {
        Ok(self.lock().sessions.live_of_user(user_id))
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut s = self.lock();
        if s.users.was_deleted(key.created_by) {
            return Err(deleted_user());
        }
        s.api_keys.insert(key)
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.lock().api_keys.by_hash(hash).cloned())
    }

    async fn api_key_with_creator(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<ApiKeyWithCreator>> {
        // Both lookups under one lock: one consistent view, as one SQL statement gives.
        let s = self.lock();
        let Some(key) = s.api_keys.by_hash(hash) else {
            return Ok(None);
        };
        let creator_role = s.users.get(key.created_by).map(|u| u.role.clone());
        Ok(Some(ApiKeyWithCreator::new(key.clone(), creator_role)))
    }

    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(self.lock().api_keys.list(org))
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.lock().api_keys.get(id).cloned())
    }

    async fn revoke_api_key(&self, id: i64, now: i64, refused_until: i64) -> StoreResult<bool> {
        let mut s = self.lock();
        match s.api_keys.get_mut(id) {
            Some(k) if k.revoked_at.is_none() => k.revoked_at = Some(now),
            _ => return Ok(false),
        }
        s.revocations
            .append(&[api_key_change_entry(id)], refused_until);
        Ok(true)
    }

    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> StoreResult<()> {
        let mut s = self.lock();
        for &(id, at) in uses {
            if let Some(k) = s.api_keys.get_mut(id) {
                // `None` is below every time: the later of the two.
                k.last_used_at = k.last_used_at.max(Some(at));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResetTokenStore for MemoryStore {
    async fn create_reset_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.lock()
            .insert_token(|s| &mut s.resets, hash, user_id, expires_at)
    }

    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(self.lock().resets.user(hash, now))
    }

    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(self.lock().resets.consume(hash, now))
    }
}

#[async_trait]
impl VerificationTokenStore for MemoryStore {
    async fn create_verification_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.lock()
            .insert_token(|s| &mut s.verifications, hash, user_id, expires_at)
    }

    async fn consume_verification_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        // The spend and the mark under one lock: nobody sees one without the other.
        let mut s = self.lock();
        let Some(user_id) = s.verifications.consume(hash, now) else {
            return Ok(None);
        };
        if let Some(user) = s.users.get_mut(user_id) {
            user.email_verified = true;
        }
        Ok(Some(user_id))
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn append_revocations(&self, session_ids: &[String], until: i64) -> StoreResult<()> {
        self.lock().revocations.append(session_ids, until);
        Ok(())
    }

    async fn revocations_since(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<Revocation>> {
        Ok(self.lock().revocations.since(cursor, now, limit))
    }
}

#[async_trait]
impl SigningKeyStore for MemoryStore {
    async fn insert_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        let mut s = self.lock();
        if !s.keys.iter().any(|k| k.kid == key.kid) {
            s.keys.push(key);
        }
        Ok(s.keys.clone())
    }

    async fn insert_first_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        let mut s = self.lock();
        if s.keys.is_empty() {
            s.keys.push(key);
        }
        Ok(s.keys.clone())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(self.lock().keys.clone())
    }

    async fn reseal_signing_key(
        &self,
        kid: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.keys.iter_mut().find(|k| k.kid == kid) {
            Some(k) if k.material == expected => {
                k.material = material.to_vec();
                true
            }
            _ => false,
        })
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let mut s = self.lock();
        let before = s.keys.len();
        s.keys.retain(|k| k.kid != kid);
        Ok(s.keys.len() < before)
    }

    async fn insert_secret(&self, name: &str, material: &[u8], _now: i64) -> StoreResult<Vec<u8>> {
        let mut s = self.lock();
        Ok(s.secrets
            .entry(name.to_owned())
            .or_insert_with(|| material.to_vec())
            .clone())
    }

    async fn reseal_secret(
        &self,
        name: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.secrets.get_mut(name) {
            Some(m) if m.as_slice() == expected => {
                *m = material.to_vec();
                true
            }
            _ => false,
        })
    }
}
