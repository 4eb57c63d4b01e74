//! [`MemoryStore`]: every storage trait in the process, behind one mutex.
//!
//! For tests, examples and single-process hosts that accept losing state on restart. Each call
//! takes the mutex once and never holds it across an `.await`, which makes every operation
//! atomic, refresh- and reset-token consumption included.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::*;

/// The in-process store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: Vec<User>,
    sessions: HashMap<String, Session>,
    refresh: HashMap<TokenHash, RefreshRecord>,
    api_keys: Vec<ApiKeyRecord>,
    resets: HashMap<TokenHash, (i64, i64, bool)>,
    revocations: Vec<Revocation>,
    keys: Vec<StoredKey>,
    secrets: HashMap<String, Vec<u8>>,
}

impl State {
    fn append_revocations(&mut self, session_ids: &[String], until: i64) {
        for id in session_ids {
            let cursor = self.revocations.last().map_or(1, |r| r.cursor + 1);
            self.revocations.push(Revocation {
                cursor,
                session_id: id.clone(),
                until,
            });
        }
    }

    fn revoke_user_sessions(&mut self, user_id: i64, now: i64) -> Vec<String> {
        let mut ids: Vec<String> = self
            .sessions
            .values_mut()
            .filter(|sess| sess.user_id == user_id && sess.revoked_at.is_none())
            .map(|sess| {
                sess.revoked_at = Some(now);
                sess.id.clone()
            })
            .collect();
        ids.sort();
        ids
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written record (each critical
        // section is a few assignments), so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut s = self.lock();
        if s.users.iter().any(|u| u.email == user.email) {
            return Err(StoreError::Conflict);
        }
        let id = s.users.last().map_or(1, |u| u.id + 1);
        let user = user.into_user(id);
        s.users.push(user.clone());
        Ok(user)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users.iter().find(|u| u.email == email).cloned())
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        Ok(self.lock().users.iter().find(|u| u.id == id).cloned())
    }

    async fn list_users(&self, org: Option<&str>) -> StoreResult<Vec<User>> {
        Ok(self
            .lock()
            .users
            .iter()
            .filter(|u| u.org.as_deref() == org)
            .cloned()
            .collect())
    }

    async fn replace_password_hash(&self, id: i64, expected: &str, new: &str) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.users.iter_mut().find(|u| u.id == id) {
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
        let Some(user) = s.users.iter_mut().find(|u| u.id == id) else {
            return Ok(None);
        };
        match change {
            UserChange::Role(role) => user.role = role,
            UserChange::PasswordHash(hash) => user.password_hash = hash,
        }
        let ended = s.revoke_user_sessions(id, now);
        s.append_revocations(&ended, refused_until);
        Ok(Some(ended))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: Session, first: RefreshRecord) -> StoreResult<()> {
        let mut s = self.lock();
        if s.sessions.contains_key(&session.id) || s.refresh.contains_key(&first.hash) {
            return Err(StoreError::Conflict);
        }
        s.refresh.insert(first.hash, first);
        s.sessions.insert(session.id.clone(), session);
        Ok(())
    }

    async fn consume_refresh(&self, hash: &TokenHash, now: i64) -> StoreResult<Consumed> {
        let mut s = self.lock();
        let State {
            sessions, refresh, ..
        } = &mut *s;
        let Some(record) = refresh.get_mut(hash) else {
            return Ok(Consumed::Invalid);
        };
        let live = sessions
            .get(&record.session_id)
            .is_some_and(|sess| sess.revoked_at.is_none());
        if !live || record.expires_at <= now {
            return Ok(Consumed::Invalid);
        }
        if record.spent_at.is_some() {
            return Ok(Consumed::AlreadySpent(record.clone()));
        }
        record.spent_at = Some(now);
        Ok(Consumed::Spent(record.clone()))
    }

    async fn insert_refresh(&self, record: RefreshRecord) -> StoreResult<bool> {
        let mut s = self.lock();
        let live = s
            .sessions
            .get(&record.session_id)
            .is_some_and(|sess| sess.revoked_at.is_none());
        if !live {
            return Ok(false);
        }
        s.refresh.entry(record.hash).or_insert(record);
        Ok(true)
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.sessions.get_mut(id) {
            Some(sess) if sess.revoked_at.is_none() => {
                sess.revoked_at = Some(now);
                true
            }
            _ => false,
        })
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut s = self.lock();
        if s.api_keys.iter().any(|k| k.hash == key.hash) {
            return Err(StoreError::Conflict);
        }
        let id = s.api_keys.last().map_or(1, |k| k.id + 1);
        let record = key.into_record(id);
        s.api_keys.push(record.clone());
        Ok(record)
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self
            .lock()
            .api_keys
            .iter()
            .find(|k| k.hash == *hash)
            .cloned())
    }

    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(self
            .lock()
            .api_keys
            .iter()
            .filter(|k| k.org.as_deref() == org)
            .cloned()
            .collect())
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.lock().api_keys.iter().find(|k| k.id == id).cloned())
    }

    async fn revoke_api_key(&self, id: i64, now: i64) -> StoreResult<bool> {
        let mut s = self.lock();
        Ok(match s.api_keys.iter_mut().find(|k| k.id == id) {
            Some(k) if k.revoked_at.is_none() => {
                k.revoked_at = Some(now);
                true
            }
            _ => false,
        })
    }

    async fn touch_api_key(&self, id: i64, now: i64) -> StoreResult<()> {
        if let Some(k) = self.lock().api_keys.iter_mut().find(|k| k.id == id) {
            k.last_used_at = Some(now);
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
            .resets
            .insert(*hash, (user_id, expires_at, false));
        Ok(())
    }

    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(match self.lock().resets.get(hash) {
            Some(&(user_id, expires_at, used)) if !used && expires_at > now => Some(user_id),
            _ => None,
        })
    }

    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        let mut s = self.lock();
        let user_id = match s.resets.get(hash) {
            Some(&(user_id, expires_at, used)) if !used && expires_at > now => user_id,
            _ => return Ok(None),
        };
        for (owner, _, used) in s.resets.values_mut() {
            if *owner == user_id {
                *used = true;
            }
        }
        Ok(Some(user_id))
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn append_revocations(&self, session_ids: &[String], until: i64) -> StoreResult<()> {
        self.lock().append_revocations(session_ids, until);
        Ok(())
    }

    async fn revocations_since(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<Revocation>> {
        let limit = usize::try_from(limit).unwrap_or(0);
        Ok(self
            .lock()
            .revocations
            .iter()
            .filter(|r| r.cursor > cursor && r.until > now)
            .take(limit)
            .cloned()
            .collect())
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
