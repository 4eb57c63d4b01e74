//! [`AuthService`]: every flow of the seed, composed from the primitives over a [`Store`].
//!
//! Framework-agnostic: the axum and actix adapters only translate HTTP to these calls.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock, Weak};

use serde::Serialize;

use crate::api_key::{ApiKeyFormat, Environment};
use crate::audit::{AuditEvent, AuditSink, TracingAudit};
use crate::clock::{Clock, SystemClock, secs};
use crate::config::{AuthConfig, RateLimit};
use crate::error::{Error, StoreError, TokenError};
use crate::keys::{self, Sealer};
use crate::mail::{DiscardMailer, Mail, Mailer};
use crate::password::PasswordHasher;
use crate::rate_limit::{MemoryRateLimiter, RateLimiter, client_bucket};
use crate::rbac::{Permission, Policy, Role};
use crate::refresh::{RefreshTokens, Rotation};
use crate::secret::{
    AccessToken, ApiKeySecret, MAX_OPAQUE_TOKEN_LEN, Password, RefreshToken, ResetToken, TokenHash,
    random_id, random_token,
};
use crate::store::{
    ApiKeyRecord, NewApiKey, NewUser, RefreshRecord, Session, Store, StoredKey, User, UserChange,
};
use crate::token::{AccessClaims, KeyAlgorithm, KeyRing, Validation};
/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Longest API-key name.
const MAX_KEY_NAME_LEN: usize = 100;
/// An API key's `last_used_at` is written at most this often.
const TOUCH_INTERVAL: i64 = 60;

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The user's id as a string, or `apikey:<id>` for an API key.
    pub subject: String,
    /// The user behind the request: the user themselves, or the key's creator.
    pub user_id: i64,
    /// The organization.
    pub org: Option<String>,
    /// The role that permission checks use.
    pub role: Role,
    /// A user session or an API key.
    pub kind: PrincipalKind,
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user, through an access token of login session `session`.
    User {
        /// The session id (`sid`).
        session: String,
    },
    /// An organization API key.
    ApiKey {
        /// The key's id.
        id: i64,
        /// Live or test: hosts keep test data apart.
        environment: Environment,
    },
}

impl Principal {
    /// The environment whose data this principal acts on: `Test` for test keys, `Live` otherwise.
    pub fn environment(&self) -> Environment {
        match self.kind {
            PrincipalKind::ApiKey { environment, .. } => environment,
            PrincipalKind::User { .. } => Environment::Live,
        }
    }
}

/// A user as the wire shows it: `{"id", "email", "role"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// Id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role,
        }
    }
}

/// What login and register hand out.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoginOutcome {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token (single-use).
    pub refresh_token: RefreshToken,
    /// The user.
    pub user: UserInfo,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What a refresh hands out.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefreshOutcome {
    /// The new access token.
    pub access_token: AccessToken,
    /// The new refresh token.
    pub refresh_token: RefreshToken,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// An API key's public description (no secret): the wire's `api_key` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Display prefix (`osk_live_AbCd`).
    pub prefix: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// The key's role.
    pub role: Role,
    /// RFC 3339 creation time.
    pub created_at: Option<String>,
    /// RFC 3339 time of last use, if any.
    pub last_used_at: Option<String>,
    /// RFC 3339 revocation time, if revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyInfo {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            environment: k.environment,
            role: k.role,
            created_at: crate::clock::rfc3339(k.created_at),
            last_used_at: k.last_used_at.and_then(crate::clock::rfc3339),
            revoked_at: k.revoked_at.and_then(crate::clock::rfc3339),
        }
    }
}

/// A newly created API key: the plaintext, shown once, and its description.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedApiKey {
    /// The plaintext key. It is not stored anywhere; lose it and mint another.
    pub key: ApiKeySecret,
    /// The key's description.
    pub info: ApiKeyInfo,
}

/// Sessions whose access tokens are refused, until the last of them would have expired.
/// Read on every JWT authentication, without I/O.
#[derive(Debug, Default)]
struct RevocationSet {
    entries: RwLock<HashMap<String, i64>>,
}

impl RevocationSet {
    fn insert(&self, session: &str, until: i64) {
        let mut m = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(session.to_owned()).or_insert(until);
        *e = (*e).max(until);
    }

    fn is_revoked(&self, session: &str, now: i64) -> bool {
        let m = self.entries.read().unwrap_or_else(|p| p.into_inner());
        m.get(session).is_some_and(|&until| until > now)
    }

    fn prune(&self, now: i64) {
        let mut m = self.entries.write().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, &mut until| until > now);
    }
}

struct Inner {
    config: AuthConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    keys: RwLock<Arc<KeyRing>>,
    sealer: Sealer,
    algorithm: KeyAlgorithm,
    /// What the ring was last built from; `None` when the host supplied the ring.
    key_sync: tokio::sync::Mutex<Option<KeySync>>,
    validation: Validation,
    api_keys: ApiKeyFormat,
    refresh: RefreshTokens,
    policy: Policy,
    revoked: RevocationSet,
    revocation_cursor: tokio::sync::Mutex<i64>,
    limiter: Arc<dyn RateLimiter>,
    audit: Arc<dyn AuditSink>,
    mailer: Arc<dyn Mailer>,
}

/// The authentication service. Cheap to clone; share one per process.
///
/// Build it with [`AuthService::builder`].
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

/// The stored keys the current ring was built from, and when it must be rebuilt regardless.
struct KeySync {
    loaded: Vec<StoredKey>,
    next_expiry: Option<i64>,
}

/// Builds an [`AuthService`].
#[must_use]
pub struct AuthServiceBuilder {
    config: AuthConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn RateLimiter>,
    audit: Arc<dyn AuditSink>,
    mailer: Arc<dyn Mailer>,
    policy: Policy,
    key_ring: Option<KeyRing>,
    algorithm: KeyAlgorithm,
    sync_revocations: bool,
}

impl AuthServiceBuilder {
    /// Sets the clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the rate limiter (default: [`MemoryRateLimiter`]).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Sets the audit sink (default: [`TracingAudit`]).
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    /// Sets the mailer (default: [`DiscardMailer`], which drops mail with a warning).
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Sets the permission matrix (default: the seed's).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Uses this key ring instead of the keys kept in the store.
    pub fn key_ring(mut self, ring: KeyRing) -> Self {
        self.key_ring = Some(ring);
        self
    }

    /// The algorithm of the signing key created when the store holds none (default: EdDSA, whose
    /// public key other services can verify from the JWKS).
    pub fn signing_algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Whether to poll the store's revocation log in the background (default: on). Off only for
    /// hosts that drive [`AuthService::sync_revocations`] themselves.
    pub fn background_revocation_sync(mut self, on: bool) -> Self {
        self.sync_revocations = on;
        self
    }

    /// Validates the configuration, loads (or creates) the keys, loads the revocation log and
    /// starts the revocation poller. Must run inside a tokio runtime.
    pub async fn build(self) -> Result<AuthService, Error> {
        self.config.validate()?;
        let now = self.clock.now();
        let store = self.store;

        let sealer = Sealer::new(&self.config.master_keys)?;
        if sealer.is_ephemeral() {
            tracing::warn!(
                "no master key configured: signing keys are sealed under a key of this process \
                 only, so a restart or another instance cannot open them; set \
                 AuthConfig::master_keys for a persistent store"
            );
        }
        let refresh = RefreshTokens::new(&keys::refresh_secret(&*store, &sealer, now).await?)?;

        let retire_after = retire_after(&self.config);
        let (ring, key_sync) = match self.key_ring {
            Some(ring) => (ring, None),
            None => {
                let stored = keys::signing_keys(&*store, &sealer, self.algorithm, now).await?;
                let loaded = keys::load_ring(&*store, &sealer, &stored, now, retire_after).await?;
                let sync = KeySync {
                    loaded: stored,
                    next_expiry: loaded.next_expiry,
                };
                (loaded.ring, Some(sync))
            }
        };

        let inner = Arc::new(Inner {
            hasher: PasswordHasher::from_config(&self.config)?,
            validation: Validation::from_config(&self.config),
            api_keys: ApiKeyFormat::new(&self.config.api_key_prefix)?,
            config: self.config,
            store,
            clock: self.clock,
            keys: RwLock::new(Arc::new(ring)),
            sealer,
            algorithm: self.algorithm,
            key_sync: tokio::sync::Mutex::new(key_sync),
            refresh,
            policy: self.policy,
            revoked: RevocationSet::default(),
            revocation_cursor: tokio::sync::Mutex::new(0),
            limiter: self.limiter,
            audit: self.audit,
            mailer: self.mailer,
        });
        let service = AuthService { inner };
        service.sync_revocations().await?;
        if self.sync_revocations {
            spawn_revocation_poller(Arc::downgrade(&service.inner));
        }
        Ok(service)
    }
}

/// How long a retired signing key keeps verifying after its successor was stored: the last
/// token it signed (an instance may sign with it until its next poll) lives the access-token
/// lifetime, plus the clock leeway.
fn retire_after(config: &AuthConfig) -> i64 {
    secs(config.access_ttl)
        .saturating_add(secs(config.leeway))
        .saturating_add(secs(config.revocation_poll).max(1))
}

fn spawn_revocation_poller(inner: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let interval = match inner.upgrade() {
                Some(i) => i.config.revocation_poll,
                None => return,
            };
            tokio::time::sleep(interval).await;
            let Some(inner) = inner.upgrade() else { return };
            let service = AuthService { inner };
            if let Err(e) = service.sync_revocations().await {
                tracing::warn!(error = %e, "revocation sync failed; will retry");
            }
        }
    });
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn normalize_email(email: &str) -> Result<String, Error> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(Error::Validation("a valid email address is required"))
    }
}

impl AuthService {
    /// A builder over `store` with `config`; every other part has a default.
    pub fn builder(config: AuthConfig, store: Arc<dyn Store>) -> AuthServiceBuilder {
        AuthServiceBuilder {
            config,
            store,
            clock: Arc::new(SystemClock),
            limiter: Arc::new(MemoryRateLimiter::new()),
            audit: Arc::new(TracingAudit),
            mailer: Arc::new(DiscardMailer),
            policy: Policy::default(),
            key_ring: None,
            algorithm: KeyAlgorithm::EdDsa,
            sync_revocations: true,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The permission matrix.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The password hasher (for hosts that seed accounts, and for tests counting its work).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The current key ring.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.inner.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the key ring with one the host manages: tokens signed by keys still in the new
    /// ring keep verifying. From then on the ring is the host's; the service stops loading keys
    /// from the store (use [`rotate_signing_key`](Self::rotate_signing_key) instead to rotate
    /// keys kept in the store).
    pub async fn set_key_ring(&self, ring: KeyRing) {
        let mut sync = self.inner.key_sync.lock().await;
        *sync = None;
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// Stores a new signing key (the configured algorithm; its `kid` is the RFC 7638 thumbprint,
    /// sealed under the master key) and signs with it from now on. Every instance sharing the
    /// store picks it up within one poll interval. The previous key keeps verifying until the last
    /// token it signed has expired (access-token lifetime plus leeway), then leaves the ring, the
    /// JWKS and the store. Returns the new `kid`.
    ///
    /// [`Error::Config`] when the host supplied the key ring ([`AuthServiceBuilder::key_ring`]).
    pub async fn rotate_signing_key(&self) -> Result<String, Error> {
        let inner = &self.inner;
        let mut sync = inner.key_sync.lock().await;
        if sync.is_none() {
            return Err(Error::Config(
                "the key ring was supplied by the host: rotate it there",
            ));
        }
        let key = keys::new_signing_key(&inner.sealer, inner.algorithm, self.now())?;
        let kid = key.kid.clone();
        let stored = inner.store.insert_signing_key(key).await?;
        self.install_ring(&mut sync, stored).await?;
        tracing::info!(%kid, "signing key rotated");
        Ok(kid)
    }

    /// Rebuilds the ring from the stored keys if they changed or a retired key's window closed.
    async fn sync_signing_keys(&self) -> Result<(), Error> {
        let mut sync = self.inner.key_sync.lock().await;
        let Some(current) = sync.as_ref() else {
            return Ok(());
        };
        let stored = self.inner.store.signing_keys().await?;
        let due = current.next_expiry.is_some_and(|t| t <= self.now());
        if stored != current.loaded || due {
            self.install_ring(&mut sync, stored).await?;
        }
        Ok(())
    }

    async fn install_ring(
        &self,
        sync: &mut Option<KeySync>,
        stored: Vec<StoredKey>,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        let loaded = keys::load_ring(
            &*inner.store,
            &inner.sealer,
            &stored,
            self.now(),
            retire_after(&inner.config),
        )
        .await?;
        // Retired keys whose last token has expired: their private half has no use left.
        for kid in &loaded.expired {
            inner.store.delete_signing_key(kid).await?;
        }
        *inner.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded.ring);
        *sync = Some(KeySync {
            loaded: stored,
            next_expiry: loaded.next_expiry,
        });
        Ok(())
    }

    /// The JWKS document of the ring's public keys.
    pub fn jwks(&self) -> serde_json::Value {
        self.key_ring().jwks()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    fn audit(&self, event: AuditEvent) {
        self.inner.audit.record(&event);
    }

    /// Applies the limits of `action`: the client address first, then (only for requests that
    /// passed it) the account, so a refused client cannot grow the table with made-up emails.
    async fn limit(
        &self,
        action: &'static str,
        account: Option<&str>,
        client: Option<IpAddr>,
        per_account: RateLimit,
        per_client: RateLimit,
    ) -> Result<(), Error> {
        if !self.inner.config.rate_limits.enabled {
            return Ok(());
        }
        let now = self.now();
        let limiter = &self.inner.limiter;
        let mut result = Ok(());
        if let Some(ip) = client {
            result = limiter
                .hit(
                    &format!("{action}:client:{}", client_bucket(ip)),
                    per_client,
                    now,
                )
                .await;
        }
        if let (Ok(()), Some(account)) = (&result, account) {
            // Bounded key size: a 60 KiB "email" must not become a 60 KiB key.
            let account = truncate(account, MAX_EMAIL_LEN);
            result = limiter
                .hit(&format!("{action}:account:{account}"), per_account, now)
                .await;
        }
        result.map_err(|retry_after| {
            self.audit(AuditEvent::RateLimited { action });
            Error::RateLimited { retry_after }
        })
    }

    /// Creates an account (email trimmed and lower-cased; the configured default role) and signs
    /// it in. A taken email is [`Error::EmailTaken`]; a weak password [`Error::Validation`].
    pub async fn register(
        &self,
        email: &str,
        password: &Password,
        client: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        let email = normalize_email(email)?;
        self.inner.hasher.check_policy(password)?;
        let limits = self.inner.config.rate_limits;
        // Each registration costs an argon2 hash: bounded per client address.
        self.limit(
            "register",
            None,
            client,
            limits.register_per_client,
            limits.register_per_client,
        )
        .await?;
        if self.inner.store.user_by_email(&email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.inner.hasher.hash(password).await?;
        let user = self
            .inner
            .store
            .create_user(NewUser {
                email,
                password_hash,
                role: self.inner.config.default_role,
                org: None,
                created_at: self.now(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::EmailTaken,
                e => Error::Store(e),
            })?;
        self.audit(AuditEvent::Registered { user_id: user.id });
        let expected_hash = user.password_hash.clone();
        self.start_session(user.id, &expected_hash).await
    }

    /// Creates a user with a given role without signing in: for hosts seeding an admin.
    pub async fn create_user(
        &self,
        email: &str,
        password: &Password,
        role: Role,
    ) -> Result<User, Error> {
        let email = normalize_email(email)?;
        let password_hash = self.inner.hasher.hash(password).await?;
        self.inner
            .store
            .create_user(NewUser {
                email,
                password_hash,
                role,
                org: None,
                created_at: self.now(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::EmailTaken,
                e => Error::Store(e),
            })
    }

    /// Signs in. Unknown email and wrong password are one error, after the same argon2 work.
    /// A hash with outdated parameters is upgraded on success.
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        client: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        // An address that cannot be one (NUL, spaces, 300 bytes) is an unknown user: same answer,
        // same work, and it never reaches the store.
        let email = normalize_email(email).ok();
        let limit_key = email.as_deref().unwrap_or("<invalid>");
        let limits = self.inner.config.rate_limits;
        self.limit(
            "login",
            Some(limit_key),
            client,
            limits.login_per_account,
            limits.login_per_client,
        )
        .await?;
        let user = match &email {
            Some(email) => self.inner.store.user_by_email(email).await?,
            None => None,
        };
        let failed = || AuditEvent::LoginFailed {
            email: email.clone().unwrap_or_else(|| "<invalid>".into()),
        };
        let Some(user) = user else {
            self.inner.hasher.verify_dummy(password).await?;
            self.audit(failed());
            return Err(Error::InvalidCredentials);
        };
        if !self
            .inner
            .hasher
            .verify(password, &user.password_hash)
            .await?
        {
            self.audit(failed());
            return Err(Error::InvalidCredentials);
        }
        let mut expected_hash = user.password_hash;
        if self.inner.hasher.needs_rehash(&expected_hash) {
            // Best effort: a failure here must not fail a correct login. Compare-and-set over the
            // hash just verified: a reset that landed meanwhile wins, and `start_session` then
            // refuses this login because the hash is no longer the one it verified.
            match self.inner.hasher.hash(password).await {
                Ok(h) => match self
                    .inner
                    .store
                    .replace_password_hash(user.id, &expected_hash, &h)
                    .await
                {
                    Ok(true) => expected_hash = h,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, user_id = user.id, "password rehash not saved")
                    }
                },
                Err(e) => tracing::warn!(error = %e, user_id = user.id, "password rehash skipped"),
            }
        }
        self.start_session(user.id, &expected_hash).await
    }

    /// Opens a session for a user whose password (`expected_hash`) was just checked.
    ///
    /// The session is created *before* the user is read again: a role change or password reset
    /// that revokes the user's sessions meanwhile either revokes this one, or happened before the
    /// read, so the token carries the new role, or the login fails because the password changed.
    async fn start_session(
        &self,
        user_id: i64,
        expected_hash: &str,
    ) -> Result<LoginOutcome, Error> {
        let now = self.now();
        let sid = random_id()?;
        let refresh_token = self.inner.refresh.mint()?;
        let record = RefreshRecord::new(
            TokenHash::of(refresh_token.expose()),
            sid.clone(),
            user_id,
            now,
            now.saturating_add(secs(self.inner.config.refresh_ttl)),
        );
        self.inner
            .store
            .create_session(Session::new(sid.clone(), user_id, now), record)
            .await?;
        let user = match self.inner.store.user_by_id(user_id).await? {
            Some(u) if u.password_hash == expected_hash => u,
            _ => {
                self.revoke_sessions(std::slice::from_ref(&sid)).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        let access_token = self.sign_access(&user, &sid, now, random_id()?)?;
        self.audit(AuditEvent::LoginSucceeded {
            user_id: user.id,
            session_id: sid,
        });
        Ok(LoginOutcome {
            access_token,
            refresh_token,
            user: UserInfo::from(&user),
            expires_in: secs(self.inner.config.access_ttl),
        })
    }

    fn sign_access(
        &self,
        user: &User,
        sid: &str,
        iat: i64,
        jti: String,
    ) -> Result<AccessToken, Error> {
        let c = &self.inner.config;
        let claims = AccessClaims {
            sub: user.id.to_string(),
            sid: sid.to_owned(),
            role: user.role,
            org: user.org.clone(),
            iss: c.issuer.clone(),
            aud: c.audience.clone(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(secs(c.access_ttl)),
            jti,
        };
        self.key_ring().sign(&claims)
    }

    /// Rotates a refresh token: the seed's `POST /api/auth/refresh`. See [`crate::refresh`] for
    /// the rules (single use, grace window, reuse revokes the family).
    pub async fn refresh(&self, token: &RefreshToken) -> Result<RefreshOutcome, Error> {
        let t = token.expose();
        if t.is_empty() || t.len() > MAX_OPAQUE_TOKEN_LEN {
            return Err(Error::InvalidRefreshToken);
        }
        let now = self.now();
        let consumed = self
            .inner
            .store
            .consume_refresh(&TokenHash::of(t), now)
            .await?;
        let grace = secs(self.inner.config.refresh_grace);
        let record = match RefreshTokens::decide(consumed, now, grace) {
            Rotation::Rotate(r) | Rotation::Replay(r) => r,
            Rotation::Reuse(r) => {
                self.revoke_sessions(std::slice::from_ref(&r.session_id))
                    .await?;
                self.audit(AuditEvent::RefreshReuseDetected {
                    user_id: r.user_id,
                    session_id: r.session_id,
                });
                return Err(Error::RefreshTokenReused);
            }
            Rotation::Invalid => return Err(Error::InvalidRefreshToken),
        };
        // Everything below derives from the spend, so the winner of a race and every retry
        // inside the grace window compute the same pair.
        let spent_at = record.spent_at.unwrap_or(now);
        let successor = self.inner.refresh.successor(token);
        let inserted = self
            .inner
            .store
            .insert_refresh(RefreshRecord::new(
                TokenHash::of(successor.expose()),
                record.session_id.clone(),
                record.user_id,
                spent_at,
                spent_at.saturating_add(secs(self.inner.config.refresh_ttl)),
            ))
            .await?;
        if !inserted {
            return Err(Error::InvalidRefreshToken);
        }
        let user = self
            .inner
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        let access_token = self.sign_access(
            &user,
            &record.session_id,
            spent_at,
            self.inner.refresh.successor_jti(token),
        )?;
        self.audit(AuditEvent::Refreshed {
            user_id: user.id,
            session_id: record.session_id,
        });
        Ok(RefreshOutcome {
            access_token,
            refresh_token: successor,
            expires_in: spent_at.saturating_add(secs(self.inner.config.access_ttl)) - now,
        })
    }

    /// Ends sessions everywhere: in the store, then [`publish_revocations`](Self::publish_revocations).
    async fn revoke_sessions(&self, ids: &[String]) -> Result<(), Error> {
        let now = self.now();
        for id in ids {
            self.inner.store.revoke_session(id, now).await?;
        }
        self.publish_revocations(ids).await
    }

    /// Changes a user and ends every session of the user in one store transaction (the
    /// revocation log included), then refuses their access tokens in this process at once.
    /// `false` if the user is unknown.
    async fn change_user_ending_sessions(
        &self,
        user_id: i64,
        change: UserChange,
    ) -> Result<bool, Error> {
        let until = self.revoked_until();
        let Some(ended) = self
            .inner
            .store
            .update_user_ending_sessions(user_id, change, self.now(), until)
            .await?
        else {
            return Ok(false);
        };
        for id in &ended {
            self.inner.revoked.insert(id, until);
        }
        Ok(true)
    }

    /// Until when a revoked session's access tokens must be refused: the last of them expires.
    fn revoked_until(&self) -> i64 {
        self.now()
            .saturating_add(secs(self.inner.config.access_ttl))
            .saturating_add(secs(self.inner.config.leeway))
    }

    /// Refuses the access tokens of sessions already ended in the store: in this process's
    /// revocation set at once, and (through the revocation log) in every other instance within
    /// one poll interval.
    async fn publish_revocations(&self, ids: &[String]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let until = self.revoked_until();
        for id in ids {
            self.inner.revoked.insert(id, until);
        }
        self.inner.store.append_revocations(ids, until).await?;
        Ok(())
    }

    /// Brings the revocation set and the signing keys up to date with the store (a key rotated
    /// by another instance, a retired key whose window closed). The background poller calls it
    /// every `revocation_poll`; hosts may call it too.
    pub async fn sync_revocations(&self) -> Result<(), Error> {
        // Revocations first, and whatever happens to the keys: a key that fails to load must
        // never hold back a logout.
        let revocations = self.sync_revocation_log().await;
        let keys = self.sync_signing_keys().await;
        revocations.and(keys)
    }

    async fn sync_revocation_log(&self) -> Result<(), Error> {
        let mut cursor = self.inner.revocation_cursor.lock().await;
        let now = self.now();
        loop {
            let batch = self
                .inner
                .store
                .revocations_since(*cursor, now, 1000)
                .await?;
            for r in &batch {
                self.inner.revoked.insert(&r.session_id, r.until);
            }
            match batch.last() {
                Some(last) => *cursor = last.cursor,
                None => break,
            }
            if batch.len() < 1000 {
                break;
            }
        }
        self.inner.revoked.prune(now);
        Ok(())
    }

    /// Ends the principal's session: its refresh family, and its access tokens at once.
    pub async fn logout(&self, principal: &Principal) -> Result<(), Error> {
        let PrincipalKind::User { session } = &principal.kind else {
            return Err(Error::Validation(
                "API keys have no session to log out; revoke the key instead",
            ));
        };
        self.revoke_sessions(std::slice::from_ref(session)).await?;
        self.audit(AuditEvent::LoggedOut {
            user_id: principal.user_id,
            session_id: session.clone(),
        });
        Ok(())
    }

    /// Starts a password reset. The answer, and the work done before it, are the same whether or
    /// not the email exists: one lookup, then a background task. For an existing account that task
    /// stores the reset token's hash and hands the token to the mailer, so neither a database
    /// write nor the mail server shows in the answer's timing.
    pub async fn forgot_password(&self, email: &str, client: Option<IpAddr>) -> Result<(), Error> {
        let email = normalize_email(email).ok();
        let limits = self.inner.config.rate_limits;
        self.limit(
            "forgot_password",
            Some(email.as_deref().unwrap_or("<invalid>")),
            client,
            limits.forgot_per_account,
            limits.forgot_per_client,
        )
        .await?;
        let token = ResetToken::new(random_token()?);
        let user = match &email {
            Some(email) => self.inner.store.user_by_email(email).await?,
            None => None,
        };
        let expires_at = self.now().saturating_add(secs(self.inner.config.reset_ttl));
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let Some(user) = user else { return };
            let hash = TokenHash::of(token.expose());
            if let Err(e) = inner
                .store
                .create_reset_token(&hash, user.id, expires_at)
                .await
            {
                tracing::error!(error = %e, user_id = user.id, "reset token not stored; no mail sent");
                return;
            }
            inner
                .audit
                .record(&AuditEvent::PasswordResetRequested { user_id: user.id });
            if let Err(e) = inner
                .mailer
                .send(Mail::password_reset(user.email, token))
                .await
            {
                tracing::error!(error = %e, user_id = user.id, "password-reset mail not delivered");
            }
        });
        Ok(())
    }

    /// Sets a new password with a reset token: the token (and every other pending reset of the
    /// user) is spent, and every session of the user is revoked, their access tokens at once.
    /// A made-up token is refused before any argon2 work; a refused password leaves the token
    /// usable.
    pub async fn reset_password(
        &self,
        token: &ResetToken,
        new_password: &Password,
    ) -> Result<(), Error> {
        let t = token.expose();
        if t.is_empty() || t.len() > MAX_OPAQUE_TOKEN_LEN {
            return Err(Error::InvalidResetToken);
        }
        self.inner.hasher.check_policy(new_password)?;
        let hash = TokenHash::of(t);
        if self
            .inner
            .store
            .reset_token_user(&hash, self.now())
            .await?
            .is_none()
        {
            return Err(Error::InvalidResetToken);
        }
        let password_hash = self.inner.hasher.hash(new_password).await?;
        let user_id = self
            .inner
            .store
            .consume_reset_token(&hash, self.now())
            .await?
            .ok_or(Error::InvalidResetToken)?;
        if !self
            .change_user_ending_sessions(user_id, UserChange::PasswordHash(password_hash))
            .await?
        {
            return Err(Error::InvalidResetToken);
        }
        self.audit(AuditEvent::PasswordReset { user_id });
        Ok(())
    }

    /// The user behind a principal (for an API key: its creator).
    pub async fn me(&self, principal: &Principal) -> Result<UserInfo, Error> {
        let user = self
            .inner
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or(Error::InvalidToken(TokenError::Revoked))?;
        let mut info = UserInfo::from(&user);
        // An API key acts with its own role, which may be lower than its creator's.
        info.role = principal.role;
        Ok(info)
    }

    /// Authenticates a bearer value or cookie value: `osk_`-prefixed values take the API-key path
    /// (checksum offline, then one lookup by hash), anything else the JWT path (no I/O).
    pub async fn authenticate(&self, credential: &str) -> Result<Principal, Error> {
        if credential.is_empty() {
            return Err(Error::MissingCredentials);
        }
        if self.inner.api_keys.looks_like_key(credential) {
            return self.authenticate_api_key(credential).await;
        }
        self.authenticate_jwt(credential)
    }

    /// The JWT path alone: signature, claims, and the in-process revocation set. No I/O.
    pub fn authenticate_jwt(&self, token: &str) -> Result<Principal, Error> {
        let now = self.now();
        let claims = self.key_ring().verify(token, &self.inner.validation, now)?;
        if self.inner.revoked.is_revoked(&claims.sid, now) {
            return Err(Error::InvalidToken(TokenError::Revoked));
        }
        let user_id = claims.sub.parse().map_err(|_| TokenError::Malformed)?;
        Ok(Principal {
            subject: claims.sub,
            user_id,
            org: claims.org,
            role: claims.role,
            kind: PrincipalKind::User {
                session: claims.sid,
            },
        })
    }

    async fn authenticate_api_key(&self, key: &str) -> Result<Principal, Error> {
        let parsed = self.inner.api_keys.parse(key)?;
        let record = self
            .inner
            .store
            .api_key_by_hash(&TokenHash::of(key))
            .await?
            .ok_or(Error::InvalidApiKey)?;
        if record.revoked_at.is_some() || record.environment != parsed.environment {
            return Err(Error::InvalidApiKey);
        }
        // A key acts with at most its creator's current role: demoting (or removing) the creator
        // demotes (or disables) the keys they made.
        let creator = self
            .inner
            .store
            .user_by_id(record.created_by)
            .await?
            .ok_or(Error::InvalidApiKey)?;
        let role = if record.role.is_at_most(creator.role) {
            record.role
        } else {
            creator.role
        };
        let now = self.now();
        if record
            .last_used_at
            .is_none_or(|t| now - t >= TOUCH_INTERVAL)
        {
            self.inner.store.touch_api_key(record.id, now).await?;
        }
        Ok(Principal {
            subject: format!("apikey:{}", record.id),
            user_id: record.created_by,
            org: record.org,
            role,
            kind: PrincipalKind::ApiKey {
                id: record.id,
                environment: record.environment,
            },
        })
    }

    /// Checks a permission: `Ok` or [`Error::Forbidden`] (the seed's 403).
    pub fn require(&self, principal: &Principal, permission: Permission) -> Result<(), Error> {
        self.inner.policy.require(principal.role, permission)
    }

    /// Creates an API key (needs [`Permission::ApiKeysManage`], a user session, and a role no
    /// higher than the creator's; default role: viewer). The plaintext is in the result only.
    pub async fn create_api_key(
        &self,
        creator: &Principal,
        name: &str,
        environment: Environment,
        role: Option<Role>,
    ) -> Result<CreatedApiKey, Error> {
        self.require(creator, Permission::ApiKeysManage)?;
        if !matches!(creator.kind, PrincipalKind::User { .. }) {
            return Err(Error::Validation(
                "API keys are created by users, not by other keys",
            ));
        }
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_KEY_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(Error::Validation("name must be 1-100 printable characters"));
        }
        let role = role.unwrap_or(Role::Viewer);
        if !role.is_at_most(creator.role) {
            return Err(Error::Validation(
                "an API key's role cannot exceed its creator's",
            ));
        }
        let minted = self.inner.api_keys.mint(environment)?;
        let record = self
            .inner
            .store
            .create_api_key(NewApiKey {
                name: name.to_owned(),
                hash: minted.hash,
                prefix: minted.display_prefix,
                environment,
                role,
                org: creator.org.clone(),
                created_by: creator.user_id,
                created_at: self.now(),
            })
            .await?;
        self.audit(AuditEvent::ApiKeyCreated {
            key_id: record.id,
            environment,
            role,
            by: creator.user_id,
        });
        Ok(CreatedApiKey {
            key: minted.key,
            info: ApiKeyInfo::from(&record),
        })
    }

    /// The organization's keys, without secrets (needs [`Permission::ApiKeysManage`]).
    pub async fn list_api_keys(&self, principal: &Principal) -> Result<Vec<ApiKeyInfo>, Error> {
        self.require(principal, Permission::ApiKeysManage)?;
        let keys = self
            .inner
            .store
            .list_api_keys(principal.org.as_deref())
            .await?;
        Ok(keys.iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes a key, effective at once (needs [`Permission::ApiKeysManage`]). A key of another
    /// organization, or an unknown id, is [`Error::NotFound`].
    pub async fn revoke_api_key(&self, principal: &Principal, id: i64) -> Result<(), Error> {
        self.require(principal, Permission::ApiKeysManage)?;
        let key = self
            .inner
            .store
            .api_key_by_id(id)
            .await?
            .ok_or(Error::NotFound)?;
        if key.org != principal.org || key.revoked_at.is_some() {
            return Err(Error::NotFound);
        }
        self.inner.store.revoke_api_key(id, self.now()).await?;
        self.audit(AuditEvent::ApiKeyRevoked {
            key_id: id,
            by: principal.user_id,
        });
        Ok(())
    }

    /// Every user (needs [`Permission::UsersManage`]).
    pub async fn list_users(&self, principal: &Principal) -> Result<Vec<UserInfo>, Error> {
        self.require(principal, Permission::UsersManage)?;
        let users = self
            .inner
            .store
            .list_users(principal.org.as_deref())
            .await?;
        Ok(users.iter().map(UserInfo::from).collect())
    }

    /// Changes a user's role (needs [`Permission::UsersManage`]) and revokes their sessions, so no
    /// token carrying the old role survives.
    pub async fn set_role(
        &self,
        admin: &Principal,
        user_id: i64,
        role: Role,
    ) -> Result<UserInfo, Error> {
        self.require(admin, Permission::UsersManage)?;
        let user = self
            .inner
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound)?;
        if user.org != admin.org {
            return Err(Error::NotFound);
        }
        // The role and the end of the user's sessions commit together: a crash between them
        // cannot leave tokens of the old role alive.
        if !self
            .change_user_ending_sessions(user_id, UserChange::Role(role))
            .await?
        {
            return Err(Error::NotFound);
        }
        self.audit(AuditEvent::RoleChanged {
            user_id,
            role,
            by: admin.user_id,
        });
        let mut info = UserInfo::from(&user);
        info.role = role;
        Ok(info)
    }
}
