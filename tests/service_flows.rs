//! Every AuthService flow and rule, on the in-memory store with a manual clock.

mod harness;

use assimetria_auth::rbac::seed;
use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::PrincipalKind;
use assimetria_auth::api_key::Environment;
use assimetria_auth::audit::AuditEvent;
use assimetria_auth::config::{Argon2Params, RateLimit, RateLimits};
use assimetria_auth::error::TokenError;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, Error};
use assimetria_auth::{RefreshToken, ResetToken};
use harness::*;

fn revoked(r: Result<Arc<assimetria_auth::Principal>, Error>) -> bool {
    matches!(r, Err(Error::InvalidToken(TokenError::Revoked)))
}

#[tokio::test]
async fn register_normalizes_and_signs_in() {
    let h = default_harness().await;
    let out = h
        .service
        .register("  Alice@Example.COM ", &pw(PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(out.user.email, "alice@example.com");
    assert_eq!(
        out.user.role,
        seed::VIEWER,
        "new users get the minimum role"
    );
    assert_eq!(out.expires_in, 86_400);
    let p = h
        .service
        .authenticate(out.access_token.expose())
        .await
        .unwrap();
    assert_eq!(p.user_id, out.user.id);
    assert!(matches!(p.kind, PrincipalKind::User { .. }));

    assert!(matches!(
        h.service
            .register("alice@EXAMPLE.com", &pw("another password"), None)
            .await,
        Err(Error::EmailTaken)
    ));
    assert!(matches!(
        h.service
            .register("bob@example.com", &pw("short"), None)
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        h.service
            .register("not-an-email", &pw("long enough"), None)
            .await,
        Err(Error::Validation(_))
    ));
    // Nothing was created by the refused attempts.
    assert_eq!(h.store.list_users(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn default_role_is_configurable() {
    let h = harness(
        AuthConfig::builder()
            .default_role(seed::MEMBER)
            .rate_limiting(false)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(h.sign_up("m@example.com").await.user.role, seed::MEMBER);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let (h, _) = registered_user().await;

    let before = h.service.password_computations();
    let unknown = h
        .service
        .login("nobody@example.com", &pw(PASSWORD), None)
        .await
        .unwrap_err();
    let unknown_work = h.service.password_computations() - before;

    let before = h.service.password_computations();
    let wrong = h
        .service
        .login(EMAIL, &pw("wrong password"), None)
        .await
        .unwrap_err();
    let wrong_work = h.service.password_computations() - before;

    assert!(matches!(unknown, Error::InvalidCredentials));
    assert!(matches!(wrong, Error::InvalidCredentials));
    assert_eq!(unknown.to_string(), wrong.to_string());
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown_work, 1);
    assert_eq!(
        wrong_work, 1,
        "both paths run exactly one argon2 computation"
    );

    let ok = h
        .service
        .login("A@example.com", &pw(PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(ok.user.email, EMAIL);
}

#[tokio::test]
async fn outdated_hash_is_upgraded_at_login() {
    let store: Arc<dyn assimetria_auth::store::Store> = Arc::new(MemoryStore::new());
    let old = harness_with(
        AuthConfig::builder().rate_limiting(false).build().unwrap(),
        store.clone(),
    )
    .await;
    old.sign_up(EMAIL).await;
    let before = store
        .user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(before.contains("m=19456,t=2"));

    let stronger = Argon2Params {
        memory_kib: 19_456,
        iterations: 3,
        parallelism: 1,
    };
    let new = harness_with(
        AuthConfig::builder()
            .argon2(stronger)
            .rate_limiting(false)
            .build()
            .unwrap(),
        store.clone(),
    )
    .await;
    assert!(!new.service.password_hash_is_current(&before));
    new.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    let after = store
        .user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(after.contains("m=19456,t=3"), "{after}");
    assert!(new.service.password_hash_is_current(&after));
    // And the password still works.
    new.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
}

#[tokio::test]
async fn refresh_rotates_and_is_single_use() {
    let (h, login) = registered_user().await;
    h.clock.advance(Duration::from_secs(60));
    let first = h.service.refresh(&login.refresh_token).await.unwrap();
    assert_ne!(first.refresh_token, login.refresh_token);
    assert_ne!(first.access_token, login.access_token);
    assert!(
        h.service
            .authenticate(first.access_token.expose())
            .await
            .is_ok()
    );
    let second = h.service.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(matches!(
        h.service.refresh(&RefreshToken::new("made-up")).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.service
            .refresh(&RefreshToken::new("x".repeat(10_000)))
            .await,
        Err(Error::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn reuse_after_grace_revokes_the_family_and_its_access_tokens() {
    let (h, login) = registered_user().await;
    let next = h.service.refresh(&login.refresh_token).await.unwrap();
    h.clock.advance(Duration::from_secs(11)); // past the 10 s grace window
    assert!(matches!(
        h.service.refresh(&login.refresh_token).await,
        Err(Error::RefreshTokenReused)
    ));
    // The whole family is gone: the legitimate successor and every access token of the session.
    assert!(matches!(
        h.service.refresh(&next.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(revoked(
        h.service.authenticate(next.access_token.expose()).await
    ));
    assert!(revoked(
        h.service.authenticate(login.access_token.expose()).await
    ));
    assert!(
        h.audit
            .all()
            .iter()
            .any(|e| matches!(e, AuditEvent::RefreshReuseDetected { .. }))
    );
    // Another session of the same user is untouched.
    let other = h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    assert!(
        h.service
            .authenticate(other.access_token.expose())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn retry_inside_grace_returns_the_identical_successor() {
    let (h, login) = registered_user().await;
    h.clock.advance(Duration::from_secs(30));
    let a = h.service.refresh(&login.refresh_token).await.unwrap();
    h.clock.advance(Duration::from_secs(10)); // exactly at the edge of the window
    let b = h.service.refresh(&login.refresh_token).await.unwrap();
    assert_eq!(a.refresh_token, b.refresh_token);
    assert_eq!(a.access_token, b.access_token);
    // The successor still works once.
    h.service.refresh(&a.refresh_token).await.unwrap();
}

#[tokio::test]
async fn zero_grace_disables_replay() {
    let h = harness(
        AuthConfig::builder()
            .refresh_grace(Duration::ZERO)
            .rate_limiting(false)
            .build()
            .unwrap(),
    )
    .await;
    let login = h.sign_up(EMAIL).await;
    h.service.refresh(&login.refresh_token).await.unwrap();
    assert!(matches!(
        h.service.refresh(&login.refresh_token).await,
        Err(Error::RefreshTokenReused)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_never_fork_the_family() {
    let (h, login) = registered_user().await;
    let mut token = login.refresh_token.expose().to_owned();
    for _trial in 0..50 {
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let s = h.service.clone();
            let t = token.clone();
            tasks.push(tokio::spawn(async move {
                s.refresh(&RefreshToken::new(t)).await
            }));
        }
        let mut pairs = Vec::new();
        for t in tasks {
            let out = t.await.unwrap().expect("every concurrent refresh succeeds");
            pairs.push((
                out.access_token.expose().to_owned(),
                out.refresh_token.expose().to_owned(),
            ));
        }
        pairs.dedup();
        assert_eq!(pairs.len(), 1, "one successor pair, never a fork");
        token = pairs.remove(0).1;
        h.clock.advance(Duration::from_secs(1));
    }
}

#[tokio::test]
async fn logout_kills_the_access_token_at_once() {
    let (h, login) = registered_user().await;
    let p = h
        .service
        .authenticate(login.access_token.expose())
        .await
        .unwrap();
    h.service.logout(&p).await.unwrap();
    assert!(revoked(
        h.service.authenticate(login.access_token.expose()).await
    ));
    assert!(matches!(
        h.service.refresh(&login.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
    // The revocation entry lasts as long as the token could have: it is pruned after expiry.
    h.clock.advance(Duration::from_secs(86_400 + 31));
    h.service.sync_revocations().await.unwrap();
    assert!(matches!(
        h.service.authenticate(login.access_token.expose()).await,
        Err(Error::InvalidToken(TokenError::Expired))
    ));
}

#[tokio::test]
async fn access_tokens_expire_after_24_hours() {
    let (h, login) = registered_user().await;
    h.clock.advance(Duration::from_secs(86_400 - 1));
    assert!(
        h.service
            .authenticate(login.access_token.expose())
            .await
            .is_ok()
    );
    h.clock.advance(Duration::from_secs(31));
    assert!(matches!(
        h.service.authenticate(login.access_token.expose()).await,
        Err(Error::InvalidToken(TokenError::Expired))
    ));
}

#[tokio::test]
async fn credentials_that_are_not_access_tokens_are_refused() {
    let (h, login) = registered_user().await;
    assert!(matches!(
        h.service.authenticate("").await,
        Err(Error::MissingCredentials)
    ));
    assert!(matches!(
        h.service.authenticate(login.refresh_token.expose()).await,
        Err(Error::InvalidToken(_))
    ));
    assert!(matches!(
        h.service.authenticate("osk_live_nope").await,
        Err(Error::InvalidApiKey)
    ));
    assert!(
        h.service
            .authenticate("garbage.garbage.garbage")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn password_reset_flow() {
    let (h, login) = registered_user().await;
    let second = h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    h.service
        .forgot_password("A@example.com ", None)
        .await
        .unwrap();
    let (to, token) = h.mailer.wait_for(1).await;
    assert_eq!(to, EMAIL);
    assert!(token.len() >= 43, "≥ 256 bits");

    // A refused new password leaves the token usable.
    assert!(matches!(
        h.service
            .reset_password(&ResetToken::new(token.clone()), &pw("short"))
            .await,
        Err(Error::Validation(_))
    ));
    h.service
        .reset_password(&ResetToken::new(token.clone()), &pw("brand new password"))
        .await
        .unwrap();
    // Every session is gone, access and refresh alike.
    assert!(revoked(
        h.service.authenticate(login.access_token.expose()).await
    ));
    assert!(revoked(
        h.service.authenticate(second.access_token.expose()).await
    ));
    assert!(h.service.refresh(&second.refresh_token).await.is_err());
    // The new password works, the old does not.
    assert!(h.service.login(EMAIL, &pw(PASSWORD), None).await.is_err());
    h.service
        .login(EMAIL, &pw("brand new password"), None)
        .await
        .unwrap();
    // Single use.
    assert!(matches!(
        h.service
            .reset_password(&ResetToken::new(token), &pw("third password"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    assert!(
        h.audit
            .all()
            .iter()
            .any(|e| matches!(e, AuditEvent::PasswordReset { .. }))
    );
}

#[tokio::test]
async fn reset_tokens_expire_after_an_hour() {
    let (h, _) = registered_user().await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let (_, token) = h.mailer.wait_for(1).await;
    h.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        h.service
            .reset_password(&ResetToken::new(token), &pw("brand new password"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
}

/// On a current-thread runtime, nothing spawned runs before the call returns: what each path did
/// by then is exactly what the caller (and a timing attacker) can see.
#[tokio::test(flavor = "current_thread")]
async fn forgot_password_for_a_missing_email_looks_the_same() {
    let (h, _) = registered_user().await;
    let events_before = h.audit.all().len();

    let before = h.service.password_computations();
    let existing = h.service.forgot_password(EMAIL, None).await;
    let existing_work = h.service.password_computations() - before;
    let existing_events = h.audit.all().len() - events_before;
    let existing_mails = h.mailer.count();

    let before = h.service.password_computations();
    let missing = h.service.forgot_password("ghost@example.com", None).await;
    let missing_work = h.service.password_computations() - before;
    let missing_events = h.audit.all().len() - events_before - existing_events;

    assert!(
        existing.is_ok() && missing.is_ok(),
        "the same answer either way"
    );
    assert_eq!(
        existing_work, missing_work,
        "the same argon2 work either way"
    );
    // No store write, audit event or mail happened on the request path of either.
    assert_eq!((existing_events, existing_mails), (0, 0));
    assert_eq!(missing_events, 0);
    // The existing account's token is stored and mailed afterwards, off the request path.
    let (to, token) = h.mailer.wait_for(1).await;
    assert_eq!(to, EMAIL);
    assert!(
        h.store
            .reset_token_user(&assimetria_auth::store::TokenHash::of(&token), T0)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.mailer.count(), 1, "only the existing account gets mail");
    assert!(matches!(
        h.audit.all().last(),
        Some(AuditEvent::PasswordResetRequested { .. })
    ));
}

#[tokio::test]
async fn a_made_up_reset_token_costs_no_argon2_work() {
    let h = default_harness().await;
    let before = h.service.password_computations();
    assert!(matches!(
        h.service
            .reset_password(&ResetToken::new("made-up-token"), &pw("brand new password"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    assert_eq!(h.service.password_computations(), before);
}

#[tokio::test]
async fn a_reset_ends_every_pending_reset_of_the_user() {
    let (h, _) = registered_user().await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let (_, first) = h.mailer.wait_for(1).await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let (_, second) = h.mailer.wait_for(2).await;
    h.service
        .reset_password(&ResetToken::new(second), &pw("brand new password"))
        .await
        .unwrap();
    assert!(matches!(
        h.service
            .reset_password(&ResetToken::new(first), &pw("attacker password"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    h.service
        .login(EMAIL, &pw("brand new password"), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn impossible_emails_are_unknown_users_not_errors() {
    let h = default_harness().await;
    for email in [
        "a\0@example.com",
        "no at sign",
        &"x".repeat(300),
        "a b@example.com",
    ] {
        let before = h.service.password_computations();
        assert!(matches!(
            h.service.login(email, &pw(PASSWORD), None).await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(h.service.password_computations(), before + 1, "dummy work");
        h.service.forgot_password(email, None).await.unwrap();
    }
    // The audit trail records no raw input (a password typed into the email field, a 300-byte
    // string): only a placeholder.
    assert!(h.audit.all().iter().all(|e| match e {
        AuditEvent::LoginFailed { email } => email == "<invalid>",
        _ => true,
    }));
}

#[tokio::test]
async fn a_key_never_outranks_its_creator() {
    let h = default_harness().await;
    let root = h.user("root@example.com", seed::ADMIN).await.principal;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let key = h
        .service
        .create_api_key(&admin, "admin key", Environment::Live, Some(seed::ADMIN))
        .await
        .unwrap();
    assert_eq!(
        h.service.authenticate(key.key.expose()).await.unwrap().role,
        seed::ADMIN
    );
    h.service
        .set_role(&root, admin.user_id, seed::VIEWER)
        .await
        .unwrap();
    let p = h.service.authenticate(key.key.expose()).await.unwrap();
    assert_eq!(p.role, seed::VIEWER, "demoting the creator demotes the key");
    assert!(h.service.require(&p, seed::ApiKeysManage).is_err());
}

#[tokio::test]
async fn api_key_lifecycle() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;

    let created = h
        .service
        .create_api_key(&admin, "CI pipeline", Environment::Live, Some(seed::MEMBER))
        .await
        .unwrap();
    let key = created.key.expose().to_owned();
    assert!(key.starts_with("osk_live_"));
    assert_eq!(created.info.role, seed::MEMBER);
    assert!(key.starts_with(&created.info.prefix));
    assert!(created.info.prefix.len() < 20);

    // Listing never shows the secret.
    let listed = h.service.list_api_keys(&admin).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(&key[9..]));
    assert!(!serde_json::to_string(&listed).unwrap().contains(&key[9..]));

    let p = h.service.authenticate(&key).await.unwrap();
    assert_eq!(p.role, seed::MEMBER);
    assert!(matches!(
        p.kind,
        PrincipalKind::ApiKey {
            environment: Environment::Live,
            ..
        }
    ));
    assert_eq!(p.environment(), Environment::Live);
    h.service.require(&p, seed::TasksWrite).unwrap();
    assert!(h.service.require(&p, seed::SettingsManage).is_err());
    // last_used_at was recorded (written in a batch, here at once).
    h.service.flush().await.unwrap();
    assert!(
        h.service.list_api_keys(&admin).await.unwrap()[0]
            .last_used_at
            .is_some()
    );

    // Revocation takes effect at once.
    h.service
        .revoke_api_key(&admin, created.info.id)
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(&key).await,
        Err(Error::InvalidApiKey)
    ));
    assert!(matches!(
        h.service.revoke_api_key(&admin, created.info.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        h.service.revoke_api_key(&admin, 999).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn test_keys_carry_the_test_environment() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let created = h
        .service
        .create_api_key(&admin, "sandbox", Environment::Test, None)
        .await
        .unwrap();
    assert!(created.key.expose().starts_with("osk_test_"));
    let p = h.service.authenticate(created.key.expose()).await.unwrap();
    assert_eq!(p.environment(), Environment::Test);
    assert_eq!(p.role, seed::VIEWER, "default key role is the minimum");
}

#[tokio::test]
async fn api_key_rules() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let member = h.user("member@example.com", seed::MEMBER).await.principal;
    assert!(matches!(
        h.service
            .create_api_key(&member, "k", Environment::Live, None)
            .await,
        Err(Error::Forbidden(p)) if p.as_str() == "api_keys:manage"
    ));
    assert!(matches!(
        h.service.list_api_keys(&member).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        h.service
            .create_api_key(&admin, "", Environment::Live, None)
            .await,
        Err(Error::Validation(_))
    ));
    // A key cannot mint keys.
    let k = h
        .service
        .create_api_key(&admin, "admin key", Environment::Live, Some(seed::ADMIN))
        .await
        .unwrap();
    let key_principal = h.service.authenticate(k.key.expose()).await.unwrap();
    assert!(
        h.service
            .create_api_key(&key_principal, "child", Environment::Live, None)
            .await
            .is_err()
    );
    // A tampered key is refused.
    let mut bad = k.key.expose().to_owned();
    bad.pop();
    bad.push('!');
    assert!(matches!(
        h.service.authenticate(&bad).await,
        Err(Error::InvalidApiKey)
    ));
}

#[tokio::test]
async fn a_key_role_cannot_exceed_its_creator() {
    // A host whose members may manage keys still cannot let them mint admin keys.
    let policy =
        assimetria_auth::rbac::Policy::seed().grant(&seed::MEMBER, [seed::ApiKeysManage.into()]);
    let clock = Arc::new(assimetria_auth::clock::ManualClock::new(T0));
    let service = assimetria_auth::AuthService::builder(
        AuthConfig::builder().rate_limiting(false).build().unwrap(),
        Arc::new(MemoryStore::new()),
    )
    .policy(policy)
    .clock(clock)
    .build()
    .await
    .unwrap();
    let member = signed_in(&service, "m@example.com", seed::MEMBER)
        .await
        .principal;
    assert!(matches!(
        service
            .create_api_key(&member, "k", Environment::Live, Some(seed::ADMIN))
            .await,
        Err(Error::Validation(_))
    ));
    service
        .create_api_key(&member, "k", Environment::Live, Some(seed::MEMBER))
        .await
        .unwrap();
}

#[tokio::test]
async fn role_change_kills_tokens_with_the_old_role() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let member = h.user("member@example.com", seed::MEMBER).await;
    assert!(matches!(
        h.service
            .set_role(&member.principal, admin.user_id, seed::VIEWER)
            .await,
        Err(Error::Forbidden(_))
    ));

    let updated = h
        .service
        .set_role(&admin, member.user.id, seed::VIEWER)
        .await
        .unwrap();
    assert_eq!(updated.role, seed::VIEWER);
    assert!(revoked(h.service.authenticate(member.access()).await));
    let again = h
        .service
        .login("member@example.com", &pw(PASSWORD), None)
        .await
        .unwrap();
    let p = h
        .service
        .authenticate(again.access_token.expose())
        .await
        .unwrap();
    assert_eq!(p.role, seed::VIEWER);
    assert!(matches!(
        h.service.require(&p, seed::TasksWrite),
        Err(Error::Forbidden(_))
    ));
    assert!(h.audit.all().iter().any(|e| matches!(
        e,
        AuditEvent::RoleChanged { role, .. } if *role == seed::VIEWER
    )));
    assert!(matches!(
        h.service.set_role(&admin, 999, seed::VIEWER).await,
        Err(Error::NotFound)
    ));
    assert_eq!(h.service.list_users(&admin).await.unwrap().len(), 2);
}

/// A role change that lands while a login is verifying the password must not let that login
/// mint a 24 h token carrying the old role.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_racing_a_role_change_gets_the_new_role() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let member_id = h
        .service
        .create_user("m@example.com", &pw(PASSWORD), seed::MEMBER)
        .await
        .unwrap()
        .id;
    for round in 0..5 {
        let role = if round % 2 == 0 {
            seed::VIEWER
        } else {
            seed::MEMBER
        };
        let started = h.service.password_computations();
        let service = h.service.clone();
        let login =
            tokio::spawn(async move { service.login("m@example.com", &pw(PASSWORD), None).await });
        // Wait until the password check is running, then change the role under it.
        while h.service.password_computations() == started {
            tokio::task::yield_now().await;
        }
        h.service
            .set_role(&admin, member_id, role.clone())
            .await
            .unwrap();
        match login.await.unwrap() {
            Ok(out) => {
                assert_eq!(out.user.role, role, "round {round}");
                let p = h
                    .service
                    .authenticate(out.access_token.expose())
                    .await
                    .unwrap();
                assert_eq!(
                    p.role, role,
                    "round {round}: the token carries the new role"
                );
            }
            Err(e) => panic!("round {round}: {e}"),
        }
    }
}

#[tokio::test]
async fn login_and_forgot_password_are_rate_limited() {
    let mut limits = RateLimits::default();
    limits.login_per_account = RateLimit::new(3, Duration::from_secs(60));
    limits.forgot_per_account = RateLimit::new(2, Duration::from_secs(600));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    h.sign_up(EMAIL).await;
    for _ in 0..3 {
        let _ = h.service.login(EMAIL, &pw("wrong password"), None).await;
    }
    h.clock.advance(Duration::from_secs(20));
    match h.service.login(EMAIL, &pw(PASSWORD), None).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(40)),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    h.clock.advance(Duration::from_secs(40));
    h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();

    h.service.forgot_password(EMAIL, None).await.unwrap();
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let e = h.service.forgot_password(EMAIL, None).await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }));
    assert_eq!(e.status(), 429);
}

#[tokio::test]
async fn rate_limit_per_client_address() {
    let mut limits = RateLimits::default();
    limits.login_per_client = RateLimit::new(2, Duration::from_secs(60));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    let ip = Some("203.0.113.9".parse().unwrap());
    let _ = h.service.login("x@example.com", &pw("password1"), ip).await;
    let _ = h.service.login("y@example.com", &pw("password1"), ip).await;
    assert!(matches!(
        h.service.login("z@example.com", &pw("password1"), ip).await,
        Err(Error::RateLimited { .. })
    ));
    // Another address is not affected.
    assert!(matches!(
        h.service
            .login(
                "z@example.com",
                &pw("password1"),
                Some("203.0.113.10".parse().unwrap())
            )
            .await,
        Err(Error::InvalidCredentials)
    ));
}

/// IPv6 clients are counted per /64: rotating through one subscriber's addresses buys nothing,
/// another /64 has its own budget, and an IPv4-mapped address counts as the IPv4 one.
#[tokio::test]
async fn rate_limit_groups_ipv6_clients_by_64() {
    let mut limits = RateLimits::default();
    limits.login_per_client = RateLimit::new(2, Duration::from_secs(60));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    let login = |ip: &str| {
        let ip = Some(ip.parse().unwrap());
        let service = h.service.clone();
        async move { service.login("x@example.com", &pw("password1"), ip).await }
    };
    assert!(matches!(
        login("2001:db8:1:2::1").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        login("2001:db8:1:2:ffff::9").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        login("2001:db8:1:2:dead:beef:0:1").await,
        Err(Error::RateLimited { .. })
    ));
    assert!(matches!(
        login("2001:db8:1:3::1").await,
        Err(Error::InvalidCredentials)
    ));

    assert!(matches!(
        login("192.0.2.1").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        login("::ffff:192.0.2.1").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        login("192.0.2.1").await,
        Err(Error::RateLimited { .. })
    ));
}

#[tokio::test]
async fn a_refused_client_does_not_spend_the_account_budget() {
    let mut limits = RateLimits::default();
    limits.login_per_client = RateLimit::new(1, Duration::from_secs(60));
    limits.login_per_account = RateLimit::new(2, Duration::from_secs(60));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    h.sign_up(EMAIL).await;
    let attacker = Some("198.51.100.1".parse().unwrap());
    let _ = h
        .service
        .login("x@example.com", &pw("guess one"), attacker)
        .await;
    for _ in 0..5 {
        assert!(matches!(
            h.service.login(EMAIL, &pw("guess two"), attacker).await,
            Err(Error::RateLimited { .. })
        ));
    }
    // The account's own budget is intact for its owner elsewhere.
    let owner = Some("203.0.113.7".parse().unwrap());
    h.service.login(EMAIL, &pw(PASSWORD), owner).await.unwrap();
}

#[tokio::test]
async fn registration_is_limited_per_client() {
    let mut limits = RateLimits::default();
    limits.register_per_client = RateLimit::new(2, Duration::from_secs(3600));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    let ip = Some("198.51.100.2".parse().unwrap());
    for i in 0..2 {
        h.service
            .register(&format!("u{i}@example.com"), &pw(PASSWORD), ip)
            .await
            .unwrap();
    }
    let before = h.service.password_computations();
    assert!(matches!(
        h.service
            .register("u9@example.com", &pw(PASSWORD), ip)
            .await,
        Err(Error::RateLimited { .. })
    ));
    assert_eq!(
        h.service.password_computations(),
        before,
        "refused before hashing"
    );
}

#[tokio::test]
async fn no_audit_event_or_debug_output_contains_a_secret() {
    // Registered by hand: the `LoginOutcome` itself is among what must not leak.
    let h = default_harness().await;
    let password = "correct horse secret";
    let login = h
        .service
        .register(EMAIL, &pw(password), None)
        .await
        .unwrap();
    let refreshed = h.service.refresh(&login.refresh_token).await.unwrap();
    let _ = h.service.login(EMAIL, &pw("wrong secret pw"), None).await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let (_, reset) = h.mailer.wait_for(1).await;
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    let key = h
        .service
        .create_api_key(&admin.principal, "k", Environment::Live, None)
        .await
        .unwrap();
    h.service
        .revoke_api_key(&admin.principal, key.info.id)
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(60));
    let _ = h.service.refresh(&login.refresh_token).await; // reuse

    let secrets = [
        password.to_owned(),
        "wrong secret pw".to_owned(),
        login.access_token.expose().to_owned(),
        login.refresh_token.expose().to_owned(),
        refreshed.access_token.expose().to_owned(),
        refreshed.refresh_token.expose().to_owned(),
        reset.clone(),
        admin.access().to_owned(),
        key.key.expose()[9..].to_owned(),
    ];
    let mut texts: Vec<String> = h.audit.all().iter().map(|e| format!("{e:?}")).collect();
    texts.push(format!("{login:?}"));
    texts.push(format!("{refreshed:?}"));
    texts.push(format!("{key:?}"));
    texts.push(format!("{:?}", h.service));
    texts.push(format!("{:?}", h.service.key_ring()));
    assert!(h.audit.all().len() >= 8);
    for text in &texts {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{text} leaks a secret");
        }
    }
}

#[tokio::test]
async fn me_returns_the_user() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let me = h.service.me(&admin).await.unwrap();
    assert_eq!(me.email, "admin@example.com");
    assert_eq!(me.role, seed::ADMIN);
    let k = h
        .service
        .create_api_key(&admin, "k", Environment::Test, Some(seed::VIEWER))
        .await
        .unwrap();
    let kp = h.service.authenticate(k.key.expose()).await.unwrap();
    assert_eq!(
        h.service.me(&kp).await.unwrap().role,
        seed::VIEWER,
        "a key acts with its own role"
    );
}

#[tokio::test]
async fn key_rotation_keeps_sessions() {
    use assimetria_auth::token::JwtKey;
    let (h, login) = registered_user().await;
    let mut ring = (*h.service.key_ring()).clone();
    ring.rotate(JwtKey::generate_ed25519("key-2").unwrap())
        .unwrap();
    h.service.set_key_ring(ring).await;
    assert!(
        h.service
            .authenticate(login.access_token.expose())
            .await
            .is_ok()
    );
    let next = h.service.refresh(&login.refresh_token).await.unwrap();
    let header = jsonwebtoken::decode_header(next.access_token.expose()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("key-2"));
    assert_eq!(h.service.jwks()["keys"].as_array().unwrap().len(), 2);
}
