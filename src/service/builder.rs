//! [`AuthServiceBuilder`]: checks the configuration, sets up the keys, starts the poller.

use std::sync::Arc;

use crate::api_key::ApiKeyFormat;
use crate::audit::{AuditSink, TracingAudit};
use crate::cache::api_keys::KeyCache;
use crate::cache::tokens::TokenCache;
use crate::clock::{Clock, SystemClock, secs};
use crate::config::AuthConfig;
use crate::error::{ConfigError, Error};
use crate::keys::{self, Sealer};
use crate::mail::{DiscardMailer, Mailer};
use crate::password::PasswordHasher;
use crate::rate_limit::{MemoryRateLimiter, RateLimiter};
use crate::rbac::Policy;
use crate::refresh::RefreshTokens;
use crate::revocation::Revocations;
use crate::store::Store;
use crate::token::{KeyAlgorithm, KeyRing, Validation};

use super::background::Background;
use super::signing::Signing;
use super::{AuthService, Inner};

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
    revocation_polling: bool,
    revocation_push: bool,
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
            revocation_polling: true,
            revocation_push: true,
        }
    }
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

    /// Sets the roles and permissions (default: the seed's, [`seed::policy`](crate::rbac::seed::policy)).
    /// `build` refuses a policy without roles or with a malformed role name
    /// ([`ConfigError::Policy`]), and one that does not define the configuration's
    /// `default_role` (`viewer` unless set; [`ConfigError::DefaultRole`]).
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

    /// Whether to read the store's revocation log every
    /// [`revocation_poll`](AuthConfig::revocation_poll) (default: on).
    ///
    /// Where the store announces appends to the log ([`RevocationStore::revocation_feed`]:
    /// `SqlStore` on PostgreSQL, through LISTEN/NOTIFY), the service reads the log as soon as an
    /// announcement arrives, and polling is only the fallback for a lost feed connection (while
    /// the feed is down and being reopened, each attempt reads the log as well). Off, the log is
    /// read only when announced (push only), which saves one query per instance and interval but
    /// leaves nothing to catch a missed announcement before the feed's next reconnect: meant for
    /// tests and benchmarks that must show the push works on its own. The signing keys are read
    /// with the log, so a key rotated elsewhere arrives the same way.
    ///
    /// A store that cannot announce appends (SQLite, [`MemoryStore`](crate::store::memory::MemoryStore))
    /// is polled whatever this says, and `build` logs a warning if it is off.
    ///
    /// [`RevocationStore::revocation_feed`]: crate::store::RevocationStore::revocation_feed
    pub fn revocation_polling(mut self, on: bool) -> Self {
        self.revocation_polling = on;
        self
    }

    /// Whether to follow the store's announcements of revocation-log appends, where it makes
    /// them (default: on). On PostgreSQL this holds one more connection per instance, listening;
    /// turn it off where LISTEN cannot work, e.g. behind a pooler in transaction mode (PgBouncer),
    /// and polling alone keeps the instances in step.
    pub fn revocation_push(mut self, on: bool) -> Self {
        self.revocation_push = on;
        self
    }

    /// Validates the configuration, loads (or creates) the keys, loads the revocation log and
    /// starts the background tasks (the revocation poller, the writer of API keys' last-use
    /// times, the cleanup janitor), which end at [`AuthService::shutdown`] or when the last clone
    /// of the service is dropped. Must run inside a tokio runtime.
    pub async fn build(self) -> Result<AuthService, Error> {
        let mut config = self.config;
        config.validate()?;
        let now = self.clock.now();
        let store = self.store;

        let sealer = Sealer::new(&config.master_keys)?;
        if sealer.is_ephemeral() {
            tracing::warn!(
                "no master key configured: signing keys are sealed under a key of this process \
                 only, so a restart or another instance cannot open them; set \
                 AuthConfig::master_keys for a persistent store"
            );
        }
        if let Err(e) = self.policy.validate() {
            tracing::error!(error = %e, "the policy cannot be used");
            return Err(ConfigError::Policy.into());
        }
        let default_role = self.policy.known(config.default_role.clone());
        config.default_role = default_role.map_err(|_| ConfigError::DefaultRole)?;
        let refresh = RefreshTokens::new(
            &keys::refresh_secret(&*store, &sealer, now).await?,
            secs(config.refresh_ttl),
            secs(config.refresh_grace),
        )?;
        let signing =
            Signing::load(&*store, sealer, self.algorithm, self.key_ring, now, &config).await?;
        let token_lifetime = secs(config.access_ttl).saturating_add(secs(config.leeway));

        let inner = Arc::new(Inner {
            hasher: PasswordHasher::from_config(&config)?,
            validation: Validation::from_config(&config),
            api_keys: ApiKeyFormat::new(&config.api_key_prefix)?,
            revocations: Revocations::new(
                Arc::clone(&store),
                token_lifetime,
                KeyCache::new(config.caches.api_keys, secs(config.caches.api_key_ttl)),
            ),
            token_cache: TokenCache::new(config.caches.tokens),
            config,
            store,
            clock: self.clock,
            signing,
            refresh,
            policy: self.policy,
            limiter: self.limiter,
            audit: self.audit,
            mailer: self.mailer,
            background: Background::new(),
        });
        let service = AuthService { inner };
        // The feed opens before the first read of the log: nothing appended in between is missed.
        let feed = if self.sync_revocations && self.revocation_push {
            service.inner.store.revocation_feed().await.transpose()
        } else {
            None
        };
        service.sync_revocations().await?;
        if self.sync_revocations {
            start_revocation_sync(&service, feed, self.revocation_polling);
        }
        // API keys' last-use times, coalesced in memory, are written in one batch per interval.
        service.inner.background.spawn_periodic(
            Arc::downgrade(&service.inner),
            |inner| inner.config.caches.last_used_flush,
            None,
            |inner| async move {
                if let Err(e) = (AuthService { inner }).flush().await {
                    tracing::warn!(error = %e, "writing API keys' last use failed; will retry");
                }
            },
        );
        // Rows that can no longer matter are deleted at a random point of the first interval
        // (instances started together spread out, and one restarted often still runs it), then
        // every interval.
        if service.inner.config.cleanup.janitor {
            service.inner.background.spawn_periodic_spread(
                Arc::downgrade(&service.inner),
                |inner| inner.config.cleanup.effective_interval(),
                |inner| async move { AuthService { inner }.janitor_run().await },
            );
        }
        Ok(service)
    }
}

/// Starts the revocation poller, woken by the store's feed when there is one (`feed`: the feed,
/// or the error opening it); timed polling unless `polling` is off and the store can push.
fn start_revocation_sync(
    service: &AuthService,
    feed: Option<Result<Box<dyn crate::store::RevocationFeed>, crate::error::StoreError>>,
    polling: bool,
) {
    let background = &service.inner.background;
    let wake = Arc::new(tokio::sync::Notify::new());
    let tick = |inner| async move {
        let service = AuthService { inner };
        if let Err(e) = service.sync_revocations().await {
            tracing::warn!(error = %e, "revocation sync failed; will retry");
        }
    };
    let target = Arc::downgrade(&service.inner);
    match feed {
        Some(first) => {
            let store = Arc::clone(&service.inner.store);
            background.spawn_until_stopped(crate::revocation::follow(
                store,
                first,
                Arc::clone(&wake),
            ));
            if polling {
                let interval = |inner: &Inner| inner.config.revocation_poll;
                background.spawn_periodic(target, interval, Some(wake), tick);
            } else {
                background.spawn_on_wake(target, wake, tick);
            }
        }
        None => {
            if !polling {
                tracing::warn!(
                    "revocation polling was turned off, but the store does not announce \
                     revocations (or push is off): polling anyway"
                );
            }
            let interval = |inner: &Inner| inner.config.revocation_poll;
            background.spawn_periodic(target, interval, None, tick);
        }
    }
}
