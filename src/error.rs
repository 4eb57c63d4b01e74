//! The crate's one error type.
//!
//! Every failure is an [`Error`] variant; each variant maps to exactly one HTTP status in
//! [`Error::status`] and one wire code in [`Error::code`], so both adapters answer alike. Messages
//! never contain a secret, and server-side failures (`5xx`) show the client a generic text while
//! keeping their source for logs.

use std::borrow::Cow;
use std::time::Duration;

use crate::rbac::Permission;

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

/// A storage backend failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("unique constraint violated")]
    Conflict,
    /// Stored data could not be read back (a corrupt row, an unknown enum value).
    #[error("corrupt stored data: {0}")]
    Corrupt(&'static str),
    /// The database driver failed.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Any other backend's failure (for host-written stores).
    #[error("storage backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    Validation(&'static str),
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
    Config(&'static str),
    /// A cryptographic operation failed unexpectedly. `500`.
    #[error("cryptographic failure")]
    Crypto(#[source] jsonwebtoken::errors::Error),
    /// The operating system's random generator failed. `500`.
    #[error("random generator failure")]
    Random(#[source] rand::rngs::SysError),
    /// The mailer failed. `500`.
    #[error("mail delivery failed")]
    Mail(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A blocking task (argon2) panicked or was cancelled. `500`.
    #[error("background task failed")]
    Task(#[source] tokio::task::JoinError),
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
            Error::InvalidResetToken => 400,
            Error::Forbidden(_) | Error::CrossOrigin => 403,
            Error::NotFound => 404,
            Error::EmailTaken => 409,
            Error::Validation(_) => 422,
            Error::RateLimited { .. } => 429,
            Error::Overloaded => 503,
            Error::Config(_)
            | Error::Crypto(_)
            | Error::Random(_)
            | Error::Mail(_)
            | Error::Task(_)
            | Error::Store(_) => 500,
        }
    }

    /// The machine-readable `error` field of the wire body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingCredentials => "unauthorized",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidToken(_) => "invalid_token",
            Error::InvalidRefreshToken => "invalid_refresh_token",
            Error::RefreshTokenReused => "refresh_token_reused",
            Error::InvalidApiKey => "invalid_api_key",
            Error::InvalidResetToken => "invalid_reset_token",
            Error::Forbidden(_) => "forbidden",
            Error::CrossOrigin => "cross_origin",
            Error::EmailTaken => "email_taken",
            Error::Validation(_) => "validation_error",
            Error::NotFound => "not_found",
            Error::RateLimited { .. } => "rate_limited",
            Error::Overloaded => "overloaded",
            Error::Config(_)
            | Error::Crypto(_)
            | Error::Random(_)
            | Error::Mail(_)
            | Error::Task(_)
            | Error::Store(_) => "internal_error",
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
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::InvalidToken(e)
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
        StoreError::Database(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        assert_eq!(Error::InvalidCredentials.status(), 401);
        assert_eq!(
            Error::InvalidToken(TokenError::Expired).code(),
            "invalid_token"
        );
        assert_eq!(Error::Forbidden(Permission::TasksWrite).status(), 403);
        assert_eq!(Error::EmailTaken.status(), 409);
        assert_eq!(Error::Validation("x").status(), 422);
        assert_eq!(
            Error::RateLimited {
                retry_after: Duration::from_secs(1)
            }
            .status(),
            429
        );
        assert_eq!(Error::Store(StoreError::Conflict).status(), 500);
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = Error::Config("the signing key file /etc/keys/k1 is unreadable");
        assert_eq!(e.public_message(), "internal server error");
        assert_eq!(
            Error::EmailTaken.public_message(),
            "email already registered"
        );
    }
}
