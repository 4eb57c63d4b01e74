//! The verified-credential caches: a hit is the same principal, and every way a credential ends
//! (logout, reset, role change, expiry, its key leaving the ring, a key's revocation, its creator's
//! role change or removal) still refuses it at once. Also: API keys' last use is written in
//! batches, never by a request; and the admin's removal of a user.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::api_key::Environment;
use assimetria_auth::error::{TokenError, ValidationError};
use assimetria_auth::rbac::seed;
use assimetria_auth::token::{JwtKey, KeyRing};
use assimetria_auth::{AuthConfig, CacheConfig, Error};
use harness::*;

fn config(caches: CacheConfig) -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .caches(caches)
        .build()
        .unwrap()
}

fn revoked<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidToken(TokenError::Revoked)))
}

#[tokio::test]
async fn the_same_token_again_is_the_same_principal_and_off_means_verified_each_time() {
    let (h, user) = registered_user().await;
    let first = h.service.authenticate(user.access()).await.unwrap();
    let again = h.service.authenticate(user.access()).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");

    let off = harness(config(CacheConfig {
        tokens: 0,
        ..CacheConfig::default()
    }))
    .await;
    let user = off.sign_up(EMAIL).await;
    let first = off.service.authenticate(user.access()).await.unwrap();
    let again = off.service.authenticate(user.access()).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &again), "no cache: verified again");
    assert_eq!(first, again);
}

#[tokio::test]
async fn a_cached_token_is_refused_after_logout_reset_and_role_change() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    // Logout.
    let a = h.user("a@example.com", seed::MEMBER).await;
    h.service.authenticate(a.access()).await.unwrap();
    h.service.logout(&a.principal).await.unwrap();
    assert!(revoked(h.service.authenticate(a.access()).await));
    // Password reset.
    let b = h.user("b@example.com", seed::MEMBER).await;
    h.service.authenticate(b.access()).await.unwrap();
    h.service
        .forgot_password("b@example.com", None)
        .await
        .unwrap();
    let (_, token) = h.mailer.wait_for(1).await;
    h.service
        .reset_password(
            &assimetria_auth::ResetToken::new(token),
            &pw("another horse battery"),
        )
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(b.access()).await));
    // Role change.
    let c = h.user("c@example.com", seed::MEMBER).await;
    h.service.authenticate(c.access()).await.unwrap();
    h.service
        .set_role(&admin.principal, c.user.id, seed::VIEWER)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(c.access()).await));
    // Refresh-token reuse ends the session.
    let d = h.user("d@example.com", seed::MEMBER).await;
    h.service.authenticate(d.access()).await.unwrap();
    h.service.refresh(&d.refresh_token).await.unwrap();
    h.clock.advance(Duration::from_secs(11));
    assert!(h.service.refresh(&d.refresh_token).await.is_err());
    assert!(revoked(h.service.authenticate(d.access()).await));
}

#[tokio::test]
async fn a_cached_token_expires_on_time() {
    let (h, user) = registered_user().await;
    h.service.authenticate(user.access()).await.unwrap();
    h.clock.advance(Duration::from_secs(86_400 + 29));
    assert!(
        h.service.authenticate(user.access()).await.is_ok(),
        "inside the leeway"
    );
    h.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        h.service.authenticate(user.access()).await,
        Err(Error::InvalidToken(TokenError::Expired))
    ));
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves_the_ring() {
    let h = default_harness().await;
    let key = JwtKey::hs256("k1", &[7; 32]).unwrap();
    h.service
        .set_key_ring(KeyRing::new(key.clone()).unwrap())
        .await;
    let user = h.sign_up(EMAIL).await;
    h.service.authenticate(user.access()).await.unwrap();
    // The same kid, another secret: a ring a host rebuilt. The cached verification was made
    // under the old secret and must not count.
    let other = JwtKey::hs256("k1", &[8; 32]).unwrap();
    h.service.set_key_ring(KeyRing::new(other).unwrap()).await;
    assert!(matches!(
        h.service.authenticate(user.access()).await,
        Err(Error::InvalidToken(TokenError::BadSignature))
    ));
    // And a ring without the kid at all.
    let mut ring = KeyRing::new(key).unwrap();
    ring.rotate(JwtKey::hs256("k2", &[9; 32]).unwrap()).unwrap();
    h.service.set_key_ring(ring.clone()).await;
    h.service.authenticate(user.access()).await.unwrap();
    ring.remove("k1").unwrap();
    h.service.set_key_ring(ring).await;
    assert!(matches!(
        h.service.authenticate(user.access()).await,
        Err(Error::InvalidToken(TokenError::UnknownKey))
    ));
}

#[tokio::test]
async fn a_forgery_under_a_cached_signature_is_refused() {
    let h = default_harness().await;
    let viewer = h.sign_up(EMAIL).await;
    h.service.authenticate(viewer.access()).await.unwrap();
    let (signing_input, signature) = viewer.access().rsplit_once('.').unwrap();
    let (header, payload) = signing_input.split_once('.').unwrap();
    // Another payload (an admin role) under the cached token's signature.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(payload).unwrap()).unwrap();
    let forged_claims = claims.replace("\"viewer\"", "\"admin\"");
    assert_ne!(claims, forged_claims);
    let forged = format!("{header}.{}.{signature}", b64.encode(forged_claims));
    assert!(matches!(
        h.service.authenticate(&forged).await,
        Err(Error::InvalidToken(TokenError::BadSignature))
    ));
    assert_eq!(
        h.service.authenticate(viewer.access()).await.unwrap().role,
        seed::VIEWER
    );
}

#[tokio::test]
async fn rejections_never_enter_the_cache() {
    let (h, user) = registered_user().await;
    let before = h.service.cached_credentials();
    let (signing_input, _) = user.access().rsplit_once('.').unwrap();
    for garbage in [
        "",
        "not a token",
        "a.b.c",
        &format!("{signing_input}.AAAA"),
        &format!("{signing_input}.{}", "A".repeat(43)),
    ] {
        assert!(h.service.authenticate(garbage).await.is_err(), "{garbage}");
    }
    assert_eq!(h.service.cached_credentials(), before);
    // A token verified for the first time does enter it.
    let again = h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    h.service
        .authenticate(again.access_token.expose())
        .await
        .unwrap();
    assert_eq!(h.service.cached_credentials(), (before.0 + 1, before.1));
}

/// An admin, one of their keys with `role`, and the key's text.
async fn admin_with_key(h: &Harness, role: assimetria_auth::Role) -> (SignedIn, i64, String) {
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    let created = h
        .service
        .create_api_key(&admin.principal, "ci", Environment::Live, Some(role))
        .await
        .unwrap();
    (admin, created.info.id, created.key.expose().to_owned())
}

#[tokio::test]
async fn a_cached_key_is_served_without_the_store_until_its_ttl() {
    // No background sync: the log is read only when this test says so.
    let clock = Arc::new(assimetria_auth::clock::ManualClock::new(T0));
    let store: Arc<dyn assimetria_auth::store::Store> =
        Arc::new(assimetria_auth::MemoryStore::new());
    let service = assimetria_auth::AuthService::builder(
        config(CacheConfig {
            api_key_ttl: Duration::from_secs(60),
            ..CacheConfig::default()
        }),
        Arc::clone(&store),
    )
    .clock(clock.clone())
    .background_revocation_sync(false)
    .build()
    .await
    .unwrap();
    let admin = signed_in(&service, "admin@example.com", seed::ADMIN).await;
    let created = service
        .create_api_key(
            &admin.principal,
            "ci",
            Environment::Live,
            Some(seed::MEMBER),
        )
        .await
        .unwrap();
    let (id, key) = (created.info.id, created.key.expose());
    let first = service.authenticate(key).await.unwrap();
    // Revoked by another instance: in the store and its log, not yet read here.
    store.revoke_api_key(id, T0, T0 + 600).await.unwrap();
    let again = service.authenticate(key).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "no store read on a hit");
    // The TTL bounds it even if the log were never read...
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        service.authenticate(key).await,
        Err(Error::InvalidApiKey)
    ));
}

#[tokio::test]
async fn another_instances_revocation_reaches_the_cache_at_the_next_sync() {
    let h = default_harness().await;
    let (_, id, key) = admin_with_key(&h, seed::MEMBER).await;
    h.service.authenticate(&key).await.unwrap();
    h.store.revoke_api_key(id, T0, T0 + 600).await.unwrap();
    h.service.sync_revocations().await.unwrap();
    assert!(matches!(
        h.service.authenticate(&key).await,
        Err(Error::InvalidApiKey)
    ));
}

#[tokio::test]
async fn a_token_whose_session_id_names_a_log_entry_is_refused() {
    let h = default_harness().await;
    let ring = KeyRing::new(JwtKey::hs256("k1", &[7; 32]).unwrap()).unwrap();
    h.service.set_key_ring(ring.clone()).await;
    let claims = assimetria_auth::token::AccessClaims {
        sub: "1".into(),
        sid: "user:1".into(),
        role: seed::VIEWER,
        org: None,
        iss: "assimetria-auth".into(),
        aud: "assimetria-api".into(),
        iat: T0,
        nbf: T0,
        exp: T0 + 60,
        jti: "j".into(),
    };
    let token = ring.sign(&claims).unwrap();
    assert!(matches!(
        h.service.authenticate(token.expose()).await,
        Err(Error::InvalidToken(TokenError::Malformed))
    ));
}

#[tokio::test]
async fn a_cached_key_is_refused_at_once_after_revocation() {
    let h = default_harness().await;
    let (admin, id, key) = admin_with_key(&h, seed::MEMBER).await;
    h.service.authenticate(&key).await.unwrap();
    h.service
        .revoke_api_key(&admin.principal, id)
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(&key).await,
        Err(Error::InvalidApiKey)
    ));
}

#[tokio::test]
async fn a_cached_key_follows_its_creators_role_and_removal() {
    let h = default_harness().await;
    let admin = h.user("root@example.com", seed::ADMIN).await;
    let creator = h.user("mia@example.com", seed::ADMIN).await;
    let key = h
        .service
        .create_api_key(
            &creator.principal,
            "ci",
            Environment::Live,
            Some(seed::ADMIN),
        )
        .await
        .unwrap()
        .key;
    let key = key.expose();
    assert_eq!(h.service.authenticate(key).await.unwrap().role, seed::ADMIN);
    h.service
        .set_role(&admin.principal, creator.user.id, seed::MEMBER)
        .await
        .unwrap();
    assert_eq!(
        h.service.authenticate(key).await.unwrap().role,
        seed::MEMBER,
        "the creator's demotion demotes the cached key at once"
    );
    h.service
        .remove_user(&admin.principal, creator.user.id)
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(key).await,
        Err(Error::InvalidApiKey)
    ));
}

#[tokio::test]
async fn last_use_is_written_in_batches_not_by_requests() {
    let h = default_harness().await;
    let (admin, _, key) = admin_with_key(&h, seed::MEMBER).await;
    for _ in 0..5 {
        h.service.authenticate(&key).await.unwrap();
        h.clock.advance(Duration::from_secs(7));
    }
    let listed = h.service.list_api_keys(&admin.principal).await.unwrap();
    assert_eq!(listed[0].last_used_at, None, "no request wrote it");
    h.service.flush().await.unwrap();
    let listed = h.service.list_api_keys(&admin.principal).await.unwrap();
    let latest = time::OffsetDateTime::from_unix_timestamp(T0 + 28)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(listed[0].last_used_at, Some(latest), "the latest use");
}

#[tokio::test]
async fn the_background_task_writes_last_use() {
    let h = harness(config(CacheConfig {
        last_used_flush: Duration::from_millis(20),
        ..CacheConfig::default()
    }))
    .await;
    let (admin, _, key) = admin_with_key(&h, seed::MEMBER).await;
    h.service.authenticate(&key).await.unwrap();
    for _ in 0..200 {
        let listed = h.service.list_api_keys(&admin.principal).await.unwrap();
        if listed[0].last_used_at.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("last use never written");
}

/// A mailer that takes its time, as a real mail server does.
#[derive(Debug, Default)]
struct SlowMailer {
    delivered: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl assimetria_auth::mail::Mailer for SlowMailer {
    async fn send(&self, _: assimetria_auth::mail::Mail) -> Result<(), Error> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.delivered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_waits_for_mail_writes_last_use_and_stops_the_background_tasks() {
    let mailer = Arc::new(SlowMailer::default());
    let clock = Arc::new(assimetria_auth::clock::ManualClock::new(T0));
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .caches(CacheConfig {
            last_used_flush: Duration::from_millis(20),
            ..CacheConfig::default()
        })
        .master_keys(vec![test_master_key()])
        .build()
        .unwrap();
    let store: Arc<dyn assimetria_auth::store::Store> =
        Arc::new(assimetria_auth::MemoryStore::new());
    let service = assimetria_auth::AuthService::builder(config, Arc::clone(&store))
        .clock(clock.clone())
        .mailer(mailer.clone())
        .build()
        .await
        .unwrap();
    let admin = signed_in(&service, "admin@example.com", seed::ADMIN).await;
    let created = service
        .create_api_key(&admin.principal, "k", Environment::Live, Some(seed::MEMBER))
        .await
        .unwrap();
    let (id, key) = (created.info.id, created.key.expose().to_owned());
    service
        .forgot_password("admin@example.com", None)
        .await
        .unwrap();
    service.authenticate(&key).await.unwrap();
    service.shutdown().await.unwrap();
    assert_eq!(
        mailer.delivered.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the mail in flight was delivered before shutdown returned"
    );
    let last_used = |store: Arc<dyn assimetria_auth::store::Store>| async move {
        store.api_key_by_id(id).await.unwrap().unwrap().last_used_at
    };
    assert_eq!(
        last_used(store.clone()).await,
        Some(T0),
        "the pending use was written"
    );

    // The background writer has stopped: a use after the shutdown stays pending.
    clock.advance(Duration::from_secs(120));
    service.authenticate(&key).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        last_used(store.clone()).await,
        Some(T0),
        "nothing writes in the background after shutdown"
    );
    // Until the host flushes.
    service.shutdown().await.unwrap();
    assert_eq!(last_used(store).await, Some(T0 + 120));
}

#[tokio::test]
async fn removing_a_user_ends_their_sessions_and_checks_the_remover() {
    let h = default_harness().await;
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    let member = h.user("mia@example.com", seed::MEMBER).await;
    let other_admin = h.user("ola@example.com", seed::ADMIN).await;
    // A member cannot remove anyone; nobody removes themselves here.
    assert!(matches!(
        h.service
            .remove_user(&member.principal, admin.user.id)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        h.service.remove_user(&admin.principal, admin.user.id).await,
        Err(Error::Validation(ValidationError::RemoveSelf))
    ));
    assert!(matches!(
        h.service.remove_user(&admin.principal, 9_999).await,
        Err(Error::NotFound)
    ));
    h.service.authenticate(member.access()).await.unwrap();
    h.service
        .remove_user(&admin.principal, member.user.id)
        .await
        .unwrap();
    assert!(revoked(h.service.authenticate(member.access()).await));
    assert!(h.service.refresh(&member.refresh_token).await.is_err());
    assert!(
        h.service
            .login("mia@example.com", &pw(PASSWORD), None)
            .await
            .is_err()
    );
    assert!(matches!(
        h.service
            .remove_user(&admin.principal, member.user.id)
            .await,
        Err(Error::NotFound)
    ));
    assert!(h.audit.all().iter().any(|e| matches!(
        e,
        assimetria_auth::audit::AuditEvent::UserRemoved { user_id, .. } if *user_id == member.user.id
    )));
    // Peers can remove each other (neither outranks the other).
    h.service
        .remove_user(&admin.principal, other_admin.user.id)
        .await
        .unwrap();
}
