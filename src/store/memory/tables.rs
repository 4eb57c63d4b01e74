//! The memory store's tables: each kind of record with the indexes its lookups need, written only
//! through the methods here, which keep every index in step with its table. No lookup scans a
//! table: a read by key is a hash lookup, a listing costs O(result). Only the purges (`purge*`,
//! for [`CleanupStore`](crate::store::CleanupStore)) walk a table.
//!
//! Ids come from counters, so that they increase and are never reused, even after a removal.
//!
//! No method here can panic (no indexing, no `unwrap`), so a caller holding the store's lock
//! never leaves a table and its indexes disagreeing.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::error::StoreError;
use crate::store::{
    ApiKeyRecord, Consumed, NewApiKey, NewUser, RefreshRecord, Revocation, Session, StoreResult,
    TokenHash, User,
};

/// Record ids per organization (`None`: records without one), in id order. Names are looked up
/// as `&str`, without allocating.
#[derive(Debug, Default)]
struct ByOrg {
    without: BTreeSet<i64>,
    named: HashMap<String, BTreeSet<i64>>,
}

impl ByOrg {
    fn insert(&mut self, org: Option<&str>, id: i64) {
        match org {
            None => self.without.insert(id),
            Some(name) => self.named.entry(name.to_owned()).or_default().insert(id),
        };
    }

    fn remove(&mut self, org: Option<&str>, id: i64) {
        match org {
            None => {
                self.without.remove(&id);
            }
            Some(name) => {
                if let Some(ids) = self.named.get_mut(name) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.named.remove(name);
                    }
                }
            }
        }
    }

    /// The ids of `org`, in id order.
    fn ids(&self, org: Option<&str>) -> impl Iterator<Item = i64> + '_ {
        let ids = match org {
            None => Some(&self.without),
            Some(name) => self.named.get(name),
        };
        ids.into_iter().flatten().copied()
    }
}

/// Users, by id, by email and by organization.
#[derive(Debug, Default)]
pub(super) struct Users {
    by_id: HashMap<i64, User>,
    id_by_email: HashMap<String, i64>,
    by_org: ByOrg,
    /// The last id handed out: ids increase and are never reused.
    last_id: i64,
}

impl Users {
    /// Stores a new user under the next id; a taken email is [`StoreError::Conflict`].
    pub(super) fn insert(&mut self, new: NewUser) -> StoreResult<User> {
        if self.id_by_email.contains_key(&new.email) {
            return Err(StoreError::Conflict);
        }
        self.last_id += 1;
        let user = new.into_user(self.last_id);
        self.id_by_email.insert(user.email.clone(), user.id);
        self.by_org.insert(user.org.as_deref(), user.id);
        self.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    pub(super) fn get(&self, id: i64) -> Option<&User> {
        self.by_id.get(&id)
    }

    /// The user, to change a field no index covers (role, password hash): never its email or
    /// organization.
    pub(super) fn get_mut(&mut self, id: i64) -> Option<&mut User> {
        self.by_id.get_mut(&id)
    }

    pub(super) fn by_email(&self, email: &str) -> Option<&User> {
        self.id_by_email
            .get(email)
            .and_then(|id| self.by_id.get(id))
    }

    /// An organization's users, by id.
    pub(super) fn list(&self, org: Option<&str>) -> Vec<User> {
        let users = self.by_org.ids(org).filter_map(|id| self.by_id.get(&id));
        users.cloned().collect()
    }

    /// Removes a user from the table and its indexes.
    pub(super) fn remove(&mut self, id: i64) -> Option<User> {
        let user = self.by_id.remove(&id)?;
        self.id_by_email.remove(&user.email);
        self.by_org.remove(user.org.as_deref(), id);
        Some(user)
    }

    /// Whether `id` was handed out and its user deleted since. (An id never handed out is not
    /// "deleted": the crate's own unit tests keep sessions of made-up users in a bare store.)
    pub(super) fn was_deleted(&self, id: i64) -> bool {
        (1..=self.last_id).contains(&id) && !self.by_id.contains_key(&id)
    }
}

/// Sessions by id and by user, and refresh tokens by hash and by session.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    by_id: HashMap<String, Session>,
    /// Every session of a user, ended ones included, in id order.
    by_user: HashMap<i64, BTreeSet<String>>,
    refresh: HashMap<TokenHash, RefreshRecord>,
    refresh_by_session: HashMap<String, Vec<TokenHash>>,
}

impl Sessions {
    /// How many sessions (ended ones included) and refresh tokens there are.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.by_id.len(), self.refresh.len())
    }

    /// Deletes at most `limit` refresh tokens past their own expiry, spent or not; how many.
    /// (A walk of the table: the memory store's purge runs off the request path.)
    pub(super) fn purge_refresh(&mut self, now: i64, limit: usize) -> usize {
        let doomed: Vec<TokenHash> = self
            .refresh
            .values()
            .filter(|r| r.expires_at <= now)
            .take(limit)
            .map(|r| r.hash)
            .collect();
        for hash in &doomed {
            if let Some(record) = self.refresh.remove(hash)
                && let Some(hashes) = self.refresh_by_session.get_mut(&record.session_id)
            {
                hashes.retain(|h| h != hash);
            }
        }
        doomed.len()
    }

    /// Deletes at most `limit` sessions that can no longer be refreshed (ended, or without a
    /// token that expires after `now`), with their tokens; how many sessions.
    pub(super) fn purge_sessions(&mut self, now: i64, limit: usize) -> usize {
        let refreshable = |id: &str| {
            let hashes = self.refresh_by_session.get(id).into_iter().flatten();
            hashes
                .filter_map(|h| self.refresh.get(h))
                .any(|r| r.expires_at > now)
        };
        let doomed: Vec<(String, i64)> = self
            .by_id
            .values()
            .filter(|s| s.revoked_at.is_some() || !refreshable(&s.id))
            .take(limit)
            .map(|s| (s.id.clone(), s.user_id))
            .collect();
        for (id, user_id) in &doomed {
            self.by_id.remove(id);
            if let Some(ids) = self.by_user.get_mut(user_id) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_user.remove(user_id);
                }
            }
            for hash in self.refresh_by_session.remove(id).unwrap_or_default() {
                self.refresh.remove(&hash);
            }
        }
        doomed.len()
    }

    /// Stores a session with its first token; a taken session id or token hash is
    /// [`StoreError::Conflict`] and stores nothing.
    pub(super) fn insert(&mut self, session: Session, first: RefreshRecord) -> StoreResult<()> {
        if self.by_id.contains_key(&session.id) || self.refresh.contains_key(&first.hash) {
            return Err(StoreError::Conflict);
        }
        self.refresh_by_session
            .insert(session.id.clone(), vec![first.hash]);
        self.refresh.insert(first.hash, first);
        self.by_user
            .entry(session.user_id)
            .or_default()
            .insert(session.id.clone());
        self.by_id.insert(session.id.clone(), session);
        Ok(())
    }

    /// Ends a live session; `false` if it is unknown or ended.
    pub(super) fn revoke(&mut self, id: &str, now: i64) -> bool {
        match self.by_id.get_mut(id) {
            Some(sess) if sess.revoked_at.is_none() => {
                sess.revoked_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Ends every live session of a user; their ids, sorted.
    pub(super) fn revoke_user(&mut self, user_id: i64, now: i64) -> Vec<String> {
        self.revoke_user_except(user_id, None, now)
    }

    /// Ends every live session of a user but `keep`; their ids, sorted.
    pub(super) fn revoke_user_except(
        &mut self,
        user_id: i64,
        keep: Option<&str>,
        now: i64,
    ) -> Vec<String> {
        let Some(ids) = self.by_user.get(&user_id) else {
            return Vec::new();
        };
        let mut ended = Vec::new();
        for id in ids {
            if Some(id.as_str()) == keep {
                continue;
            }
            if let Some(sess) = self.by_id.get_mut(id)
                && sess.revoked_at.is_none()
            {
                sess.revoked_at = Some(now);
                ended.push(id.clone());
            }
        }
        ended
    }

    /// The live sessions of a user, oldest first.
    pub(super) fn live_of_user(&self, user_id: i64) -> Vec<Session> {
        let ids = self.by_user.get(&user_id).into_iter().flatten();
        let mut live: Vec<Session> = ids
            .filter_map(|id| self.by_id.get(id))
            .filter(|sess| sess.revoked_at.is_none())
            .cloned()
            .collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        live
    }

    /// Deletes every session of a user, ended or not, with their refresh tokens.
    pub(super) fn remove_user(&mut self, user_id: i64) {
        for id in self.by_user.remove(&user_id).unwrap_or_default() {
            self.by_id.remove(&id);
            for hash in self.refresh_by_session.remove(&id).unwrap_or_default() {
                self.refresh.remove(&hash);
            }
        }
    }

    /// Spends a refresh token of a live session (see
    /// [`SessionStore::consume_refresh`](crate::store::SessionStore::consume_refresh)).
    pub(super) fn consume_refresh(&mut self, hash: &TokenHash, now: i64) -> Consumed {
        let Self { by_id, refresh, .. } = self;
        let Some(record) = refresh.get_mut(hash) else {
            return Consumed::Invalid;
        };
        let live = by_id
            .get(&record.session_id)
            .is_some_and(|sess| sess.revoked_at.is_none());
        if !live || record.expires_at <= now {
            return Consumed::Invalid;
        }
        if record.spent_at.is_some() {
            return Consumed::AlreadySpent(record.clone());
        }
        record.spent_at = Some(now);
        Consumed::Spent(record.clone())
    }

    /// Adds a token to a live session (an existing hash is left alone); `false` if the session
    /// is ended or unknown.
    pub(super) fn insert_refresh(&mut self, record: RefreshRecord) -> bool {
        match self.by_id.get_mut(&record.session_id) {
            Some(sess) if sess.revoked_at.is_none() => {
                sess.last_used_at = sess.last_used_at.max(record.issued_at);
            }
            _ => return false,
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.refresh.entry(record.hash) {
            self.refresh_by_session
                .entry(record.session_id.clone())
                .or_default()
                .push(record.hash);
            slot.insert(record);
        }
        true
    }
}

/// API keys by id, by hash, by organization and by creator.
#[derive(Debug, Default)]
pub(super) struct ApiKeys {
    by_id: HashMap<i64, ApiKeyRecord>,
    id_by_hash: HashMap<TokenHash, i64>,
    by_org: ByOrg,
    by_creator: HashMap<i64, BTreeSet<i64>>,
    /// The last id handed out: ids increase and are never reused.
    last_id: i64,
}

impl ApiKeys {
    /// Stores a new key under the next id; a taken hash is [`StoreError::Conflict`].
    pub(super) fn insert(&mut self, new: NewApiKey) -> StoreResult<ApiKeyRecord> {
        if self.id_by_hash.contains_key(&new.hash) {
            return Err(StoreError::Conflict);
        }
        self.last_id += 1;
        let key = new.into_record(self.last_id);
        self.id_by_hash.insert(key.hash, key.id);
        self.by_org.insert(key.org.as_deref(), key.id);
        self.by_creator
            .entry(key.created_by)
            .or_default()
            .insert(key.id);
        self.by_id.insert(key.id, key.clone());
        Ok(key)
    }

    /// Deletes every key a user created.
    pub(super) fn remove_created_by(&mut self, user_id: i64) {
        for id in self.by_creator.remove(&user_id).unwrap_or_default() {
            if let Some(key) = self.by_id.remove(&id) {
                self.id_by_hash.remove(&key.hash);
                self.by_org.remove(key.org.as_deref(), id);
            }
        }
    }

    pub(super) fn get(&self, id: i64) -> Option<&ApiKeyRecord> {
        self.by_id.get(&id)
    }

    /// The key, to change a field no index covers (`last_used_at`, `revoked_at`).
    pub(super) fn get_mut(&mut self, id: i64) -> Option<&mut ApiKeyRecord> {
        self.by_id.get_mut(&id)
    }

    pub(super) fn by_hash(&self, hash: &TokenHash) -> Option<&ApiKeyRecord> {
        self.id_by_hash.get(hash).and_then(|id| self.by_id.get(id))
    }

    /// An organization's keys, by id.
    pub(super) fn list(&self, org: Option<&str>) -> Vec<ApiKeyRecord> {
        let keys = self.by_org.ids(org).filter_map(|id| self.by_id.get(&id));
        keys.cloned().collect()
    }
}

/// A stored reset token.
#[derive(Debug, Clone, Copy)]
struct ResetToken {
    user_id: i64,
    expires_at: i64,
    used: bool,
}

impl ResetToken {
    fn pending(&self, now: i64) -> bool {
        !self.used && self.expires_at > now
    }
}

/// Reset tokens by hash and by user.
#[derive(Debug, Default)]
pub(super) struct ResetTokens {
    by_hash: HashMap<TokenHash, ResetToken>,
    by_user: HashMap<i64, HashSet<TokenHash>>,
}

impl ResetTokens {
    /// Stores a pending token; a hash seen before is replaced.
    pub(super) fn insert(&mut self, hash: TokenHash, user_id: i64, expires_at: i64) {
        let token = ResetToken {
            user_id,
            expires_at,
            used: false,
        };
        if let Some(old) = self.by_hash.insert(hash, token)
            && old.user_id != user_id
            && let Some(hashes) = self.by_user.get_mut(&old.user_id)
        {
            hashes.remove(&hash);
        }
        self.by_user.entry(user_id).or_default().insert(hash);
    }

    /// The user of a pending token.
    pub(super) fn user(&self, hash: &TokenHash, now: i64) -> Option<i64> {
        let token = self.by_hash.get(hash).filter(|t| t.pending(now))?;
        Some(token.user_id)
    }

    /// How many tokens there are.
    pub(super) fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Deletes at most `limit` tokens that are spent or expired at `now`; how many.
    pub(super) fn purge(&mut self, now: i64, limit: usize) -> usize {
        let doomed: Vec<(TokenHash, i64)> = self
            .by_hash
            .iter()
            .filter(|(_, t)| !t.pending(now))
            .take(limit)
            .map(|(h, t)| (*h, t.user_id))
            .collect();
        for (hash, user_id) in &doomed {
            self.by_hash.remove(hash);
            if let Some(hashes) = self.by_user.get_mut(user_id) {
                hashes.remove(hash);
                if hashes.is_empty() {
                    self.by_user.remove(user_id);
                }
            }
        }
        doomed.len()
    }

    /// Deletes every token of a user.
    pub(super) fn remove_user(&mut self, user_id: i64) {
        for hash in self.by_user.remove(&user_id).unwrap_or_default() {
            self.by_hash.remove(&hash);
        }
    }

    /// Spends a pending token and every other token of its user; the user.
    pub(super) fn consume(&mut self, hash: &TokenHash, now: i64) -> Option<i64> {
        let user_id = self.user(hash, now)?;
        for h in self.by_user.get(&user_id).into_iter().flatten() {
            if let Some(token) = self.by_hash.get_mut(h) {
                token.used = true;
            }
        }
        Some(user_id)
    }
}

/// The revocation log, in cursor order (cursors strictly increase, so it is sorted by them).
#[derive(Debug, Default)]
pub(super) struct RevocationLog {
    entries: Vec<Revocation>,
    /// The last cursor handed out: cursors are never reused, even once every entry is purged,
    /// so a poller's cursor never hides an entry appended later.
    last_cursor: i64,
}

impl RevocationLog {
    pub(super) fn append(&mut self, session_ids: &[String], until: i64) {
        for id in session_ids {
            self.last_cursor += 1;
            let cursor = self.last_cursor;
            self.entries.push(Revocation {
                cursor,
                session_id: id.clone(),
                until,
            });
        }
    }

    /// How many entries there are.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Deletes at most `limit` entries no longer in force at `now`; how many. The others keep
    /// their order (and so the cursor order the binary search needs).
    pub(super) fn purge(&mut self, now: i64, limit: usize) -> usize {
        let mut left = limit;
        self.entries.retain(|r| {
            let doomed = left > 0 && r.until <= now;
            left -= usize::from(doomed);
            !doomed
        });
        limit - left
    }

    /// Entries after `cursor` whose `until` is after `now`, at most `limit`: a binary search for
    /// the cursor, then a walk that stops at the limit (it steps over entries no longer in force,
    /// as the SQL stores' index range does).
    pub(super) fn since(&self, cursor: i64, now: i64, limit: i64) -> Vec<Revocation> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let start = self.entries.partition_point(|r| r.cursor <= cursor);
        let after = self.entries.get(start..).unwrap_or_default();
        after
            .iter()
            .filter(|r| r.until > now)
            .take(limit)
            .cloned()
            .collect()
    }
}
