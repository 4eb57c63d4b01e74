//! The crate's error types.
//!
//! Every failure is an [`Error`] variant; each variant maps to exactly one HTTP status in
//! [`Error::status`] and one wire code in [`Error::code`], so both adapters answer alike. Messages
//! never contain a secret, and server-side failures (`5xx`) show the client a generic text while
//! keeping their source for logs.
//!
//! The types here are the crate's own: no variant carries another crate's error type. Failures
//! of a dependency (a database driver, the operating system's random generator, a worker thread)
//! are boxed behind [`InternalError`] or [`StoreError::Backend`] and reachable through
//! [`std::error::Error::source`] for logs. Rule violations are typed enums ([`ValidationError`],
//! [`ConfigError`]) so a host can match on them. Transport failures (a wrong method, an oversized
//! or malformed body) belong to the HTTP layer, not here.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::rbac::{Permission, UnknownRole};

/// A boxed error of another crate, kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a presented access token was refused. All of them are `401 Unauthorized`; the detail is
/// for logs and tests, not for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts, or a part that does not decode.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not the algorithm of the key its `kid` names (including `none`).
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The `kid` names no key in the ring.
    #[error("unknown key id")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The header's `typ` is not `at+jwt`: not an access token.
    #[error("not an access token")]
    WrongType,
    /// The header lists critical extensions this crate does not understand.
    #[error("unsupported critical header")]
    UnsupportedCritical,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not this service.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not name this service.
    #[error("wrong audience")]
    WrongAudience,
    /// The login session behind the token was ended (logout, reset, role change, reuse).
    #[error("session revoked")]
    Revoked,
}

/// Stored data that could not be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptData {
    /// A token hash that is not 32 bytes.
    #[error("token hash is not 32 bytes")]
    TokenHash,
    /// A role name that is not well formed.
    #[error("malformed role name")]
    Role,
    /// An API-key environment other than `live` or `test`.
    #[error("unknown API key environment")]
    Environment,
    /// A signing-key algorithm this crate does not know.
    #[error("unknown signing key algorithm")]
    KeyAlgorithm,
}

/// A storage backend failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("unique constraint violated")]
    Conflict,
    /// Stored data could not be read back (a corrupt row, an unknown enum value).
    #[error("corrupt stored data: {0}")]
    Corrupt(CorruptData),
    /// The backend failed (the database driver, a host store's client). The source is the
    /// backend's own error, for logs.
    #[error("storage backend error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend's own error (for host-written stores).
    pub fn backend(error: impl Into<BoxError>) -> Self {
        StoreError::Backend(error.into())
    }
}

/// A value in a request breaks a rule. `422 validation_error`; the message is the wire's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Not an email address (or longer than 254 bytes).
    #[error("a valid email address is required")]
    InvalidEmail,
    /// Shorter than the password policy's minimum.
    #[error("password must be at least {min} characters")]
    PasswordTooShort {
        /// The policy's minimum, in characters.
        min: usize,
    },
    /// Longer than the password policy's maximum.
    #[error("password is too long")]
    PasswordTooLong,
    /// A role name the policy does not define.
    #[error("unknown role")]
    UnknownRole,
    /// An API-key environment other than `live` or `test`.
    #[error("environment must be live or test")]
    UnknownEnvironment,
    /// An API-key name that is empty, too long or not printable.
    #[error("name must be 1-100 printable characters")]
    InvalidKeyName,
    /// A role change to a role that grants more than the changer's own.
    #[error("a role cannot be given above your own")]
    RoleAboveOwn,
    /// A user asked to remove their own account through the admin path.
    #[error("you cannot remove your own account")]
    RemoveSelf,
    /// An API key asked for a role above its creator's.
    #[error("an API key's role cannot exceed its creator's")]
    KeyRoleAboveCreator,
    /// An API key tried to create an API key.
    #[error("API keys are created by users, not by other keys")]
    KeyCreatedByKey,
    /// Logout was called with an API key, which has no session.
    #[error("API keys have no session to log out; revoke the key instead")]
    NoSessionForApiKey,
    /// A flow that acts on the signed-in user's own account (sessions, password change,
    /// verification mail) was called with an API key.
    #[error("this needs a user's access token; API keys cannot act on an account")]
    UserTokenRequired,
    /// A user to create with both a `password` and a `password_hash`, or with neither.
    #[error("give exactly one of password and password_hash")]
    PasswordOrHash,
    /// A logout `scope` other than `local`, `others` or `global`.
    #[error("scope must be local, others or global")]
    LogoutScope,
    /// An imported password hash that is malformed, of an unsupported scheme, or with costs out
    /// of bounds. `422 invalid_password_hash`.
    #[error(
        "password_hash must be a PHC argon2id/argon2i/argon2d, scrypt or pbkdf2-sha256 string, or \
         a bcrypt $2a$/$2b$/$2y$ hash, with costs in bounds"
    )]
    InvalidPasswordHash,
}

/// Invalid configuration or key material: a host's programming or deployment error, found at
/// start-up or when the host calls a key-management method. `500`; the detail is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A policy without roles, or with a malformed role name (the log line says which).
    #[error("the policy defines no role, or a role name is not well formed")]
    Policy,
    /// `default_role` names a role the policy does not define.
    #[error("the default role is not one the policy defines")]
    DefaultRole,
    /// Argon2 parameters below OWASP's minimum.
    #[error("argon2 parameters below OWASP's minimum (m = 19456 KiB, t = 2, p = 1)")]
    WeakArgon2Params,
    /// Argon2 parameters the `argon2` crate refuses.
    #[error("invalid argon2 parameters")]
    InvalidArgon2Params,
    /// A clock leeway above five minutes.
    #[error("leeway above 5 minutes")]
    Leeway,
    /// A token lifetime under one second.
    #[error("token lifetimes must be at least one second")]
    TokenLifetime,
    /// `hash_concurrency` of zero.
    #[error("hash_concurrency must be at least 1")]
    HashConcurrency,
    /// A password policy whose minimum exceeds its maximum (or a maximum of zero).
    #[error("password policy bounds are inconsistent")]
    PasswordPolicy,
    /// `SameSite=None` without `Secure`, which browsers refuse.
    #[error("SameSite=None requires a Secure cookie")]
    InsecureSameSiteNone,
    /// An allowed origin that is not `scheme://host[:port]` (`*`, `null`, a path).
    #[error(
        "allowed origins must be scheme://host[:port] origins; `*`, `null` and paths would let \
         other pages act with the user's cookie"
    )]
    AllowedOrigin,
    /// A cache larger than [`MAX_CACHE_SLOTS`](crate::cache::MAX_CACHE_SLOTS), or a zero flush
    /// interval.
    #[error("cache sizes must be at most 2^20 slots and the last-use flush interval above zero")]
    Caches,
    /// An empty issuer or audience.
    #[error("issuer and audience must not be empty")]
    IssuerAudience,
    /// A trusted-proxy network that holds every address.
    #[error(
        "a trusted proxy network holds every address (/0), so any client could choose its \
         address; list the proxies' own networks"
    )]
    TrustEveryAddress,
    /// An API-key prefix that is not 1-16 lower-case ASCII letters.
    #[error("API key prefix must be 1-16 lower-case ASCII letters")]
    ApiKeyPrefix,
    /// A master key that is not base64.
    #[error("a master key must be base64")]
    MasterKeyEncoding,
    /// A master key that is not 32 bytes.
    #[error("a master key must be 32 bytes (44 base64 characters)")]
    MasterKeyLength,
    /// Plain key material in the store, and only a per-process master key to seal it with.
    #[error(
        "the store holds key material written before sealing existed; configure a master key \
         (AuthConfig::master_keys) so it can be sealed for good"
    )]
    UnsealedKeyMaterial,
    /// Sealed key material in the store, and no master key configured.
    #[error(
        "the store's key material is sealed under a master key, and none is configured \
         (AuthConfig::master_keys)"
    )]
    MissingMasterKey,
    /// Sealed key material under a master key that is not configured.
    #[error(
        "the store's key material is sealed under a master key that is not among the configured \
         ones"
    )]
    UnknownMasterKey,
    /// Sealed key material shorter than its header.
    #[error("sealed key material is truncated")]
    TruncatedSealedKey,
    /// Sealed key material that fails authentication.
    #[error("sealed key material does not open: tampered, or moved to another row")]
    TamperedSealedKey,
    /// The store holds no signing key.
    #[error("the store holds no signing key")]
    NoSigningKey,
    /// A `kid` that is empty, longer than 64 characters or not printable ASCII.
    #[error("kid must be 1-64 printable ASCII characters")]
    InvalidKid,
    /// An HS256 secret shorter than 32 bytes.
    #[error("HS256 secret must be at least 32 bytes")]
    WeakHs256Secret,
    /// An Ed25519 key that cannot be read or encoded.
    #[error("invalid Ed25519 key")]
    InvalidEd25519Key,
    /// A small-order Ed25519 public key.
    #[error("weak (small-order) Ed25519 public key")]
    WeakEd25519Key,
    /// The active key of a ring holds no private half.
    #[error("the active key must be able to sign")]
    ActiveKeyCannotSign,
    /// Two keys of one ring share a `kid`.
    #[error("a key with this kid is already in the ring")]
    DuplicateKid,
    /// Removing the ring's active key.
    #[error("cannot remove the active key; rotate first")]
    RemoveActiveKey,
    /// Rotating a key ring that the host supplied.
    #[error("the key ring was supplied by the host: rotate it there")]
    HostKeyRing,
    /// A refresh derivation key shorter than 32 bytes.
    #[error("refresh derivation key must be at least 32 bytes")]
    WeakRefreshKey,
    /// A database URL this build cannot open (the feature is off, or the scheme is unknown).
    #[error(
        "unsupported database URL: expected sqlite:… or postgres://… with its cargo feature on"
    )]
    UnsupportedDatabaseUrl,
    /// A database URL that does not parse.
    #[error("invalid database connection URL")]
    InvalidDatabaseUrl,
    /// A Redis URL that does not parse, or that this build cannot open (`rediss://` needs TLS,
    /// which the `redis` feature does not build). The URL itself is not repeated: it may hold a
    /// password.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error(
        "invalid Redis URL: expected redis://[user:password@]host[:port][/db] or \
         redis+unix:///path"
    )]
    InvalidRedisUrl,
    /// The Redis limiter's key secret is shorter than 16 bytes (see
    /// `RedisRateLimiterBuilder::key_secret`).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("the Redis rate limiter's key secret must be at least 16 bytes")]
    InvalidRedisKeySecret,
    /// A schema newer than this build.
    #[error("the database schema is newer than this build of assimetria-auth")]
    SchemaTooNew,
    /// The HTTP adapter found no `HttpApi` in the application's state.
    #[error("the HTTP API is not registered with the framework (register it as app data)")]
    MissingHttpApi,
}

/// What kind of internal failure an [`InternalError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InternalKind {
    /// A cryptographic operation failed unexpectedly (sealing, signing, encoding).
    Crypto,
    /// The operating system's random generator failed.
    Random,
    /// The password-hashing workers failed or stopped.
    Hashing,
    /// The mailer failed.
    Mail,
}

impl InternalKind {
    fn as_str(self) -> &'static str {
        match self {
            InternalKind::Crypto => "cryptographic failure",
            InternalKind::Random => "random generator failure",
            InternalKind::Hashing => "password hashing failed",
            InternalKind::Mail => "mail delivery failed",
        }
    }
}

/// A failure inside the server, with the dependency's own error (if any) as its source for logs.
/// Opaque on purpose: no other crate's type is part of this crate's API.
pub struct InternalError {
    kind: InternalKind,
    source: Option<BoxError>,
}

impl InternalError {
    /// A failure of `kind` without a further source.
    pub fn new(kind: InternalKind) -> Self {
        Self { kind, source: None }
    }

    /// A failure of `kind` caused by `source`.
    pub fn with_source(kind: InternalKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// What failed.
    pub fn kind(&self) -> InternalKind {
        self.kind
    }
}

impl fmt::Debug for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InternalError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())
    }
}

impl std::error::Error for InternalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Every failure of the crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No credential was presented. `401`.
    #[error("authentication required")]
    MissingCredentials,
    /// Unknown email or wrong password: deliberately one variant. `401`.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The access token was refused. `401`.
    #[error("invalid or expired token")]
    InvalidToken(#[source] TokenError),
    /// The refresh token is unknown, expired, or its session ended. `401`.
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    /// A spent refresh token came back after the grace window: its whole session was revoked. `401`.
    #[error("refresh token reuse detected; the session has been revoked")]
    RefreshTokenReused,
    /// The API key is malformed, unknown or revoked. `401`.
    #[error("invalid API key")]
    InvalidApiKey,
    /// The password-reset token is unknown, used or expired. `400`.
    #[error("invalid or expired reset token")]
    InvalidResetToken,
    /// The email-verification token is unknown, used or expired. `400`.
    #[error("invalid or expired verification token")]
    InvalidVerificationToken,
    /// A signed-in user's password change with a wrong current password. `403
    /// invalid_credentials`: the session is fine (a 401 would tell the client to sign in again),
    /// the password is not. Counted toward the login limit like a failed login.
    #[error("the current password is incorrect")]
    CurrentPasswordWrong,
    /// The password was right, but the account's email address is not verified yet and the
    /// service requires it (`require_verified_email`). `403`.
    #[error("email address not verified; follow the link in the verification mail")]
    EmailNotVerified,
    /// The principal's role lacks the permission. `403`.
    #[error("forbidden: requires {0}")]
    Forbidden(Permission),
    /// A cookie-authenticated write from another origin (CSRF). `403`.
    #[error("cross-origin request refused")]
    CrossOrigin,
    /// The email is already registered. `409`.
    #[error("email already registered")]
    EmailTaken,
    /// The request is well-formed but a value breaks a rule (password policy, email shape). `422`.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// No such resource. `404`.
    #[error("not found")]
    NotFound,
    /// Too many attempts; try again after the given time. `429` with `Retry-After`.
    #[error("too many requests")]
    RateLimited {
        /// How long the client should wait.
        retry_after: Duration,
    },
    /// The password-hashing queue is full. `503`.
    #[error("server busy, try again")]
    Overloaded,
    /// Invalid configuration or key material (a host programming error). `500`.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A failure inside the server (cryptography, randomness, hashing workers, the mailer). `500`.
    #[error("{0}")]
    Internal(#[from] InternalError),
    /// The storage backend failed. `500`.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl Error {
    /// The HTTP status this error answers with. The one place statuses are decided.
    pub fn status(&self) -> u16 {
        match self {
            Error::MissingCredentials
            | Error::InvalidCredentials
            | Error::InvalidToken(_)
            | Error::InvalidRefreshToken
            | Error::RefreshTokenReused
            | Error::InvalidApiKey => 401,
            Error::InvalidResetToken | Error::InvalidVerificationToken => 400,
            Error::Forbidden(_)
            | Error::CrossOrigin
            | Error::EmailNotVerified
            | Error::CurrentPasswordWrong => 403,
            Error::NotFound => 404,
            Error::EmailTaken => 409,
            Error::Validation(_) => 422,
            Error::RateLimited { .. } => 429,
            Error::Overloaded => 503,
            Error::Config(_) | Error::Internal(_) | Error::Store(_) => 500,
        }
    }

    /// The machine-readable `error` field of the wire body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingCredentials => "unauthorized",
            Error::InvalidCredentials | Error::CurrentPasswordWrong => "invalid_credentials",
            Error::InvalidToken(_) => "invalid_token",
            Error::InvalidRefreshToken => "invalid_refresh_token",
            Error::RefreshTokenReused => "refresh_token_reused",
            Error::InvalidApiKey => "invalid_api_key",
            Error::InvalidResetToken => "invalid_reset_token",
            Error::InvalidVerificationToken => "invalid_verification_token",
            Error::EmailNotVerified => "email_not_verified",
            Error::Forbidden(_) => "forbidden",
            Error::CrossOrigin => "cross_origin",
            Error::EmailTaken => "email_taken",
            Error::Validation(ValidationError::InvalidPasswordHash) => "invalid_password_hash",
            Error::Validation(_) => "validation_error",
            Error::NotFound => "not_found",
            Error::RateLimited { .. } => "rate_limited",
            Error::Overloaded => "overloaded",
            Error::Config(_) | Error::Internal(_) | Error::Store(_) => "internal_error",
        }
    }

    /// The human-readable `message` of the wire body. Server-side failures say only
    /// "internal server error": their detail belongs in logs, not in a response.
    pub fn public_message(&self) -> Cow<'static, str> {
        if self.status() >= 500 && !matches!(self, Error::Overloaded) {
            Cow::Borrowed("internal server error")
        } else {
            Cow::Owned(self.to_string())
        }
    }

    /// A mailer's failure, for host-written [`Mailer`](crate::mail::Mailer)s: `source` (the mail
    /// client's own error) is kept for logs; the client sees a generic 500.
    pub fn mail(source: impl Into<BoxError>) -> Self {
        Self::internal(InternalKind::Mail, source)
    }

    /// An internal failure of `kind` caused by `source`.
    pub(crate) fn internal(kind: InternalKind, source: impl Into<BoxError>) -> Self {
        Error::Internal(InternalError::with_source(kind, source))
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::InvalidToken(e)
    }
}

impl From<UnknownRole> for Error {
    fn from(_: UnknownRole) -> Self {
        Error::Validation(ValidationError::UnknownRole)
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict;
        }
        StoreError::Backend(Box::new(e))
    }
}

#[cfg(test)]
mod tests;
