//! Storage: the traits a host plugs in, each with its contract, and the stores that keep them.
//!
//! [`Store`] is the union of eight traits: one per kind of record, and [`CleanupStore`], which
//! deletes the records that can no longer matter. Hosts hold a store as
//! `Arc<dyn Store>`; [`memory::MemoryStore`] keeps everything in the process, and the `sqlite` and
//! `postgres` features add [`sql::SqlStore`] on an embedded SQLite file or a PostgreSQL server.
//! One conformance suite runs unchanged against every store; with the `test-util` feature it is
//! exported as `conformance`, so that a store written by a host can run it too.
//!
//! # Why `async-trait`
//!
//! Native `async fn` in traits does not make `dyn`-compatible traits, and the futures it returns
//! cannot be required to be `Send` at the use site. Hosts need `Arc<dyn Store>` held across
//! `.await` in multi-threaded servers, so the traits use [`async_trait`](mod@async_trait), which
//! boxes each future as `Pin<Box<dyn Future + Send>>`. One allocation per store call is negligible
//! next to the I/O it stands for, and nothing on the JWT hot path calls the store.
//!
//! # Contracts every store keeps
//!
//! * Secrets (refresh tokens, reset and verification tokens, API keys) arrive and are looked up as [`TokenHash`]es
//!   only; a store never sees a plaintext secret.
//! * Emails are stored as given (the service lower-cases them) and are unique.
//! * Timestamps are Unix seconds.
//! * Consuming a refresh token or a reset token is atomic: of two concurrent calls for the same
//!   token, across processes sharing a database, exactly one succeeds.
//! * Writes that race are compare-and-set or one transaction: a password-hash upgrade is written
//!   only over the hash that was verified ([`UserStore::replace_password_hash`]); a role change
//!   or reset ends the user's sessions in the same transaction
//!   ([`UserStore::update_user_ending_sessions`]), a password change is compare-and-set over the
//!   verified hash and ends the user's other sessions in the same transaction
//!   ([`UserStore::change_password_ending_sessions`]), and the removal of a user takes their
//!   sessions, refresh, reset and verification tokens and API keys with them
//!   ([`UserStore::delete_user_ending_sessions`]). Spending a verification token marks the
//!   address verified in the same step ([`VerificationTokenStore::consume_verification_token`]).
//! * No record outlives its user: a session, API key, reset or verification token of a deleted
//!   user is refused.
//! * Nothing a request waits on scans a table: the API-key path reads a key and its creator's
//!   role with one indexed lookup ([`ApiKeyStore::api_key_with_creator`]), and last-use times are
//!   written in batches ([`ApiKeyStore::touch_api_keys`]), which the service can keep off the
//!   request path.
//! * Signing keys and server secrets arrive sealed under the host's master key; nothing a store
//!   holds mints a credential.

use async_trait::async_trait;

use crate::api_key::Environment;
use crate::error::StoreError;
use crate::rbac::Role;
pub use crate::secret::TokenHash;

mod cleanup;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance;
mod feed;
mod keys;
pub mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod sql;

pub use cleanup::{CleanupStore, Expired};
pub use feed::RevocationFeed;
pub use keys::{SigningKeyStore, StoredKey};

/// A store call's result.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// Numeric id, assigned by the store.
    pub id: i64,
    /// Lower-cased email.
    pub email: String,
    /// The stored password hash: an argon2id PHC string, or until the user's first login after
    /// an import, the hash another system wrote (see
    /// [`PasswordInput`](crate::PasswordInput)).
    pub password_hash: String,
    /// The user's role.
    pub role: Role,
    /// The user's organization, if any.
    pub org: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Whether the user proved they receive mail at `email` (a verification link, a reset link,
    /// or an importer that vouched for it).
    pub email_verified: bool,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-cased email.
    pub email: String,
    /// The password hash (see [`User::password_hash`]).
    pub password_hash: String,
    /// The user's role.
    pub role: Role,
    /// The user's organization, if any.
    pub org: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Whether the address is already verified (an import that vouches for it).
    pub email_verified: bool,
}

impl NewUser {
    /// The stored user, once the store has assigned its `id`.
    pub fn into_user(self, id: i64) -> User {
        User {
            id,
            email: self.email,
            password_hash: self.password_hash,
            role: self.role,
            org: self.org,
            created_at: self.created_at,
            email_verified: self.email_verified,
        }
    }
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. An email already present is [`StoreError::Conflict`] and changes nothing.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    /// The user with this (lower-cased) email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// The user with this id.
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// The users of an organization (`None`: users without one), by id. Organization names match
    /// exactly.
    async fn list_users(&self, org: Option<&str>) -> StoreResult<Vec<User>>;
    /// **Compare-and-set** of the password hash: writes `new` only if the stored hash is still
    /// exactly `expected` (`UPDATE … WHERE id = ? AND password_hash = ?`), in one atomic step.
    /// `false` (nothing written) if the user is unknown or its hash changed meanwhile.
    ///
    /// This is the only way the service writes a hash outside a reset: a login that upgrades an
    /// outdated hash must never overwrite a reset that landed after the login read the user.
    async fn replace_password_hash(&self, id: i64, expected: &str, new: &str) -> StoreResult<bool>;
    /// Applies `change` to the user and ends every live session of the user, **in one
    /// transaction**, appending each ended session to the revocation log (refused until
    /// `refused_until`) in the same transaction, followed by [`user_change_entry`]`(id)` (other
    /// instances then read the user's API keys again). Returns the ended sessions' ids (sorted),
    /// or `None` (nothing changed) if the user is unknown.
    ///
    /// A crash can therefore never leave the new role or password in place while sessions (and
    /// their access tokens) of the old one live on.
    async fn update_user_ending_sessions(
        &self,
        id: i64,
        change: UserChange,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>>;
    /// Deletes the user **in one transaction** with everything that belongs to them: their
    /// sessions are ended and each appended to the revocation log (refused until
    /// `refused_until`), followed by [`user_change_entry`]`(id)`, then their refresh tokens,
    /// sessions, reset and verification tokens and the API keys they created are deleted, then
    /// the user. Returns the ended sessions' ids (sorted), or `None`
    /// (nothing changed) if the user is unknown.
    ///
    /// Ordered with the writes that add a record of the user
    /// ([`SessionStore::create_session`], [`ApiKeyStore::create_api_key`],
    /// [`ResetTokenStore::create_reset_token`],
    /// [`VerificationTokenStore::create_verification_token`]): whichever comes first, no session,
    /// key, reset or verification token outlives its user. One that committed first is deleted here; one that comes after
    /// is refused. The user's email is free again once this returns; ids are not reused.
    async fn delete_user_ending_sessions(
        &self,
        id: i64,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>>;
    /// A signed-in user's password change: **compare-and-set** of the password hash (written
    /// only if the stored hash is still exactly `expected`, the one the current password was
    /// verified against) and the end of every live session of the user **except `keep`**, **in
    /// one transaction**, appending each ended session to the revocation log (refused until
    /// `refused_until`) followed by [`user_change_entry`]`(id)`, as
    /// [`update_user_ending_sessions`](Self::update_user_ending_sessions) does. Returns the
    /// ended sessions' ids (sorted), or `None` (nothing changed) if the user is unknown or the
    /// hash changed meanwhile (a reset or another change won).
    ///
    /// Ordered with [`SessionStore::create_session`] as `update_user_ending_sessions` is.
    async fn change_password_ending_sessions(
        &self,
        id: i64,
        expected: &str,
        new: &str,
        keep: Option<&str>,
        now: i64,
        refused_until: i64,
    ) -> StoreResult<Option<Vec<String>>>;
}

/// A change to a user that ends the user's sessions (see
/// [`UserStore::update_user_ending_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserChange {
    /// A new role (the old role's tokens must not outlive it).
    Role(Role),
    /// A new password hash, unconditionally: a password reset through the mailed link. The link
    /// reached the user's inbox, so the store also marks the address verified
    /// ([`User::email_verified`]) in the same write.
    PasswordHash(String),
}

/// A login session: one refresh family, named by `sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// Session id (the `sid` claim).
    pub id: String,
    /// The user.
    pub user_id: i64,
    /// Start of the session.
    pub created_at: i64,
    /// The last refresh of the session (its start until the first): the issue time of its newest
    /// refresh token (see [`SessionStore::insert_refresh`]).
    pub last_used_at: i64,
    /// When it was ended, if it was.
    pub revoked_at: Option<i64>,
    /// The `User-Agent` the session started from, as sent (at most
    /// [`MAX_USER_AGENT_LEN`] bytes), if any.
    pub user_agent: Option<String>,
    /// The client address the session started from (the address the rate limits count), if
    /// known.
    pub ip: Option<String>,
}

/// The longest `User-Agent` a session keeps; longer ones are cut (on a character boundary).
pub const MAX_USER_AGENT_LEN: usize = 256;

impl Session {
    /// A live session without client details (for host-written stores and their tests; the
    /// service makes its own).
    pub fn new(id: String, user_id: i64, created_at: i64) -> Self {
        Self {
            id,
            user_id,
            created_at,
            last_used_at: created_at,
            revoked_at: None,
            user_agent: None,
            ip: None,
        }
    }

    /// The same session, started from `user_agent` (cut to [`MAX_USER_AGENT_LEN`] bytes) at
    /// `ip`.
    pub fn with_client(mut self, user_agent: Option<&str>, ip: Option<String>) -> Self {
        self.user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT_LEN);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        self.ip = ip;
        self
    }
}

/// One refresh token of a family, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Its session.
    pub session_id: String,
    /// The session's user.
    pub user_id: i64,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was spent, if it was.
    pub spent_at: Option<i64>,
}

impl RefreshRecord {
    /// A fresh, unspent record.
    pub fn new(
        hash: TokenHash,
        session_id: String,
        user_id: i64,
        issued_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            hash,
            session_id,
            user_id,
            issued_at,
            expires_at,
            spent_at: None,
        }
    }
}

/// The result of trying to spend a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// This call spent the token (its `spent_at` is now `now`).
    Spent(RefreshRecord),
    /// The token had been spent before, at `record.spent_at`. The caller decides between the
    /// grace window and reuse detection.
    AlreadySpent(RefreshRecord),
    /// The token is unknown, expired, or its session is revoked. Nothing changed.
    Invalid,
}

/// Login sessions and their refresh tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session with its first refresh token.
    ///
    /// Ordered with [`UserStore::update_user_ending_sessions`] of the same user: a session created
    /// while a change is in flight is either among the sessions that change ends, or created
    /// after the change committed, so that a read of the user once this returns sees the change.
    /// (A login reads the user back after creating its session; without this order a reset could
    /// miss the session of a login that still read the old password.)
    ///
    /// A session of a deleted user is refused with an error and stores nothing, also when the
    /// deletion ([`UserStore::delete_user_ending_sessions`]) runs at the same time. A store may
    /// refuse any user it does not hold, as the SQL stores' foreign keys do.
    async fn create_session(&self, session: Session, first: RefreshRecord) -> StoreResult<()>;
    /// Spends a refresh token at `now`. **Atomic**: of concurrent calls for one token, across
    /// processes sharing the database, exactly one returns [`Consumed::Spent`]; the others see
    /// [`Consumed::AlreadySpent`] with the winner's `spent_at`. A token past `expires_at`, or of a
    /// revoked session, is [`Consumed::Invalid`] and is not marked spent.
    async fn consume_refresh(&self, hash: &TokenHash, now: i64) -> StoreResult<Consumed>;
    /// Adds a successor token to a live session, and moves the session's
    /// [`last_used_at`](Session::last_used_at) to the record's `issued_at` (never back), in one
    /// atomic step. Inserting a hash that already exists is a no-op for the token (a grace-window
    /// retry derives the same successor). Returns `false`, changing nothing, if the session is
    /// revoked or unknown.
    async fn insert_refresh(&self, record: RefreshRecord) -> StoreResult<bool>;
    /// Ends a session: its refresh tokens stop working. `false` if it was unknown or already ended.
    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// The user's sessions that have not been ended (`revoked_at` unset), oldest first (by
    /// `created_at`, then id). Sessions whose refresh tokens have all expired are included; the
    /// service filters them by [`Session::last_used_at`]. Costs O(the user's sessions), not a
    /// scan.
    async fn sessions_of_user(&self, user_id: i64) -> StoreResult<Vec<Session>>;
}

/// An API key, as stored (never its plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyRecord {
    /// Numeric id, assigned by the store.
    pub id: i64,
    /// A human name.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: TokenHash,
    /// Non-secret display prefix (`osk_live_AbCd`).
    pub prefix: String,
    /// Live or test.
    pub environment: Environment,
    /// The key's role.
    pub role: Role,
    /// The organization the key belongs to.
    pub org: Option<String>,
    /// The user who created it.
    pub created_by: i64,
    /// Creation time.
    pub created_at: i64,
    /// Last authenticated use (updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// An API key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// A human name.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: TokenHash,
    /// Display prefix.
    pub prefix: String,
    /// Live or test.
    pub environment: Environment,
    /// The key's role.
    pub role: Role,
    /// The organization.
    pub org: Option<String>,
    /// The creator.
    pub created_by: i64,
    /// Creation time.
    pub created_at: i64,
}

impl NewApiKey {
    /// The stored record, once the store has assigned its `id`: never used, not revoked.
    pub fn into_record(self, id: i64) -> ApiKeyRecord {
        ApiKeyRecord {
            id,
            name: self.name,
            hash: self.hash,
            prefix: self.prefix,
            environment: self.environment,
            role: self.role,
            org: self.org,
            created_by: self.created_by,
            created_at: self.created_at,
            last_used_at: None,
            revoked_at: None,
        }
    }
}

/// An API key and its creator's current role, read together (see
/// [`ApiKeyStore::api_key_with_creator`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyWithCreator {
    /// The key, revoked or not.
    pub key: ApiKeyRecord,
    /// The role its creator holds now; `None` if the creator no longer exists.
    pub creator_role: Option<Role>,
}

impl ApiKeyWithCreator {
    /// A key and its creator's role (for host-written stores).
    pub fn new(key: ApiKeyRecord, creator_role: Option<Role>) -> Self {
        Self { key, creator_role }
    }
}

/// API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key. A key whose creator (`created_by`) has been deleted is refused with an
    /// error and stores nothing, as in [`SessionStore::create_session`].
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord>;
    /// The key with this hash, revoked or not. Keys are looked up by hash only.
    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>>;
    /// The key with this hash (revoked or not) and its creator's current role, in one read
    /// (`creator_role: None`: the creator no longer exists). The API-key path of authentication
    /// calls only this.
    ///
    /// One read means one consistent view: a store answers it with one query (SQL: the key
    /// `LEFT JOIN` its creator) or under one lock, never with two lookups that a role change could
    /// fall between. It is on the path of every request that presents an API key, so it must
    /// cost one indexed lookup, not a scan.
    async fn api_key_with_creator(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<ApiKeyWithCreator>>;
    /// The keys of an organization (`None`: keys without one), revoked included, by id.
    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>>;
    /// The key with this id.
    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>>;
    /// Revokes a key and appends [`api_key_change_entry`]`(id)` to the revocation log (kept
    /// until `refused_until`), **in one transaction**, so every instance drops the key from its
    /// cache; `false` (nothing written) if unknown or already revoked.
    async fn revoke_api_key(&self, id: i64, now: i64, refused_until: i64) -> StoreResult<bool>;
    /// Records uses in one batch: each key's `last_used_at` becomes the later of its stored value
    /// and the given time. Unknown ids are skipped. SQL stores write the batch in one transaction.
    ///
    /// `uses` are `(key id, time)` pairs; an id may appear more than once (its latest time
    /// counts). `last_used_at` never moves back, so batches that arrive late or out of order
    /// (several instances flushing their uses) keep the latest use.
    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> StoreResult<()>;
}

/// Password-reset tokens.
#[async_trait]
pub trait ResetTokenStore: Send + Sync {
    /// Stores a reset token's hash for a user. A token of a deleted user is refused with an
    /// error and stores nothing, as in [`SessionStore::create_session`].
    async fn create_reset_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The user of an unspent, unexpired reset token, changing nothing: lets the service refuse
    /// a made-up token before it spends argon2 work on the new password.
    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>>;
    /// Spends a reset token, and with it every other outstanding reset token of the same user
    /// (a reset ends all pending resets), as **one atomic step**: of concurrent calls for one
    /// token, or for different tokens of one user, exactly one gets the user id. Unknown, spent or
    /// expired (`expires_at <= now`) tokens give `None` and change nothing.
    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>>;
}

/// Email-verification tokens.
#[async_trait]
pub trait VerificationTokenStore: Send + Sync {
    /// Stores a verification token's hash for a user. A token of a deleted user is refused with
    /// an error and stores nothing, as in [`SessionStore::create_session`].
    async fn create_verification_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Spends a verification token, with every other outstanding verification token of the same
    /// user, and marks the user's address verified ([`User::email_verified`]), as **one atomic
    /// step**: of concurrent calls for one token, exactly one gets the user id. Unknown, spent or
    /// expired (`expires_at <= now`) tokens give `None` and change nothing.
    async fn consume_verification_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<i64>>;
}

/// One entry of the revocation log: access tokens of session `session_id` are refused until
/// `until` (when the last of them would have expired anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Position in the log; strictly increasing.
    pub cursor: i64,
    /// The revoked session.
    pub session_id: String,
    /// When the entry stops mattering.
    pub until: i64,
}

/// The revocation-log entry a change to user `user_id` appends (a role change, a password
/// change, a removal): every instance reads that user's API keys again.
pub fn user_change_entry(user_id: i64) -> String {
    format!("user:{user_id}")
}

/// The revocation-log entry a revoked API key appends: every instance drops it from its cache.
pub fn api_key_change_entry(key_id: i64) -> String {
    format!("apikey:{key_id}")
}

/// Whether a revocation-log entry names a user or an API key ([`user_change_entry`],
/// [`api_key_change_entry`]) rather than a session. Session ids never hold a `:`; an access
/// token whose `sid` does is refused.
pub fn is_key_change_entry(entry: &str) -> bool {
    entry.contains(':')
}

/// The revocation log that keeps every instance's in-process revocation set current. Its entries
/// are ended sessions' ids, and the names of changed users and revoked API keys
/// ([`is_key_change_entry`]); a store keeps them alike.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Appends entries.
    async fn append_revocations(&self, session_ids: &[String], until: i64) -> StoreResult<()>;
    /// Entries after `cursor` whose `until` is after `now`, in cursor order, at most `limit`.
    async fn revocations_since(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<Revocation>>;
    /// Opens a [`RevocationFeed`]: announcements of appends to this log by any process, so that
    /// the service reads the log as soon as it changes instead of at its next poll. `Ok(None)`
    /// (the default): this store cannot announce appends, and the service polls.
    ///
    /// Each call opens a new feed (on PostgreSQL, a connection of its own). A feed announces
    /// only appends made after it opened: the service opens it first and reads the log after.
    async fn revocation_feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
        Ok(None)
    }
}

/// Everything the service needs, as one object. Implemented for any type that implements the
/// eight traits.
pub trait Store:
    UserStore
    + SessionStore
    + ApiKeyStore
    + ResetTokenStore
    + VerificationTokenStore
    + RevocationStore
    + SigningKeyStore
    + CleanupStore
{
}

impl<T> Store for T where
    T: UserStore
        + SessionStore
        + ApiKeyStore
        + ResetTokenStore
        + VerificationTokenStore
        + RevocationStore
        + SigningKeyStore
        + CleanupStore
{
}
