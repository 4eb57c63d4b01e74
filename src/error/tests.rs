use super::*;
use crate::rbac::seed;

#[test]
fn statuses_and_codes() {
    assert_eq!(Error::InvalidCredentials.status(), 401);
    assert_eq!(
        Error::InvalidToken(TokenError::Expired).code(),
        "invalid_token"
    );
    assert_eq!(Error::Forbidden(seed::TasksWrite.into()).status(), 403);
    assert_eq!(Error::EmailTaken.status(), 409);
    assert_eq!(Error::from(ValidationError::InvalidEmail).status(), 422);
    assert_eq!(
        Error::RateLimited {
            retry_after: Duration::from_secs(1)
        }
        .status(),
        429
    );
    assert_eq!(Error::Store(StoreError::Conflict).status(), 500);
    assert_eq!(Error::from(ConfigError::Leeway).code(), "internal_error");
}

#[test]
fn internal_errors_hide_their_detail() {
    let e = Error::internal(InternalKind::Crypto, "the signing key file /etc/keys/k1");
    assert_eq!(e.public_message(), "internal server error");
    assert_eq!(
        Error::from(ConfigError::NoSigningKey).public_message(),
        "internal server error"
    );
    assert_eq!(
        Error::EmailTaken.public_message(),
        "email already registered"
    );
}

#[test]
fn messages_are_the_wire_texts() {
    assert_eq!(
        Error::from(ValidationError::PasswordTooShort { min: 8 }).public_message(),
        "password must be at least 8 characters"
    );
    assert_eq!(
        Error::from(ValidationError::InvalidEmail).public_message(),
        "a valid email address is required"
    );
}

#[test]
fn foreign_sources_stay_reachable_for_logs() {
    let io = std::io::Error::other("disk full");
    let e = Error::Store(StoreError::backend(io));
    let store = std::error::Error::source(&e).expect("store error");
    let backend = store.source().expect("backend error");
    assert_eq!(backend.to_string(), "disk full");
    let e = Error::internal(InternalKind::Random, std::io::Error::other("no entropy"));
    let internal = std::error::Error::source(&e).expect("internal error");
    assert_eq!(internal.source().unwrap().to_string(), "no entropy");
}
