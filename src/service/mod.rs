//! [`AuthService`]: every flow of the seed, composed from the primitives over a [`Store`].
//!
//! Framework-agnostic: the axum and actix adapters only translate HTTP to these calls. One file
//! per family of flows:
//!
//! | file | flows |
//! |---|---|
//! | `builder.rs` | [`AuthServiceBuilder`]: configuration checks, key setup, the revocation poller |
//! | `signing.rs` | the key ring: rotation, sync with the store, the JWKS |
//! | `sessions.rs` | register, login, refresh, logout, and JWT authentication |
//! | `resets.rs` | forgot-password and reset-password |
//! | `api_keys.rs` | API-key creation, listing, revocation, and API-key authentication |
//! | `users.rs` | seeding users, `me`, listing users, role changes, removal |
//! | `import.rs` | importing users with a plaintext or another system's hash; `POST /api/users` |
//! | `account.rs` | a signed-in user's own account: sessions, logout scopes, password change |
//! | `verification.rs` | email verification: the mailed token, verifying, resending |
//! | `cleanup.rs` | deleting rows that can no longer matter: the janitor and [`AuthService::purge_expired`] |

use std::net::IpAddr;
use std::sync::Arc;

use crate::api_key::ApiKeyFormat;
use crate::audit::{AuditEvent, AuditSink};
use crate::cache::tokens::TokenCache;
use crate::clock::Clock;
use crate::config::{AuthConfig, RateLimit, RateLimits};
use crate::email::{Email, MAX_EMAIL_LEN};
use crate::error::Error;
use crate::mail::Mailer;
use crate::password::PasswordHasher;
use crate::principal::Principal;
use crate::rate_limit::{RateLimiter, client_bucket};
use crate::rbac::{Permission, Policy};
use crate::refresh::RefreshTokens;
use crate::revocation::Revocations;
use crate::store::{Store, User};
use crate::token::Validation;
use std::time::Duration;

mod account;
mod api_keys;
mod authenticate;
mod background;
mod builder;
mod cleanup;
mod import;
mod resets;
mod sessions;
mod signing;
mod users;
mod verification;

pub use account::{LogoutScope, SessionInfo};
pub use api_keys::{ApiKeyInfo, CreatedApiKey};
pub use builder::AuthServiceBuilder;
pub use cleanup::CleanupReport;
pub use import::{ImportOptions, ImportRecord};
pub use sessions::{ClientInfo, LoginOutcome, RefreshOutcome, SignUp};
pub use users::UserInfo;

struct Inner {
    config: AuthConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    signing: signing::Signing,
    validation: Validation,
    api_keys: ApiKeyFormat,
    refresh: RefreshTokens,
    policy: Policy,
    revocations: Revocations,
    /// Verified access tokens; `None` when turned off.
    token_cache: Option<TokenCache>,
    limiter: Arc<dyn RateLimiter>,
    audit: Arc<dyn AuditSink>,
    mailer: Arc<dyn Mailer>,
    /// The periodic tasks and detached jobs, and the signal that stops them.
    background: background::Background,
}

/// The authentication service. Cheap to clone; share one per process.
///
/// Build it with [`AuthService::builder`] from an [`AuthConfig`](crate::AuthConfig) and a store;
/// the builder also takes the host's [`Policy`], mailer, audit sink, clock and rate limiter.
///
/// ```
/// use std::sync::Arc;
/// use assimetria_auth::{AuthConfig, AuthService, MemoryStore, Password, rbac::seed};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), assimetria_auth::Error> {
/// let auth = AuthService::builder(AuthConfig::default(), Arc::new(MemoryStore::new()))
///     .policy(seed::policy())
///     .build()
///     .await?;
/// let password = Password::new("correct horse battery");
/// let login = auth.register("ada@example.com", &password, None).await?;
/// let principal = auth.authenticate(login.access_token.expose()).await?;
/// assert_eq!(principal.role, seed::VIEWER);
/// # Ok(())
/// # }
/// ```
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

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl AuthService {
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

    /// How many argon2 computations this service has run: a test hook for "no hash was
    /// computed" assertions. Not part of the stable API.
    #[doc(hidden)]
    pub fn password_computations(&self) -> u64 {
        self.inner.hasher.computations()
    }

    /// How many argon2 computations this service has run, counting the argon2id work a login
    /// against an imported hash does besides its own scheme's: a test hook. Not part of the
    /// stable API.
    #[doc(hidden)]
    pub fn password_argon2_runs(&self) -> u64 {
        self.inner.hasher.argon2_runs()
    }

    /// Whether a stored PHC hash already has this service's argon2 parameters (so a login would
    /// not re-hash it): a test hook. Not part of the stable API.
    #[doc(hidden)]
    pub fn password_hash_is_current(&self, phc: &str) -> bool {
        !self.inner.hasher.needs_rehash(phc)
    }

    /// The API-key format of this deployment (its configured prefix), for classifying a value.
    pub(crate) fn api_key_format(&self) -> &ApiKeyFormat {
        &self.inner.api_keys
    }

    /// Whether `other` is this very service (a clone of it), not merely one configured alike.
    pub(crate) fn same_as(&self, other: &AuthService) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Checks a permission: `Ok` or [`Error::Forbidden`] (the seed's 403).
    pub fn require(
        &self,
        principal: &Principal,
        permission: impl Into<Permission>,
    ) -> Result<(), Error> {
        let permission = permission.into();
        if self.inner.policy.allows(&principal.role, permission) {
            Ok(())
        } else {
            Err(Error::Forbidden(permission))
        }
    }

    /// Brings the revocation set and the signing keys up to date with the store (a logout on
    /// another instance, a key rotated there, a retired key whose window closed). The background
    /// poller calls it every `revocation_poll`; hosts may call it too.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn sync_revocations(&self) -> Result<(), Error> {
        // Revocations first, and whatever happens to the keys: a key that fails to load must
        // never hold back a logout.
        let revocations = self.inner.revocations.sync(self.now()).await;
        let keys = self.sync_signing_keys().await;
        revocations.and(keys)
    }

    /// Ends the service's background work, for a host that is shutting down: call it once the
    /// server has stopped taking requests and the requests in flight have finished.
    ///
    /// The background tasks stop (a revocation sync or a write in progress completes first; the
    /// cleanup janitor stops after the batch it is deleting, and the next purge carries on), the
    /// mail jobs that resets and registrations started are awaited (at most 10 s), the API keys'
    /// pending last-use times are written ([`flush`](Self::flush)), and the audit sink is
    /// flushed ([`AuditSink::flush`]). The service still answers calls afterwards, but nothing
    /// runs in the background any more; calling it again only flushes.
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.background.stop(SHUTDOWN_PATIENCE).await;
        let flushed = self.flush().await;
        self.inner.audit.flush();
        flushed
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    fn audit(&self, event: AuditEvent) {
        self.inner.audit.record(&event);
    }

    /// Applies the limits of `action`: the client address first, then (only for requests that
    /// passed it, and for actions counted per account) the account, so a refused client cannot
    /// grow the table with made-up emails. An email that is not an address counts under one
    /// shared key, like any unknown account.
    async fn limit(
        &self,
        action: Limited,
        email: Option<&Email>,
        client: Option<IpAddr>,
    ) -> Result<(), Error> {
        let limits = &self.inner.config.rate_limits;
        if !limits.enabled {
            return Ok(());
        }
        let (per_account, per_client) = action.limits(limits);
        let now = self.now();
        let limiter = &self.inner.limiter;
        let name = action.name();
        let mut result = Ok(());
        if let Some(ip) = client {
            let key = format!("{name}:client:{}", client_bucket(ip));
            result = limiter.hit(&key, per_client, now).await;
        }
        if let (Ok(()), Some(per_account)) = (&result, per_account) {
            // Bounded key size: a 60 KiB "email" must not become a 60 KiB key.
            let account = email.map_or("<invalid>", |e| truncate(e.as_str(), MAX_EMAIL_LEN));
            let key = format!("{name}:account:{account}");
            result = limiter.hit(&key, per_account, now).await;
        }
        result.map_err(|retry_after| {
            action.count_refusal();
            self.audit(AuditEvent::RateLimited { action: name });
            Error::RateLimited { retry_after }
        })
    }

    /// The prelude of every flow that names an account by email (login, forgot-password): the
    /// text becomes an [`Email`] (or `None` if it cannot be one: same answer, same work, and it
    /// never reaches the store), the limits apply, then the user is looked up.
    async fn account_attempt(
        &self,
        action: Limited,
        email: &str,
        client: Option<IpAddr>,
    ) -> Result<(Option<Email>, Option<User>), Error> {
        let email = Email::parse(email).ok();
        self.limit(action, email.as_ref(), client).await?;
        let user = match &email {
            Some(email) => self.inner.store.user_by_email(email.as_str()).await?,
            None => None,
        };
        Ok((email, user))
    }
}

/// How long [`AuthService::shutdown`] waits for mail jobs still running.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// The rate-limited actions.
#[derive(Debug, Clone, Copy)]
enum Limited {
    Login,
    ForgotPassword,
    Register,
    ResendVerification,
    VerifyEmail,
}

impl Limited {
    /// The name in limiter keys and audit events.
    fn name(self) -> &'static str {
        match self {
            Limited::Login => "login",
            Limited::ForgotPassword => "forgot_password",
            Limited::Register => "register",
            Limited::ResendVerification => "resend_verification",
            Limited::VerifyEmail => "verify_email",
        }
    }

    /// Counts a refusal in [`RATE_LIMITED`](crate::observe::RATE_LIMITED), labelled with
    /// [`name`](Self::name) (written out: a literal label costs no allocation).
    fn count_refusal(self) {
        use crate::observe::RATE_LIMITED;
        let counter = match self {
            Limited::Login => ::metrics::counter!(RATE_LIMITED, "action" => "login"),
            Limited::ForgotPassword => {
                ::metrics::counter!(RATE_LIMITED, "action" => "forgot_password")
            }
            Limited::Register => ::metrics::counter!(RATE_LIMITED, "action" => "register"),
            Limited::ResendVerification => {
                ::metrics::counter!(RATE_LIMITED, "action" => "resend_verification")
            }
            Limited::VerifyEmail => ::metrics::counter!(RATE_LIMITED, "action" => "verify_email"),
        };
        counter.increment(1);
    }

    /// The per-account limit (none for registration: the account does not exist yet) and the
    /// per-client one.
    fn limits(self, l: &RateLimits) -> (Option<RateLimit>, RateLimit) {
        match self {
            Limited::Login => (Some(l.login_per_account), l.login_per_client),
            Limited::ForgotPassword => (Some(l.forgot_per_account), l.forgot_per_client),
            Limited::Register => (None, l.register_per_client),
            Limited::ResendVerification => (
                Some(l.resend_verification_per_account),
                l.resend_verification_per_client,
            ),
            Limited::VerifyEmail => (None, l.verify_email_per_client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Limited;
    use metrics_util::debugging::DebuggingRecorder;

    /// The refusal counter's label is written out per action (a literal allocates nothing); it
    /// must stay the action's name, which the limiter keys and audit events use.
    #[test]
    fn each_refusal_is_counted_under_its_actions_name() {
        use Limited::*;
        for action in [
            Login,
            ForgotPassword,
            Register,
            ResendVerification,
            VerifyEmail,
        ] {
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            metrics::with_local_recorder(&recorder, || action.count_refusal());
            let labels: Vec<(String, String)> = snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .flat_map(|(key, ..)| {
                    let (_, labels) = key.key().clone().into_parts();
                    labels
                        .into_iter()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(
                labels,
                [("action".to_owned(), action.name().to_owned())],
                "{action:?}"
            );
        }
    }
}
