//! A signed-in user's own account (sessions, logout scopes, password change) and email
//! verification, on the in-memory store with a manual clock and real argon2.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::api_key::Environment;
use assimetria_auth::audit::AuditEvent;
use assimetria_auth::config::{RateLimit, RateLimits};
use assimetria_auth::error::{TokenError, ValidationError};
use assimetria_auth::rbac::seed;
use assimetria_auth::{AuthConfig, ClientInfo, Error, LogoutScope, Principal, SignUp};
use assimetria_auth::{ResetToken, VerificationToken};
use harness::*;

fn revoked(r: Result<Arc<Principal>, Error>) -> bool {
    matches!(r, Err(Error::InvalidToken(TokenError::Revoked)))
}

fn config() -> assimetria_auth::config::AuthConfigBuilder {
    AuthConfig::builder().rate_limiting(false)
}

async fn login_from(h: &Harness, agent: &str) -> SignedIn {
    let client = ClientInfo::new(Some("203.0.113.7".parse().unwrap()), Some(agent));
    let login = h
        .service
        .login_from(EMAIL, &pw(PASSWORD), &client)
        .await
        .unwrap();
    let principal = h
        .service
        .authenticate(login.access_token.expose())
        .await
        .unwrap();
    SignedIn {
        user: login.user,
        principal: Principal::clone(&principal),
        access_token: login.access_token,
        refresh_token: login.refresh_token,
    }
}

#[tokio::test]
async fn sessions_list_the_callers_live_sessions_with_their_client() {
    let (h, first) = registered_user().await;
    h.clock.advance(Duration::from_secs(60));
    let phone = login_from(&h, "Phone/1.0").await;
    let other = h.user("other@example.com", seed::MEMBER).await;

    let list = h.service.list_sessions(&phone.principal).await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(Some(list[0].id.as_str()), first.principal.session());
    assert!(!list[0].current);
    assert_eq!(list[0].user_agent, None);
    assert_eq!(Some(list[1].id.as_str()), phone.principal.session());
    assert!(list[1].current);
    assert_eq!(list[1].user_agent.as_deref(), Some("Phone/1.0"));
    assert_eq!(list[1].ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(list[1].created_at, list[1].last_used_at);
    // Nobody else's session shows.
    let theirs = h.service.list_sessions(&other.principal).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(theirs[0].current);

    // A refresh moves the session's last use.
    h.clock.advance(Duration::from_secs(3600));
    h.service.refresh(&phone.refresh_token).await.unwrap();
    let list = h.service.list_sessions(&phone.principal).await.unwrap();
    assert_ne!(list[1].created_at, list[1].last_used_at);
    assert_eq!(list[0].created_at, list[0].last_used_at);

    // A session whose refresh token has expired is not live any more.
    h.clock.advance(Duration::from_secs(30 * 24 * 3600 - 3600));
    let list = h.service.list_sessions(&phone.principal).await.unwrap();
    assert_eq!(
        list.len(),
        1,
        "only the refreshed session is left: {list:?}"
    );
    assert!(list[0].current);
}

#[tokio::test]
async fn ending_a_session_is_immediate_and_only_for_its_owner() {
    let (h, laptop) = registered_user().await;
    let phone = login_from(&h, "Phone/1.0").await;
    let other = h.user("other@example.com", seed::MEMBER).await;
    let phone_sid = phone.principal.session().unwrap().to_owned();
    let other_sid = other.principal.session().unwrap().to_owned();

    // Someone else's session id, an unknown one: 404, and nothing ends.
    let e = h
        .service
        .end_session(&laptop.principal, &other_sid)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound), "{e:?}");
    assert_eq!(e.status(), 404);
    h.service.authenticate(other.access()).await.unwrap();
    h.service.refresh(&other.refresh_token).await.unwrap();
    let e = h.service.end_session(&laptop.principal, "nope").await;
    assert!(matches!(e, Err(Error::NotFound)));

    h.service
        .end_session(&laptop.principal, &phone_sid)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(phone.access()).await));
    assert!(h.service.refresh(&phone.refresh_token).await.is_err());
    h.service.authenticate(laptop.access()).await.unwrap();
    // An ended session is not one of the caller's live sessions any more.
    let e = h.service.end_session(&laptop.principal, &phone_sid).await;
    assert!(matches!(e, Err(Error::NotFound)));
    assert!(h.audit.all().contains(&AuditEvent::SessionEnded {
        user_id: laptop.user.id,
        session_id: phone_sid,
        by_session: laptop.principal.session().unwrap().to_owned(),
    }));
}

#[tokio::test]
async fn api_keys_cannot_act_on_the_account() {
    let h = harness(config().build().unwrap()).await;
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    let key = h
        .service
        .create_api_key(&admin.principal, "ci", Environment::Live, None)
        .await
        .unwrap();
    let p = h.service.authenticate(key.key.expose()).await.unwrap();
    let wanted = |e: Error| matches!(e, Error::Validation(ValidationError::UserTokenRequired));
    assert!(wanted(h.service.list_sessions(&p).await.unwrap_err()));
    assert!(wanted(h.service.end_session(&p, "x").await.unwrap_err()));
    let scope = h.service.logout_scope(&p, LogoutScope::Global).await;
    assert!(wanted(scope.unwrap_err()));
    // The seed's logout keeps its own answer for a key.
    let local = h.service.logout_scope(&p, LogoutScope::Local).await;
    assert!(matches!(
        local,
        Err(Error::Validation(ValidationError::NoSessionForApiKey))
    ));
    let change = h
        .service
        .change_password(&p, &pw(PASSWORD), &pw("a new password 1"), None)
        .await;
    assert!(wanted(change.unwrap_err()));
    assert!(wanted(
        h.service.resend_verification(&p, None).await.unwrap_err()
    ));
    // Nothing changed: the admin still signs in with the old password.
    h.service
        .login("admin@example.com", &pw(PASSWORD), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn logout_scopes() {
    let (h, a) = registered_user().await;
    let b = login_from(&h, "B").await;
    let c = login_from(&h, "C").await;

    h.service
        .logout_scope(&b.principal, LogoutScope::Others)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(a.access()).await));
    assert!(revoked(h.service.authenticate(c.access()).await));
    h.service.authenticate(b.access()).await.unwrap();
    assert!(h.service.refresh(&a.refresh_token).await.is_err());
    assert!(h.service.refresh(&c.refresh_token).await.is_err());

    let d = login_from(&h, "D").await;
    h.service
        .logout_scope(&d.principal, LogoutScope::Global)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(b.access()).await));
    assert!(revoked(h.service.authenticate(d.access()).await));
    assert!(h.service.refresh(&b.refresh_token).await.is_err());

    // `local` is the seed's logout.
    let e = login_from(&h, "E").await;
    let f = login_from(&h, "F").await;
    h.service
        .logout_scope(&e.principal, LogoutScope::Local)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(e.access()).await));
    h.service.authenticate(f.access()).await.unwrap();
    assert_eq!(LogoutScope::parse("everywhere"), None);
}

#[tokio::test]
async fn change_password_ends_the_other_sessions_and_keeps_this_one() {
    let (h, laptop) = registered_user().await;
    let phone = login_from(&h, "Phone/1.0").await;
    let new = pw("a brand new password");
    h.service
        .change_password(&laptop.principal, &pw(PASSWORD), &new, None)
        .await
        .unwrap();
    h.service.authenticate(laptop.access()).await.unwrap();
    assert!(revoked(h.service.authenticate(phone.access()).await));
    assert!(h.service.refresh(&phone.refresh_token).await.is_err());
    h.service.refresh(&laptop.refresh_token).await.unwrap();
    assert!(matches!(
        h.service.login(EMAIL, &pw(PASSWORD), None).await,
        Err(Error::InvalidCredentials)
    ));
    h.service.login(EMAIL, &new, None).await.unwrap();
    assert!(h.audit.all().contains(&AuditEvent::PasswordChanged {
        user_id: laptop.user.id,
        session_id: laptop.principal.session().unwrap().to_owned(),
    }));
}

#[tokio::test]
async fn change_password_refusals_change_nothing() {
    let (h, user) = registered_user().await;
    let other = login_from(&h, "Other").await;
    let wrong = h
        .service
        .change_password(
            &user.principal,
            &pw("not my password"),
            &pw("a new password 1"),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::CurrentPasswordWrong));
    assert_eq!((wrong.status(), wrong.code()), (403, "invalid_credentials"));
    let weak = h
        .service
        .change_password(&user.principal, &pw(PASSWORD), &pw("short"), None)
        .await
        .unwrap_err();
    assert_eq!((weak.status(), weak.code()), (422, "validation_error"));
    // Both sessions live on, and the old password still signs in.
    h.service.authenticate(other.access()).await.unwrap();
    h.service.authenticate(user.access()).await.unwrap();
    h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    assert!(h.audit.all().contains(&AuditEvent::PasswordChangeFailed {
        user_id: user.user.id
    }));
}

#[tokio::test]
async fn wrong_current_passwords_count_toward_the_login_limit() {
    let mut limits = RateLimits::default();
    limits.login_per_account = RateLimit::new(3, Duration::from_secs(60));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    let user = h.sign_up(EMAIL).await;
    for _ in 0..3 {
        let e = h
            .service
            .change_password(
                &user.principal,
                &pw("guess guess"),
                &pw("a new password 1"),
                None,
            )
            .await;
        assert!(matches!(e, Err(Error::CurrentPasswordWrong)));
    }
    // The account's login budget is spent: the next guess and the next login are refused.
    let e = h
        .service
        .change_password(
            &user.principal,
            &pw(PASSWORD),
            &pw("a new password 1"),
            None,
        )
        .await;
    assert!(matches!(e, Err(Error::RateLimited { .. })), "{e:?}");
    let e = h.service.login(EMAIL, &pw(PASSWORD), None).await;
    assert!(matches!(e, Err(Error::RateLimited { .. })), "{e:?}");
}

/// A password change racing a reset of the same account: the reset is unconditional, the change
/// is compare-and-set over the hash it verified, so the reset's password always stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn change_password_racing_a_reset_never_overwrites_it() {
    for round in 0..4 {
        let (h, user) = registered_user().await;
        h.service.forgot_password(EMAIL, None).await.unwrap();
        let (_, token) = h.mailer.wait_for(1).await;
        let (reset_pw, change_pw) = (format!("reset password {round}"), "changed password 1");
        let service = h.service.clone();
        let reset = tokio::spawn(async move {
            service
                .reset_password(&ResetToken::new(token), &pw(&reset_pw))
                .await
        });
        let changed = h
            .service
            .change_password(&user.principal, &pw(PASSWORD), &pw(change_pw), None)
            .await;
        reset.await.unwrap().unwrap();
        assert!(
            matches!(changed, Ok(()) | Err(Error::CurrentPasswordWrong)),
            "{changed:?}"
        );
        let reset_pw = format!("reset password {round}");
        h.service.login(EMAIL, &pw(&reset_pw), None).await.unwrap();
        assert!(matches!(
            h.service.login(EMAIL, &pw(change_pw), None).await,
            Err(Error::InvalidCredentials)
        ));
        // The reset ended every session, the changer's too.
        assert!(revoked(h.service.authenticate(user.access()).await));
    }
}

/// A harness whose registrations mail verification links, with [`EMAIL`] registered.
async fn verifying_user() -> (Harness, SignedIn) {
    let h = harness(config().email_verification(true).build().unwrap()).await;
    let user = h.sign_up(EMAIL).await;
    (h, user)
}

#[tokio::test]
async fn registration_mails_nothing_new_unless_verification_is_on() {
    let (h, user) = registered_user().await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    h.mailer.wait_for(1).await;
    assert_eq!(h.mailer.verification_count(), 0);
    assert!(!user.user.email_verified);
    // Asking for a link still works.
    h.service
        .resend_verification(&user.principal, None)
        .await
        .unwrap();
    h.mailer.wait_for_verification(1).await;
}

#[tokio::test]
async fn registration_mails_a_single_use_verification_token() {
    let (h, user) = verifying_user().await;
    assert!(!user.user.email_verified);
    let (to, token) = h.mailer.wait_for_verification(1).await;
    assert_eq!(to, EMAIL);
    let token = VerificationToken::new(token);
    h.service.verify_email(&token, None).await.unwrap();
    let me = h.service.me(&user.principal).await.unwrap();
    assert!(me.email_verified);
    let again = h.service.verify_email(&token, None).await.unwrap_err();
    assert!(matches!(again, Error::InvalidVerificationToken));
    assert_eq!(
        (again.status(), again.code()),
        (400, "invalid_verification_token")
    );
    let made_up = VerificationToken::new("x".repeat(43));
    assert!(h.service.verify_email(&made_up, None).await.is_err());
    assert!(
        h.service
            .verify_email(&VerificationToken::new(""), None)
            .await
            .is_err()
    );
    let events = h.audit.all();
    assert!(events.contains(&AuditEvent::VerificationRequested {
        user_id: user.user.id
    }));
    assert!(events.contains(&AuditEvent::EmailVerified {
        user_id: user.user.id
    }));
    // A verified address gets no more mail.
    h.service
        .resend_verification(&user.principal, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.mailer.verification_count(), 1);
}

#[tokio::test]
async fn an_expired_verification_token_is_refused_and_a_resent_one_works() {
    let (h, user) = verifying_user().await;
    let (_, first) = h.mailer.wait_for_verification(1).await;
    h.clock.advance(Duration::from_secs(24 * 3600));
    let e = h
        .service
        .verify_email(&VerificationToken::new(first), None)
        .await;
    assert!(matches!(e, Err(Error::InvalidVerificationToken)));
    assert!(!h.service.me(&user.principal).await.unwrap().email_verified);
    h.service
        .resend_verification(&user.principal, None)
        .await
        .unwrap();
    let (_, second) = h.mailer.wait_for_verification(2).await;
    h.service
        .verify_email(&VerificationToken::new(second), None)
        .await
        .unwrap();
    assert!(h.service.me(&user.principal).await.unwrap().email_verified);
}

#[tokio::test]
async fn resending_is_rate_limited_per_account() {
    let mut limits = RateLimits::default();
    limits.resend_verification_per_account = RateLimit::new(2, Duration::from_secs(3600));
    let config = AuthConfig::builder()
        .rate_limits(limits)
        .email_verification(true);
    let h = harness(config.build().unwrap()).await;
    let user = h.sign_up(EMAIL).await;
    h.service
        .resend_verification(&user.principal, None)
        .await
        .unwrap();
    h.service
        .resend_verification(&user.principal, None)
        .await
        .unwrap();
    let e = h
        .service
        .resend_verification(&user.principal, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    h.mailer.wait_for_verification(3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        h.mailer.verification_count(),
        3,
        "registration + two resends"
    );
}

#[tokio::test]
async fn required_verification_refuses_login_after_the_same_password_work() {
    let h = harness(config().require_verified_email(true).build().unwrap()).await;
    let signed_up = h
        .service
        .sign_up(EMAIL, &pw(PASSWORD), &ClientInfo::default())
        .await
        .unwrap();
    let SignUp::VerificationRequired(user) = signed_up else {
        panic!("nobody is signed in before the address is verified");
    };
    assert!(!user.email_verified);
    let e = h
        .service
        .register("b@example.com", &pw(PASSWORD), None)
        .await;
    assert!(matches!(e, Err(Error::EmailNotVerified)));
    h.mailer.wait_for_verification(2).await;

    let before = h.service.password_computations();
    let e = h
        .service
        .login(EMAIL, &pw(PASSWORD), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (403, "email_not_verified"));
    assert_eq!(h.service.password_computations(), before + 1);
    // A wrong password says nothing about verification.
    let e = h.service.login(EMAIL, &pw("wrong password"), None).await;
    assert!(matches!(e, Err(Error::InvalidCredentials)));
    // The refused login mailed a fresh link; it lets the user in.
    let (to, token) = h.mailer.wait_for_verification(3).await;
    assert_eq!(to, EMAIL);
    h.service
        .verify_email(&VerificationToken::new(token), None)
        .await
        .unwrap();
    let login = h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    assert!(login.user.email_verified);
    assert!(
        h.audit
            .all()
            .contains(&AuditEvent::LoginUnverified { user_id: user.id })
    );
}

#[tokio::test]
async fn a_reset_through_the_mailed_link_verifies_the_address() {
    let h = harness(config().require_verified_email(true).build().unwrap()).await;
    let _ = h.service.register(EMAIL, &pw(PASSWORD), None).await;
    h.service.forgot_password(EMAIL, None).await.unwrap();
    let (_, token) = h.mailer.wait_for(1).await;
    let new = pw("a brand new password");
    h.service
        .reset_password(&ResetToken::new(token), &new)
        .await
        .unwrap();
    let login = h.service.login(EMAIL, &new, None).await.unwrap();
    assert!(login.user.email_verified);
}
