//! Importing users with another system's password hash: checked at import, verified at login,
//! replaced with argon2id by compare-and-set, on the in-memory store with real hashes.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::audit::AuditEvent;
use assimetria_auth::config::{RateLimit, RateLimits};
use assimetria_auth::error::ValidationError;
use assimetria_auth::rbac::seed;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, Error, ImportOptions, PasswordInput, ResetToken};
use harness::*;

/// pyca/bcrypt's test vector (`$2b$`, cost 4).
const BCRYPT_2B: (&str, &str) = (
    "Kk4DQuMMfZL9o",
    "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
);
/// RFC 7914's third scrypt vector, as a PHC string.
const SCRYPT: (&str, &str) = (
    "pleaseletmein",
    "$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw",
);
/// PBKDF2-HMAC-SHA256 (4096 iterations, 40 bytes; RFC 7914's PBKDF2 vector), as a PHC string.
const PBKDF2: (&str, &str) = (
    "passwordPASSWORDpassword",
    "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q",
);

fn hash(h: &str) -> PasswordInput {
    PasswordInput::Hash(h.to_owned())
}

async fn stored_hash(h: &Harness, email: &str) -> String {
    h.store
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

#[tokio::test]
async fn each_scheme_signs_in_and_is_upgraded_once() {
    let h = default_harness().await;
    for (i, (password, phc)) in [BCRYPT_2B, SCRYPT, PBKDF2].into_iter().enumerate() {
        let email = format!("user{i}@example.com");
        let user = h
            .service
            .import_user(&email, hash(phc), seed::MEMBER)
            .await
            .unwrap();
        assert_eq!(user.password_hash, phc);
        assert!(!user.email_verified);
        // A wrong password against the imported hash: refused, and the hash stays.
        let e = h.service.login(&email, &pw("not the password"), None).await;
        assert!(matches!(e, Err(Error::InvalidCredentials)), "{e:?}");
        assert_eq!(stored_hash(&h, &email).await, phc);

        let login = h.service.login(&email, &pw(password), None).await.unwrap();
        assert_eq!(login.user.role, seed::MEMBER);
        let upgraded = stored_hash(&h, &email).await;
        assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
        assert!(h.service.password_hash_is_current(&upgraded));
        assert!(
            h.audit
                .all()
                .contains(&AuditEvent::PasswordRehashed { user_id: user.id })
        );
        // The upgraded hash keeps the same password.
        h.service.login(&email, &pw(password), None).await.unwrap();
        assert_eq!(stored_hash(&h, &email).await, upgraded, "upgraded once");
    }
}

#[tokio::test]
async fn a_bcrypt_hash_never_matches_a_password_past_its_72_bytes() {
    let h = default_harness().await;
    let a72 = "A".repeat(72);
    let phc = bcrypt::hash_with_salt(&a72, 4, *b"0123456789abcdef")
        .unwrap()
        .to_string();
    h.service
        .import_user(EMAIL, hash(&phc), seed::VIEWER)
        .await
        .unwrap();
    for longer in [format!("{a72}x"), "A".repeat(73), "A".repeat(200)] {
        let e = h.service.login(EMAIL, &pw(&longer), None).await;
        assert!(matches!(e, Err(Error::InvalidCredentials)), "{e:?}");
    }
    assert_eq!(stored_hash(&h, EMAIL).await, phc);
    h.service.login(EMAIL, &pw(&a72), None).await.unwrap();
}

#[tokio::test]
async fn unusable_hashes_are_refused_and_store_nothing() {
    let h = default_harness().await;
    for bad in [
        "not a hash",
        "",
        " $2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
        "$2x$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
        "$2b$03$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
        "$2b$31$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
        "$scrypt$ln=30,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw",
        "$pbkdf2-sha256$i=1,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q",
        "$pbkdf2-sha512$i=4096,l=40$c2FsdA$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q",
        "$md5$rounds=1000$salt$hash",
    ] {
        let before = h.service.password_computations();
        let e = h
            .service
            .import_user(EMAIL, hash(bad), seed::VIEWER)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Validation(ValidationError::InvalidPasswordHash)),
            "{bad:?}: {e:?}"
        );
        assert_eq!((e.status(), e.code()), (422, "invalid_password_hash"));
        assert_eq!(
            h.service.password_computations(),
            before,
            "checked, not computed"
        );
        assert!(h.store.user_by_email(EMAIL).await.unwrap().is_none());
    }
    // A role the policy does not define, an impossible email.
    let e = h
        .service
        .import_user(EMAIL, hash(BCRYPT_2B.1), "owner".parse().unwrap())
        .await;
    assert!(matches!(
        e,
        Err(Error::Validation(ValidationError::UnknownRole))
    ));
    let e = h
        .service
        .import_user("nope", hash(BCRYPT_2B.1), seed::VIEWER)
        .await;
    assert!(matches!(
        e,
        Err(Error::Validation(ValidationError::InvalidEmail))
    ));
}

#[tokio::test]
async fn plaintext_imports_follow_the_policy_and_emails_stay_unique() {
    let h = default_harness().await;
    let weak = h
        .service
        .import_user(EMAIL, PasswordInput::Plain(pw("short")), seed::VIEWER)
        .await;
    assert!(matches!(weak, Err(Error::Validation(_))));
    let user = h
        .service
        .import_user_with(
            "Ada@Example.com",
            PasswordInput::Plain(pw(PASSWORD)),
            seed::ADMIN,
            ImportOptions::default().email_verified(true).org("acme"),
        )
        .await
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert!(user.email_verified);
    assert_eq!(user.org.as_deref(), Some("acme"));
    assert!(user.password_hash.starts_with("$argon2id$"));
    let taken = h
        .service
        .import_user("ada@example.com", hash(BCRYPT_2B.1), seed::VIEWER)
        .await;
    assert!(matches!(taken, Err(Error::EmailTaken)));
    assert!(h.audit.all().contains(&AuditEvent::UserImported {
        user_id: user.id,
        legacy_hash: false,
        email_verified: true,
        by: None,
    }));
}

#[tokio::test]
async fn an_unknown_email_costs_what_it_always_did() {
    let h = default_harness().await;
    h.service
        .import_user(EMAIL, hash(BCRYPT_2B.1), seed::VIEWER)
        .await
        .unwrap();
    let before = h.service.password_computations();
    let e = h
        .service
        .login("ghost@example.com", &pw(BCRYPT_2B.0), None)
        .await;
    assert!(matches!(e, Err(Error::InvalidCredentials)));
    assert_eq!(
        h.service.password_computations(),
        before + 1,
        "one dummy argon2id"
    );
    let e = h.service.login(EMAIL, &pw("wrong"), None).await;
    assert!(matches!(e, Err(Error::InvalidCredentials)));
    assert_eq!(h.service.password_computations(), before + 2, "one bcrypt");
}

/// A login against an imported hash also does an unknown email's argon2id work, so a cheap
/// legacy hash (bcrypt at cost 4 takes about a millisecond) cannot tell that the account exists;
/// a hash with this service's own parameters does exactly that work and no more.
#[tokio::test]
async fn imported_accounts_do_at_least_an_unknown_emails_argon2_work() {
    let h = default_harness().await;
    h.service
        .import_user(EMAIL, hash(BCRYPT_2B.1), seed::VIEWER)
        .await
        .unwrap();
    h.service
        .import_user(
            "b@example.com",
            PasswordInput::Plain(pw(PASSWORD)),
            seed::VIEWER,
        )
        .await
        .unwrap();
    for (email, argon2) in [("ghost@example.com", 1), (EMAIL, 1), ("b@example.com", 1)] {
        let before = h.service.password_argon2_runs();
        let e = h.service.login(email, &pw("wrong password"), None).await;
        assert!(matches!(e, Err(Error::InvalidCredentials)), "{email}");
        assert_eq!(h.service.password_argon2_runs() - before, argon2, "{email}");
    }
}

/// A login upgrading an imported hash while a reset lands: the upgrade is compare-and-set over
/// the imported hash, so it never overwrites the reset's password.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_racing_a_reset_never_restores_the_old_password() {
    for round in 0..6 {
        let store = Arc::new(MemoryStore::new());
        let h = harness_with(
            AuthConfig::builder().rate_limiting(false).build().unwrap(),
            store,
        )
        .await;
        h.service
            .import_user(EMAIL, hash(BCRYPT_2B.1), seed::VIEWER)
            .await
            .unwrap();
        h.service.forgot_password(EMAIL, None).await.unwrap();
        let (_, token) = h.mailer.wait_for(1).await;
        let new = format!("reset password {round}");
        let service = h.service.clone();
        let login = tokio::spawn(async move { service.login(EMAIL, &pw(BCRYPT_2B.0), None).await });
        h.service
            .reset_password(&ResetToken::new(token), &pw(&new))
            .await
            .unwrap();
        let _ = login.await.unwrap();
        h.service.login(EMAIL, &pw(&new), None).await.unwrap();
        let old = h.service.login(EMAIL, &pw(BCRYPT_2B.0), None).await;
        assert!(
            matches!(old, Err(Error::InvalidCredentials)),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn imported_passwords_shorter_than_todays_minimum_still_upgrade() {
    let h = default_harness().await;
    let phc = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    h.service
        .import_user(EMAIL, hash(phc), seed::VIEWER)
        .await
        .unwrap();
    h.service.login(EMAIL, &pw("U*U"), None).await.unwrap();
    assert!(stored_hash(&h, EMAIL).await.starts_with("$argon2id$"));
    h.service.login(EMAIL, &pw("U*U"), None).await.unwrap();
}

#[tokio::test]
async fn required_verification_admits_users_the_importer_vouched_for() {
    let mut limits = RateLimits::default();
    limits.login_per_account = RateLimit::new(100, Duration::from_secs(60));
    let h = harness(
        AuthConfig::builder()
            .rate_limits(limits)
            .require_verified_email(true)
            .build()
            .unwrap(),
    )
    .await;
    let vouched = ImportOptions::default().email_verified(true);
    h.service
        .import_user_with(EMAIL, hash(BCRYPT_2B.1), seed::VIEWER, vouched)
        .await
        .unwrap();
    h.service
        .import_user("b@example.com", hash(BCRYPT_2B.1), seed::VIEWER)
        .await
        .unwrap();
    h.service
        .login(EMAIL, &pw(BCRYPT_2B.0), None)
        .await
        .unwrap();
    let e = h
        .service
        .login("b@example.com", &pw(BCRYPT_2B.0), None)
        .await;
    assert!(matches!(e, Err(Error::EmailNotVerified)), "{e:?}");
}

#[test]
fn debug_output_shows_no_password_or_hash() {
    let record: assimetria_auth::ImportRecord = serde_json::from_value(serde_json::json!({
        "email": "a@example.com", "password_hash": BCRYPT_2B.1, "role": "member"
    }))
    .unwrap();
    let shown = format!("{record:?} {:?}", hash(BCRYPT_2B.1));
    assert!(!shown.contains("cVWp4X"), "{shown}");
    assert!(shown.contains("a@example.com"), "{shown}");
}
