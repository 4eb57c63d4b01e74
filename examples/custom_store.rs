//! A store written by a host, from scratch, and the one macro call that proves it keeps every
//! contract the service relies on.
//!
//! `TinyStore` keeps everything in plain collections behind one `std::sync::Mutex`. Each method
//! takes the lock once and never holds it across an `.await`, so every call is one atomic step:
//! that is how it keeps the compare-and-set and "one transaction" promises the storage traits
//! document (a database-backed store keeps them with conditional `UPDATE`s and transactions).
//!
//! Run the conformance suite against it (the feature brings in
//! `assimetria_auth::store_conformance_tests!`), then the example, which plugs it into a service:
//!
//! ```text
//! cargo test --example custom_store --features test-util
//! cargo run --example custom_store --features test-util
//! ```
//!
//! A store of your own needs, besides this crate: `async-trait` (the traits are
//! `#[async_trait]`), and for its tests tokio with `macros` and `rt-multi-thread`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use assimetria_auth::error::StoreError;
use assimetria_auth::store::{
    ApiKeyRecord, ApiKeyStore, ApiKeyWithCreator, CleanupStore, Consumed, Expired, NewApiKey,
    NewUser, RefreshRecord, ResetTokenStore, Revocation, RevocationStore, Session, SessionStore,
    SigningKeyStore, StoreResult, StoredKey, TokenHash, User, UserChange, UserStore,
    VerificationTokenStore, api_key_change_entry, user_change_entry,
};
use assimetria_auth::{AuthConfig, AuthService, MasterKey, Password};
use async_trait::async_trait;

/// Every table of the store.
#[derive(Default)]
struct Tables {
    /// The last user id handed out: ids increase and are never reused, even after a removal.
    last_user_id: i64,
    /// The last API key id handed out.
    last_key_id: i64,
    users: Vec<User>,
    sessions: HashMap<String, Session>,
    refresh_tokens: HashMap<TokenHash, RefreshRecord>,
    api_keys: Vec<ApiKeyRecord>,
    /// Reset token hash -> (user id, expiry, spent).
    reset_tokens: Tokens,
    /// Verification token hash -> (user id, expiry, spent): kept apart from the reset tokens, so
    /// that one kind never passes for the other.
    verification_tokens: Tokens,
    revocations: Vec<Revocation>,
    /// The last revocation cursor handed out: never reused, even once old entries are purged.
    last_cursor: i64,
    signing_keys: Vec<StoredKey>,
    secrets: HashMap<String, Vec<u8>>,
}

/// Single-use tokens by hash -> (user id, expiry, spent): the reset tokens, and apart from them
/// the verification tokens, which follow the same rules. A new token is `(user, expiry, false)`.
type Tokens = HashMap<TokenHash, (i64, i64, bool)>;

/// The user of a pending (unspent, unexpired) token.
fn pending_user(tokens: &Tokens, hash: &TokenHash, now: i64) -> Option<i64> {
    match tokens.get(hash) {
        Some(&(user, expires, false)) if expires > now => Some(user),
        _ => None,
    }
}

/// Spends a pending token and, in the same step, every other pending token of its user.
fn spend_token(tokens: &mut Tokens, hash: &TokenHash, now: i64) -> Option<i64> {
    let user = pending_user(tokens, hash, now)?;
    for (owner, _, spent) in tokens.values_mut() {
        *spent |= *owner == user;
    }
    Some(user)
}

impl Tables {
    fn user_exists(&self, id: i64) -> bool {
        self.users.iter().any(|u| u.id == id)
    }

    fn session_is_live(&self, id: &str) -> bool {
        self.sessions
            .get(id)
            .is_some_and(|s| s.revoked_at.is_none())
    }

    /// Ends the user's live sessions but `keep` and logs them; their ids, sorted.
    fn end_sessions(
        &mut self,
        user: i64,
        keep: Option<&str>,
        now: i64,
        refused_until: i64,
    ) -> Vec<String> {
        let mut ended = Vec::new();
        for session in self.sessions.values_mut() {
            let kept = Some(session.id.as_str()) == keep;
            if session.user_id == user && session.revoked_at.is_none() && !kept {
                session.revoked_at = Some(now);
                ended.push(session.id.clone());
            }
        }
        ended.sort();
        self.log_revocations(&ended, refused_until);
        // Then the user's own entry: other instances read the user's API keys again.
        self.log_revocations(&[user_change_entry(user)], refused_until);
        ended
    }

    fn log_revocations(&mut self, session_ids: &[String], until: i64) {
        for id in session_ids {
            self.last_cursor += 1;
            let (cursor, session_id) = (self.last_cursor, id.clone());
            self.revocations.push(Revocation {
                cursor,
                session_id,
                until,
            });
        }
    }
}

/// A host's own store.
#[derive(Default)]
struct TinyStore(Mutex<Tables>);

impl TinyStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        // Every critical section leaves the tables whole, so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl UserStore for TinyStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut t = self.tables();
        if t.users.iter().any(|u| u.email == user.email) {
            return Err(StoreError::Conflict);
        }
        t.last_user_id += 1;
        let user = user.into_user(t.last_user_id);
        t.users.push(user.clone());
        Ok(user)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(first(&self.tables().users, |u| u.email == email))
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        Ok(first(&self.tables().users, |u| u.id == id))
    }

    async fn list_users(&self, org: Option<&str>) -> StoreResult<Vec<User>> {
        Ok(all(&self.tables().users, |u| u.org.as_deref() == org))
    }

    async fn replace_password_hash(&self, id: i64, expected: &str, new: &str) -> StoreResult<bool> {
        // Compare-and-set: the check and the write under one lock.
        let mut t = self.tables();
        let Some(user) = t.users.iter_mut().find(|u| u.id == id) else {
            return Ok(false);
        };
        if user.password_hash != expected {
            return Ok(false);
        }
        user.password_hash = new.to_owned();
        Ok(true)
    }

    async fn update_user_ending_sessions(
        &self,
        id: i64,
        change: UserChange,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // The change, the ended sessions and their log entries: all under one lock.
        let mut t = self.tables();
        let Some(user) = t.users.iter_mut().find(|u| u.id == id) else {
            return Ok(None);
        };
        match change {
            UserChange::Role(role) => user.role = role,
            // A reset: the mailed link reached the user, so the address is verified too.
            UserChange::PasswordHash(hash) => {
                user.password_hash = hash;
                user.email_verified = true;
            }
            // `UserChange` may grow: refuse what this store was not written for.
            _ => return Err(StoreError::Backend("unsupported user change".into())),
        }
        let ended = t.end_sessions(id, None, now, refused_until);
        Ok(Some(ended))
    }

    async fn delete_user_ending_sessions(
        &self,
        id: i64,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // The whole removal under one lock: nobody sees the user half gone.
        let mut t = self.tables();
        if !t.user_exists(id) {
            return Ok(None);
        }
        let ended = t.end_sessions(id, None, now, refused_until);
        t.refresh_tokens.retain(|_, r| r.user_id != id);
        t.sessions.retain(|_, s| s.user_id != id);
        t.reset_tokens.retain(|_, &mut (user, _, _)| user != id);
        t.verification_tokens
            .retain(|_, &mut (user, _, _)| user != id);
        t.api_keys.retain(|k| k.created_by != id);
        t.users.retain(|u| u.id != id);
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
        // Compare-and-set, the ended sessions and their log entries: all under one lock.
        let mut t = self.tables();
        match t.users.iter_mut().find(|u| u.id == id) {
            Some(user) if user.password_hash == expected => user.password_hash = new.to_owned(),
            _ => return Ok(None),
        }
        let ended = t.end_sessions(id, keep, now, refused_until);
        Ok(Some(ended))
    }
}

#[async_trait]
impl SessionStore for TinyStore {
    async fn create_session(&self, session: Session, first: RefreshRecord) -> StoreResult<()> {
        let mut t = self.tables();
        if !t.user_exists(session.user_id) {
            return Err(StoreError::Backend("no such user".into()));
        }
        if t.sessions.contains_key(&session.id) || t.refresh_tokens.contains_key(&first.hash) {
            return Err(StoreError::Conflict);
        }
        t.refresh_tokens.insert(first.hash, first);
        t.sessions.insert(session.id.clone(), session);
        Ok(())
    }

    async fn consume_refresh(&self, hash: &TokenHash, now: i64) -> StoreResult<Consumed> {
        let mut t = self.tables();
        let Some(record) = t.refresh_tokens.get(hash) else {
            return Ok(Consumed::Invalid);
        };
        if record.expires_at <= now || !t.session_is_live(&record.session_id) {
            return Ok(Consumed::Invalid);
        }
        let record = t.refresh_tokens.get_mut(hash).expect("looked up above");
        if record.spent_at.is_some() {
            return Ok(Consumed::AlreadySpent(record.clone()));
        }
        record.spent_at = Some(now);
        Ok(Consumed::Spent(record.clone()))
    }

    async fn insert_refresh(&self, record: RefreshRecord) -> StoreResult<bool> {
        // The session's last use and the token under one lock; nothing for an ended session.
        let mut t = self.tables();
        match t.sessions.get_mut(&record.session_id) {
            Some(session) if session.revoked_at.is_none() => {
                session.last_used_at = session.last_used_at.max(record.issued_at);
            }
            _ => return Ok(false),
        }
        t.refresh_tokens.entry(record.hash).or_insert(record);
        Ok(true)
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        let mut t = self.tables();
        match t.sessions.get_mut(id) {
            Some(session) if session.revoked_at.is_none() => {
                session.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn sessions_of_user(&self, user_id: i64) -> StoreResult<Vec<Session>> {
        // A scan: fine for a tiny store; a real one keeps an index of sessions by user.
        let t = self.tables();
        let mut live: Vec<Session> = t
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none())
            .cloned()
            .collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }
}

#[async_trait]
impl ApiKeyStore for TinyStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut t = self.tables();
        if t.api_keys.iter().any(|k| k.hash == key.hash) {
            return Err(StoreError::Conflict);
        }
        // Like a foreign key: no key of a user who is not there (or was just removed).
        if !t.user_exists(key.created_by) {
            return Err(StoreError::Backend("no such user".into()));
        }
        t.last_key_id += 1;
        let record = key.into_record(t.last_key_id);
        t.api_keys.push(record.clone());
        Ok(record)
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(first(&self.tables().api_keys, |k| k.hash == *hash))
    }

    async fn api_key_with_creator(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<ApiKeyWithCreator>> {
        // The key and its creator under one lock: one consistent view.
        let t = self.tables();
        let Some(key) = first(&t.api_keys, |k| k.hash == *hash) else {
            return Ok(None);
        };
        let creator = first(&t.users, |u| u.id == key.created_by);
        Ok(Some(ApiKeyWithCreator::new(key, creator.map(|u| u.role))))
    }

    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(all(&self.tables().api_keys, |k| k.org.as_deref() == org))
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(first(&self.tables().api_keys, |k| k.id == id))
    }

    async fn revoke_api_key(&self, id: i64, now: i64, refused_until: i64) -> StoreResult<bool> {
        // The revocation and its log entry under one lock.
        let mut t = self.tables();
        match t.api_keys.iter_mut().find(|k| k.id == id) {
            Some(key) if key.revoked_at.is_none() => key.revoked_at = Some(now),
            _ => return Ok(false),
        }
        t.log_revocations(&[api_key_change_entry(id)], refused_until);
        Ok(true)
    }

    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> StoreResult<()> {
        // The whole batch under one lock; a use never moves `last_used_at` back.
        let mut t = self.tables();
        for &(id, at) in uses {
            if let Some(key) = t.api_keys.iter_mut().find(|k| k.id == id) {
                key.last_used_at = key.last_used_at.max(Some(at));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResetTokenStore for TinyStore {
    async fn create_reset_token(
        &self,
        hash: &TokenHash,
        user: i64,
        expires: i64,
    ) -> StoreResult<()> {
        let mut t = self.tables();
        if !t.user_exists(user) {
            return Err(StoreError::Backend("no such user".into()));
        }
        t.reset_tokens.insert(*hash, (user, expires, false));
        Ok(())
    }

    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(pending_user(&self.tables().reset_tokens, hash, now))
    }

    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(spend_token(&mut self.tables().reset_tokens, hash, now))
    }
}

#[async_trait]
impl VerificationTokenStore for TinyStore {
    async fn create_verification_token(
        &self,
        hash: &TokenHash,
        user: i64,
        expires: i64,
    ) -> StoreResult<()> {
        let mut t = self.tables();
        if !t.user_exists(user) {
            return Err(StoreError::Backend("no such user".into()));
        }
        t.verification_tokens.insert(*hash, (user, expires, false));
        Ok(())
    }

    async fn consume_verification_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        // The spend (of every pending token of the user) and the mark, in the same step.
        let mut t = self.tables();
        let Some(user) = spend_token(&mut t.verification_tokens, hash, now) else {
            return Ok(None);
        };
        if let Some(u) = t.users.iter_mut().find(|u| u.id == user) {
            u.email_verified = true;
        }
        Ok(Some(user))
    }
}

#[async_trait]
impl RevocationStore for TinyStore {
    async fn append_revocations(&self, session_ids: &[String], until: i64) -> StoreResult<()> {
        self.tables().log_revocations(session_ids, until);
        Ok(())
    }

    async fn revocations_since(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<Revocation>> {
        let t = self.tables();
        let in_force = t
            .revocations
            .iter()
            .filter(|r| r.cursor > cursor && r.until > now);
        Ok(in_force.take(limit.max(0) as usize).cloned().collect())
    }
}

#[async_trait]
impl SigningKeyStore for TinyStore {
    async fn insert_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        let mut t = self.tables();
        if t.signing_keys.iter().all(|k| k.kid != key.kid) {
            t.signing_keys.push(key);
        }
        Ok(t.signing_keys.clone())
    }

    async fn insert_first_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        let mut t = self.tables();
        if t.signing_keys.is_empty() {
            t.signing_keys.push(key);
        }
        Ok(t.signing_keys.clone())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(self.tables().signing_keys.clone())
    }

    async fn reseal_signing_key(&self, kid: &str, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let mut t = self.tables();
        let key = t.signing_keys.iter_mut().find(|k| k.kid == kid);
        Ok(compare_and_set(key.map(|k| &mut k.material), old, new))
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let mut t = self.tables();
        let before = t.signing_keys.len();
        t.signing_keys.retain(|k| k.kid != kid);
        Ok(t.signing_keys.len() < before)
    }

    async fn insert_secret(&self, name: &str, material: &[u8], _now: i64) -> StoreResult<Vec<u8>> {
        let mut t = self.tables();
        let stored = t
            .secrets
            .entry(name.to_owned())
            .or_insert_with(|| material.to_vec());
        Ok(stored.clone())
    }

    async fn reseal_secret(&self, name: &str, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let mut t = self.tables();
        Ok(compare_and_set(t.secrets.get_mut(name), old, new))
    }
}

/// Deletes rows that can no longer matter, each kind by the trait's rule, at most `limit` a call.
#[async_trait]
impl CleanupStore for TinyStore {
    async fn delete_expired(&self, kind: Expired, now: i64, limit: u32) -> StoreResult<u64> {
        let mut guard = self.tables();
        let (t, mut left) = (&mut *guard, limit);
        // Whether a row goes: it can no longer matter, and the batch has room left.
        let mut doomed = |gone: bool| gone && left.checked_sub(1).map(|l| left = l).is_some();
        let spent_or_expired = |&mut (_, exp, spent): &mut (i64, i64, bool)| spent || exp <= now;
        match kind {
            Expired::RefreshTokens => t.refresh_tokens.retain(|_, r| !doomed(r.expires_at <= now)),
            Expired::Sessions => {
                // Ended, or no token left that can still be spent: deleted with their tokens.
                let (sessions, tokens) = (&mut t.sessions, &mut t.refresh_tokens);
                let spendable = |id: &str| {
                    tokens
                        .values()
                        .any(|r| r.session_id == id && r.expires_at > now)
                };
                sessions.retain(|id, s| !doomed(s.revoked_at.is_some() || !spendable(id)));
                tokens.retain(|_, r| sessions.contains_key(&r.session_id));
            }
            Expired::ResetTokens => t.reset_tokens.retain(|_, v| !doomed(spent_or_expired(v))),
            Expired::VerificationTokens => t
                .verification_tokens
                .retain(|_, v| !doomed(spent_or_expired(v))),
            Expired::Revocations => t.revocations.retain(|r| !doomed(r.until <= now)),
            _ => {}
        }
        Ok(u64::from(limit - left))
    }

    async fn count_rows(&self, kind: Expired) -> StoreResult<u64> {
        let t = self.tables();
        Ok(match kind {
            Expired::RefreshTokens => t.refresh_tokens.len(),
            Expired::Sessions => t.sessions.len(),
            Expired::ResetTokens => t.reset_tokens.len(),
            Expired::VerificationTokens => t.verification_tokens.len(),
            Expired::Revocations => t.revocations.len(),
            _ => 0,
        } as u64)
    }
}

/// The first row that matches, copied out of the lock.
fn first<T: Clone>(rows: &[T], matches: impl Fn(&T) -> bool) -> Option<T> {
    rows.iter().find(|row| matches(row)).cloned()
}

/// Every row that matches, in order, copied out of the lock.
fn all<T: Clone>(rows: &[T], matches: impl Fn(&T) -> bool) -> Vec<T> {
    rows.iter().filter(|row| matches(row)).cloned().collect()
}

/// Replaces `slot` with `new` only if it holds `expected`.
fn compare_and_set(slot: Option<&mut Vec<u8>>, expected: &[u8], new: &[u8]) -> bool {
    match slot {
        Some(material) if material.as_slice() == expected => {
            *material = new.to_vec();
            true
        }
        _ => false,
    }
}

/// The store in use: an `AuthService` on it, and a user who signs up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), assimetria_auth::Error> {
    let config = AuthConfig::builder()
        .master_key(MasterKey::from_bytes([7; 32]))
        .build()?;
    let auth = AuthService::builder(config, Arc::new(TinyStore::default()))
        .build()
        .await?;
    let password = Password::new("correct horse battery");
    let login = auth.register("ada@example.com", &password, None).await?;
    let principal = auth.authenticate(login.access_token.expose()).await?;
    println!("signed up user {} on TinyStore", principal.user_id);
    Ok(())
}

/// The whole conformance suite, one test per case: `cargo test --example custom_store
/// --features test-util`.
#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use assimetria_auth::store::Store;

    assimetria_auth::store_conformance_tests!(|| async {
        Arc::new(super::TinyStore::default()) as Arc<dyn Store>
    });
}
