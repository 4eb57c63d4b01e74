//! [`AuthConfig`]: every knob, with safe defaults.
//!
//! | setting | default | why |
//! |---|---|---|
//! | issuer / audience | `assimetria-auth` / `assimetria-api` | checked on every access token |
//! | access token lifetime | 24 h | the seed |
//! | refresh token lifetime | 30 days | a login lasts a month of inactivity at most |
//! | refresh grace window | 10 s | two tabs refreshing at once, a lost response; 0 disables |
//! | reset token lifetime | 1 h | |
//! | clock leeway | 30 s | small skew between hosts; at most 5 minutes is accepted |
//! | cookie | `assimetria_jwt`; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=86400 | the seed |
//! | password policy | 8 characters to 1024 bytes | the upper bound stops huge inputs burning CPU |
//! | argon2id | m = 19456 KiB, t = 2, p = 1 | OWASP's minimum; lower is refused |
//! | hashes at once | the available cores | each holds ~19 MiB |
//! | hash queue | 256 waiting | beyond it: `503`, never unbounded memory |
//! | API key prefix | `osk` | the seed's `osk_live_…` / `osk_test_…` |
//! | role of new users | viewer | the seed: use the minimum role |
//! | request body limit | 64 KiB | `413` beyond |
//! | login limit | 10 a minute per account, 50 per client address | `429` with `Retry-After` |
//! | forgot-password limit | 5 an hour per account, 20 a minute per client address | |
//! | registration limit | 20 an hour per client address | each costs an argon2 hash |
//! | trusted proxies | none: the client address is the TCP peer, forwarding headers are ignored | a header from anyone else is the client's own claim |
//! | forwarding header | `X-Forwarded-For` (read only from trusted proxies) | what most proxies set; `Forwarded` (RFC 7239) on request |
//! | cleanup | a janitor every hour, 1000 rows a batch | rows that can no longer matter are deleted; no answer changes |

use std::time::Duration;

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), from the `ipnet` crate.
pub use ipnet::IpNet;

mod cleanup;

pub use cleanup::CleanupConfig;

use crate::cache::CacheConfig;
use crate::error::{ConfigError, Error};
use crate::keys::MasterKey;
use crate::rbac::{Role, seed};

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations (the seed's choice).
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent everywhere; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The browser cookie that carries the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieConfig {
    /// Cookie name; the seed's is `assimetria_jwt`.
    pub name: String,
    /// The `Secure` attribute. Turn off only for plain-HTTP development.
    pub secure: bool,
    /// The `SameSite` attribute.
    pub same_site: SameSite,
    /// The `Path` attribute.
    pub path: String,
    /// The `Domain` attribute, if any.
    pub domain: Option<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "assimetria_jwt".into(),
            secure: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
        }
    }
}

/// Rules a new password must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordPolicy {
    /// Fewest characters (Unicode scalar values).
    pub min_chars: usize,
    /// Most bytes (UTF-8). Bounds the work a single login can demand.
    pub max_bytes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_bytes: 1024,
        }
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Iterations (`t`).
    pub iterations: u32,
    /// Parallelism (`p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's minimum for argon2id: m = 19456 KiB, t = 2, p = 1.
    pub const OWASP_MINIMUM: Argon2Params = Argon2Params {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

impl Argon2Params {
    /// The most work one verification may cost, as memory (KiB) × iterations: 1 GiB·pass (64 MiB
    /// × 16, or 256 MiB × 4). A stored or imported argon2 hash asking for more is refused, so no
    /// hash can hold a hashing worker for long; the configured costs must fit too.
    pub const MAX_WORK_KIB: u64 = 1 << 20;

    /// `Err` unless at least [`OWASP_MINIMUM`](Self::OWASP_MINIMUM) in memory and iterations,
    /// with at least one lane, and at most [`MAX_WORK_KIB`](Self::MAX_WORK_KIB) of work.
    pub fn check(&self) -> Result<(), Error> {
        let min = Self::OWASP_MINIMUM;
        if self.memory_kib < min.memory_kib
            || self.iterations < min.iterations
            || self.parallelism < 1
        {
            return Err(Error::Config(ConfigError::WeakArgon2Params));
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) > Self::MAX_WORK_KIB {
            return Err(Error::Config(ConfigError::InvalidArgon2Params));
        }
        Ok(())
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP_MINIMUM
    }
}

/// A fixed-window limit: at most `max` attempts per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts allowed in one window.
    pub max: u32,
    /// The window's length.
    pub window: Duration,
}

impl RateLimit {
    /// `max` attempts per `window`.
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }
}

/// The limits applied to login, registration and forgot-password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Whether limiting is on at all.
    pub enabled: bool,
    /// Login attempts per account (email).
    pub login_per_account: RateLimit,
    /// Login attempts per client address.
    pub login_per_client: RateLimit,
    /// Forgot-password requests per account (email).
    pub forgot_per_account: RateLimit,
    /// Forgot-password requests per client address.
    pub forgot_per_client: RateLimit,
    /// Registrations per client address (each costs an argon2 hash).
    pub register_per_client: RateLimit,
    /// Verification mails asked for again, per account.
    pub resend_verification_per_account: RateLimit,
    /// Verification mails asked for again, per client address.
    pub resend_verification_per_client: RateLimit,
    /// Verification-token submissions per client address (`POST /api/auth/verify-email`).
    pub verify_email_per_client: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            login_per_account: RateLimit::new(10, Duration::from_secs(60)),
            login_per_client: RateLimit::new(50, Duration::from_secs(60)),
            forgot_per_account: RateLimit::new(5, Duration::from_secs(3600)),
            forgot_per_client: RateLimit::new(20, Duration::from_secs(60)),
            register_per_client: RateLimit::new(20, Duration::from_secs(3600)),
            resend_verification_per_account: RateLimit::new(5, Duration::from_secs(3600)),
            resend_verification_per_client: RateLimit::new(20, Duration::from_secs(60)),
            verify_email_per_client: RateLimit::new(20, Duration::from_secs(60)),
        }
    }
}

/// The header a trusted proxy names the client in. Configure the one your proxies set: the other
/// passes through them as the client sent it, so reading it would let any client choose its
/// address (and its rate-limit bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`: what nginx, HAProxy, Envoy and most cloud load
    /// balancers append to. The default.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower-case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// Everything [`AuthService`](crate::AuthService) and the adapters need to know.
/// Build one with [`AuthConfig::builder`]; [`AuthConfig::default`] is the table above.
///
/// ```
/// use std::time::Duration;
/// use assimetria_auth::{AuthConfig, MasterKey};
///
/// let config = AuthConfig::builder()
///     .access_ttl(Duration::from_secs(15 * 60))
///     .allowed_origins(vec!["https://app.example.com".into()])
///     .master_keys(vec![MasterKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?])
///     .build()?;
/// assert_eq!(config.access_ttl, Duration::from_secs(900));
/// # Ok::<(), assimetria_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    /// `iss` of issued tokens, and the only issuer accepted.
    pub issuer: String,
    /// `aud` of issued tokens, and the audience required.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime (each rotation starts it again).
    pub refresh_ttl: Duration,
    /// Window in which a retry with a just-spent refresh token returns the same successor pair.
    pub refresh_grace: Duration,
    /// Password-reset token lifetime.
    pub reset_ttl: Duration,
    /// Email-verification token lifetime (default 24 h).
    pub verification_ttl: Duration,
    /// Whether registration mails a verification link ([`MailKind::VerifyEmail`]). Off by
    /// default, so that a host whose mailer knows only reset mails is sent no other kind;
    /// [`require_verified_email`](Self::require_verified_email) turns it on.
    ///
    /// [`MailKind::VerifyEmail`]: crate::mail::MailKind::VerifyEmail
    pub email_verification: bool,
    /// Whether login refuses a user whose email address is not verified (`403
    /// email_not_verified`, after the same password work as any login). Off by default. When on,
    /// registration creates the account and mails the link but signs nobody in.
    pub require_verified_email: bool,
    /// Whether the refresh token travels in an httpOnly cookie (`assimetria_refresh`, `Path=/api/auth`,
    /// `SameSite=Strict`) instead of the JSON body, for single-page apps whose scripts should
    /// never read it. Off by default (the seed's bodies).
    pub refresh_cookie: bool,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// The access-token cookie.
    pub cookie: CookieConfig,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
    /// argon2id costs for new hashes (older hashes are upgraded at login).
    pub argon2: Argon2Params,
    /// How many argon2 computations may run at once.
    pub hash_concurrency: usize,
    /// How many more may wait for a slot before callers get [`Error::Overloaded`].
    pub hash_queue: usize,
    /// The API-key prefix before `_live_` / `_test_`.
    pub api_key_prefix: String,
    /// The role given to newly registered users.
    pub default_role: Role,
    /// Origins (`scheme://host[:port]`, as browsers send them in `Origin`) besides the request's
    /// own that may send cookie-authenticated writes, and whose pages may read the answers (the
    /// adapters' CORS, with credentials). `*`, `null`, or anything with a path is refused when
    /// the configuration is validated: with credentials they would hand the user's session to
    /// every page, or every sandboxed one.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Login, registration and forgot-password limits.
    pub rate_limits: RateLimits,
    /// How often the in-process revocation set (and the signing keys) are brought up to date
    /// from the store.
    pub revocation_poll: Duration,
    /// Key-encryption keys for the signing keys and server secrets kept in the store: the first
    /// seals, every one opens (see [`MasterKey`]). Empty (the default): a random key of this
    /// process only, which suits the memory store; a persistent store needs one.
    pub master_keys: Vec<MasterKey>,
    /// Networks of the reverse proxies in front of the service. Only a connection from one of
    /// them has its [`forwarded_header`](Self::forwarded_header) read for the client address (see
    /// [`http::client_address`](crate::http::client_address)); empty (the default) ignores
    /// forwarding headers and counts every client by its TCP peer address.
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header the trusted proxies set (default `X-Forwarded-For`).
    pub forwarded_header: ForwardedHeader,
    /// The in-process caches of verified tokens and API keys (sizes, off-switches).
    pub caches: CacheConfig,
    /// The janitor that deletes rows that can no longer matter (on by default, hourly).
    pub cleanup: CleanupConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "assimetria-auth".into(),
            audience: "assimetria-api".into(),
            access_ttl: Duration::from_secs(24 * 3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            reset_ttl: Duration::from_secs(3600),
            verification_ttl: Duration::from_secs(24 * 3600),
            email_verification: false,
            require_verified_email: false,
            refresh_cookie: false,
            leeway: Duration::from_secs(30),
            cookie: CookieConfig::default(),
            password_policy: PasswordPolicy::default(),
            argon2: Argon2Params::default(),
            hash_concurrency: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            hash_queue: 256,
            api_key_prefix: "osk".into(),
            default_role: seed::VIEWER,
            allowed_origins: Vec::new(),
            body_limit: 64 * 1024,
            rate_limits: RateLimits::default(),
            revocation_poll: Duration::from_millis(250),
            master_keys: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            caches: CacheConfig::default(),
            cleanup: CleanupConfig::default(),
        }
    }
}

impl AuthConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> AuthConfigBuilder {
        AuthConfigBuilder(Self::default())
    }

    /// Checks the invariants [`AuthConfigBuilder::build`] enforces.
    pub fn validate(&self) -> Result<(), Error> {
        self.argon2.check()?;
        if self.leeway > Duration::from_secs(300) {
            return Err(Error::Config(ConfigError::Leeway));
        }
        if self.access_ttl.as_secs() == 0
            || self.refresh_ttl.as_secs() == 0
            || self.verification_ttl.as_secs() == 0
        {
            return Err(Error::Config(ConfigError::TokenLifetime));
        }
        if self.hash_concurrency == 0 {
            return Err(Error::Config(ConfigError::HashConcurrency));
        }
        if self.password_policy.min_chars == 0
            || self.password_policy.max_bytes < self.password_policy.min_chars
        {
            return Err(Error::Config(ConfigError::PasswordPolicy));
        }
        crate::api_key::ApiKeyFormat::new(&self.api_key_prefix)?;
        if self.cookie.same_site == SameSite::None && !self.cookie.secure {
            return Err(Error::Config(ConfigError::InsecureSameSiteNone));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(Error::Config(ConfigError::IssuerAudience));
        }
        if !self.caches.is_valid() {
            return Err(Error::Config(ConfigError::Caches));
        }
        if !self.allowed_origins.iter().all(|o| is_origin(o)) {
            return Err(Error::Config(ConfigError::AllowedOrigin));
        }
        // `::ffff:0:0/96` and wider hold every IPv4 address, mapped.
        let every_ipv4 = std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped();
        if self.trusted_proxies.iter().any(|net| match net {
            IpNet::V4(v4) => v4.prefix_len() == 0,
            IpNet::V6(v6) => {
                v6.prefix_len() == 0 || (v6.prefix_len() <= 96 && v6.contains(&every_ipv4))
            }
        }) {
            return Err(Error::Config(ConfigError::TrustEveryAddress));
        }
        Ok(())
    }
}

/// Whether `s` is a serialized origin, `scheme://host[:port]`: nothing after the authority, no
/// wildcard, no user part. (`null` and `*` are not.)
fn is_origin(s: &str) -> bool {
    let Some((scheme, authority)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#@*".contains(&b));
    scheme_ok && authority_ok
}

/// Builds an [`AuthConfig`]; every setter is optional.
#[derive(Debug, Clone)]
pub struct AuthConfigBuilder(AuthConfig);

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$m])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.0.$name = value;
                self
            }
        )*
    };
}

impl AuthConfigBuilder {
    setters! {
        /// Sets the access-token lifetime.
        access_ttl: Duration,
        /// Sets the refresh-token lifetime.
        refresh_ttl: Duration,
        /// Sets the refresh grace window (zero disables it).
        refresh_grace: Duration,
        /// Sets the reset-token lifetime.
        reset_ttl: Duration,
        /// Sets the email-verification token lifetime.
        verification_ttl: Duration,
        /// Sets whether registration mails a verification link (default off).
        email_verification: bool,
        /// Sets whether login needs a verified email address (default off; on, it also mails
        /// verification links at registration).
        require_verified_email: bool,
        /// Sets whether the refresh token travels in an httpOnly cookie instead of the body
        /// (default off).
        refresh_cookie: bool,
        /// Sets the clock leeway (at most 5 minutes).
        leeway: Duration,
        /// Sets the cookie settings.
        cookie: CookieConfig,
        /// Sets the password policy.
        password_policy: PasswordPolicy,
        /// Sets argon2id costs (not below OWASP's minimum).
        argon2: Argon2Params,
        /// Sets how many hashes may run at once.
        hash_concurrency: usize,
        /// Sets how many hash requests may wait.
        hash_queue: usize,
        /// Sets the role of newly registered users.
        default_role: Role,
        /// Sets the origins allowed to send cookie writes and read answers (CORS).
        allowed_origins: Vec<String>,
        /// Sets the request body limit in bytes.
        body_limit: usize,
        /// Sets the login, registration and forgot-password limits.
        rate_limits: RateLimits,
        /// Sets the revocation polling interval.
        revocation_poll: Duration,
        /// Sets the networks of the reverse proxies in front of the service (default none).
        ///
        /// A request whose TCP peer is in one of them takes its client address from the
        /// [`forwarded_header`](Self::forwarded_header): the rightmost address that is not itself
        /// a trusted proxy. List only addresses that really are your proxies (a bare address is
        /// a `/32` or `/128` network): a peer listed here can name any client address. A network
        /// holding every address (`0.0.0.0/0`, `::/0`, `::ffff:0:0/96`) is refused.
        trusted_proxies: Vec<IpNet>,
        /// Sets which forwarding header the trusted proxies set (default `X-Forwarded-For`).
        ///
        /// Choose the one your proxies write: they pass the other along as the client sent it.
        forwarded_header: ForwardedHeader,
        /// Sets the sizes (0: off) and intervals of the verified-credential caches.
        caches: CacheConfig,
        /// Sets the master keys (the first seals, all open).
        master_keys: Vec<MasterKey>,
        /// Sets the janitor's interval and batch, or turns it off (see [`CleanupConfig`]).
        cleanup: CleanupConfig,
    }

    /// Adds a master key after those already set (the first one added seals).
    #[must_use]
    pub fn master_key(mut self, key: MasterKey) -> Self {
        self.0.master_keys.push(key);
        self
    }

    /// Sets the issuer.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.0.issuer = issuer.into();
        self
    }

    /// Sets the audience.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.0.audience = audience.into();
        self
    }

    /// Sets the API-key prefix (default `osk`).
    #[must_use]
    pub fn api_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.0.api_key_prefix = prefix.into();
        self
    }

    /// Turns the cookie's `Secure` attribute on or off (off only for plain-HTTP development).
    #[must_use]
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.0.cookie.secure = secure;
        self
    }

    /// Turns login, registration and forgot-password rate limiting on or off.
    #[must_use]
    pub fn rate_limiting(mut self, enabled: bool) -> Self {
        self.0.rate_limits.enabled = enabled;
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<AuthConfig, Error> {
        self.0.validate()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests;
