//! Several `AuthService` instances over one database, as in a deployment with many processes, and
//! many concurrent refreshes of one token.
//!
//! Each case runs on the memory store (two services sharing one object), on one SQLite file opened
//! twice (two pools, as two processes would) and on one PostgreSQL schema opened twice (from
//! `TEST_DATABASE_URL`; see `tests/stores/mod.rs` for what happens without it). The test names
//! are `<store>::<case>`.

mod harness;
#[macro_use]
mod stores;

use assimetria_auth::rbac::seed;
use std::time::{Duration, Instant};

use assimetria_auth::api_key::Environment;
use assimetria_auth::error::TokenError;
use assimetria_auth::{AuthConfig, AuthService, Error, MasterKey};
use assimetria_auth::{Password, RefreshToken};

use harness::{PASSWORD, signed_in};
use stores::Db;

/// How long another instance may take to refuse a revoked credential.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(1);
/// How many times each refresh race is run.
const TRIALS: usize = 50;
/// Concurrent refreshes per race.
const CONTENDERS: usize = 64;

/// The deployment's master key: every instance is given it.
fn master_key() -> MasterKey {
    MasterKey::from_bytes([42; 32])
}

/// A service over its own store on `db` (a new pool for SQL databases), with the default
/// revocation poll interval.
async fn instance(db: &Db) -> AuthService {
    instance_with_keys(db, vec![master_key()])
        .await
        .expect("service builds")
}

async fn instance_with_keys(db: &Db, master_keys: Vec<MasterKey>) -> Result<AuthService, Error> {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .master_keys(master_keys)
        .build()
        .expect("valid config");
    AuthService::builder(config, db.store().await).build().await
}

/// Polls `service` until it refuses `credential`; fails if it still accepts it after the
/// deadline. Returns the refusal.
async fn refused_within_deadline(service: &AuthService, credential: &str) -> Error {
    let start = Instant::now();
    loop {
        match service.authenticate(credential).await {
            Err(e) => return e,
            Ok(_) if start.elapsed() < PROPAGATION_DEADLINE => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(p) => panic!(
                "still accepted {:?} after the change: {p:?}",
                start.elapsed()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

/// Two instances share the signing key through the store: each accepts the other's tokens.
async fn instances_accept_each_others_tokens(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    assert_eq!(a.jwks(), b.jwks(), "one signing key for the deployment");

    let ada = signed_in(&a, "ada@example.com", seed::ADMIN).await;
    assert_eq!(
        *b.authenticate(ada.access())
            .await
            .expect("B accepts A's token"),
        ada.principal
    );

    // A refresh token from A rotates on B, and the new access token works on A.
    let rotated = b
        .refresh(&ada.refresh_token)
        .await
        .expect("B rotates A's refresh token");
    let p = a
        .authenticate(rotated.access_token.expose())
        .await
        .expect("A accepts B's token");
    assert_eq!(p.user_id, ada.user.id);

    let login_b = b
        .login("ada@example.com", &Password::new(PASSWORD), None)
        .await
        .expect("log in on B");
    a.authenticate(login_b.access_token.expose())
        .await
        .expect("A accepts a token B issued");
}

/// A signing key rotated on A signs on A at once; B accepts its tokens within the deadline (it
/// learns the key from the store on its next poll), and both keep accepting tokens of the old key.
async fn key_rotation_propagates(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    let old_token = signed_in(&a, "ada@example.com", seed::MEMBER)
        .await
        .access_token;
    let kid = a.rotate_signing_key().await.expect("rotate");
    let login = a
        .login("ada@example.com", &Password::new(PASSWORD), None)
        .await
        .expect("log in after rotation");
    let new_token = login.access_token.expose().to_owned();
    let header = new_token.split('.').next().unwrap().to_owned();
    assert!(
        String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &header)
                .unwrap()
        )
        .unwrap()
        .contains(&kid),
        "A signs with the new key"
    );
    let start = Instant::now();
    while b.authenticate(&new_token).await.is_err() {
        assert!(
            start.elapsed() < PROPAGATION_DEADLINE,
            "B never learned the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for service in [&a, &b] {
        service
            .authenticate(old_token.expose())
            .await
            .expect("the old key still verifies");
        let jwks = service.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    }
    // A restarted instance signs with the rotated key too (the newest stored key).
    let c = instance(&db).await;
    let login = c
        .login("ada@example.com", &Password::new(PASSWORD), None)
        .await
        .unwrap();
    a.authenticate(login.access_token.expose()).await.unwrap();
    assert!(login.access_token.expose().starts_with(&header[..10]));
}

/// The master key rotates: an instance given the new key first and the old one after opens the
/// store and re-seals it; from then on the old key alone opens nothing, and a wrong key is a
/// clear refusal to start, never a silent new signing key.
async fn master_key_rotation(db: Db) {
    let a = instance(&db).await;
    let token = signed_in(&a, "ada@example.com", seed::MEMBER)
        .await
        .access_token;
    let wrong = instance_with_keys(&db, vec![MasterKey::from_bytes([7; 32])]).await;
    assert!(matches!(wrong, Err(Error::Config(_))), "{wrong:?}");
    let none = instance_with_keys(&db, vec![]).await;
    assert!(matches!(none, Err(Error::Config(_))), "{none:?}");

    let new = MasterKey::from_bytes([43; 32]);
    let b = instance_with_keys(&db, vec![new.clone(), master_key()])
        .await
        .expect("old and new keys open the store");
    b.authenticate(token.expose())
        .await
        .expect("same signing key");
    let c = instance_with_keys(&db, vec![new]).await.expect("re-sealed");
    c.authenticate(token.expose())
        .await
        .expect("same signing key");
    let old_only = instance_with_keys(&db, vec![master_key()]).await;
    assert!(matches!(old_only, Err(Error::Config(_))), "{old_only:?}");
}

/// A logout on A makes B refuse the access token within the deadline.
async fn logout_propagates(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    let ada = signed_in(&a, "ada@example.com", seed::MEMBER).await;
    b.authenticate(ada.access())
        .await
        .expect("B accepts the token");

    a.logout(&ada.principal).await.expect("logout");
    assert!(
        a.authenticate(ada.access()).await.is_err(),
        "A refuses at once"
    );
    let refusal = refused_within_deadline(&b, ada.access()).await;
    assert!(
        matches!(refusal, Error::InvalidToken(TokenError::Revoked)),
        "{refusal:?}"
    );
}

/// An API key revoked on A is refused by B within the deadline.
async fn api_key_revocation_propagates(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    let admin = signed_in(&a, "admin@example.com", seed::ADMIN)
        .await
        .principal;
    let created = a
        .create_api_key(&admin, "ci", Environment::Live, Some(seed::MEMBER))
        .await
        .expect("create key");
    let key = created.key.expose().to_owned();
    let on_b = b.authenticate(&key).await.expect("B accepts the key");
    assert_eq!(on_b.role, seed::MEMBER);
    // Both have it cached now.
    a.authenticate(&key).await.expect("A accepts the key");
    b.authenticate(&key).await.expect("B accepts the key again");

    a.revoke_api_key(&admin, created.info.id)
        .await
        .expect("revoke");
    assert!(
        matches!(a.authenticate(&key).await, Err(Error::InvalidApiKey)),
        "refused at once where it was revoked"
    );
    let refusal = refused_within_deadline(&b, &key).await;
    assert!(matches!(refusal, Error::InvalidApiKey), "{refusal:?}");
}

/// A key both instances have cached follows its creator: a demotion on A lowers the key's role
/// on A at once and on B within the deadline; removing the creator disables it the same way.
async fn creator_changes_reach_cached_keys(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    let root = signed_in(&a, "root@example.com", seed::ADMIN)
        .await
        .principal;
    let creator = signed_in(&a, "mia@example.com", seed::ADMIN).await;
    let created = a
        .create_api_key(
            &creator.principal,
            "ci",
            Environment::Live,
            Some(seed::ADMIN),
        )
        .await
        .expect("create key");
    let key = created.key.expose().to_owned();
    for service in [&a, &b] {
        assert_eq!(service.authenticate(&key).await.unwrap().role, seed::ADMIN);
    }

    a.set_role(&root, creator.user.id, seed::MEMBER)
        .await
        .expect("demote the creator");
    assert_eq!(
        a.authenticate(&key).await.unwrap().role,
        seed::MEMBER,
        "at once where it changed"
    );
    let start = Instant::now();
    while b.authenticate(&key).await.unwrap().role != seed::MEMBER {
        assert!(
            start.elapsed() < PROPAGATION_DEADLINE,
            "B still acts with the old role"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    a.remove_user(&root, creator.user.id)
        .await
        .expect("remove the creator");
    assert!(matches!(
        a.authenticate(&key).await,
        Err(Error::InvalidApiKey)
    ));
    let refusal = refused_within_deadline(&b, &key).await;
    assert!(matches!(refusal, Error::InvalidApiKey), "{refusal:?}");
}

/// A role change on A ends the user's sessions: B refuses their access token within the
/// deadline, and a new login on B carries the new role.
async fn role_change_propagates(db: Db) {
    let a = instance(&db).await;
    let b = instance(&db).await;
    let admin = signed_in(&a, "admin@example.com", seed::ADMIN)
        .await
        .principal;
    let member = signed_in(&b, "mia@example.com", seed::MEMBER).await;
    assert_eq!(
        b.authenticate(member.access()).await.unwrap().role,
        seed::MEMBER
    );

    a.set_role(&admin, member.user.id, seed::VIEWER)
        .await
        .expect("set role");
    let refusal = refused_within_deadline(&b, member.access()).await;
    assert!(
        matches!(refusal, Error::InvalidToken(TokenError::Revoked)),
        "{refusal:?}"
    );

    let again = b
        .login("mia@example.com", &Password::new(PASSWORD), None)
        .await
        .expect("log in again");
    let p = b.authenticate(again.access_token.expose()).await.unwrap();
    assert_eq!(p.role, seed::VIEWER);
}

/// 64 concurrent refreshes of one token, spread over `services`, all succeed with one identical
/// pair; repeated on the successive tokens, `TRIALS` times.
async fn refresh_race(services: &[AuthService]) {
    let mut token = signed_in(&services[0], "ada@example.com", seed::MEMBER)
        .await
        .refresh_token;
    for trial in 0..TRIALS {
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|i| {
                let service = services[i % services.len()].clone();
                let token = RefreshToken::new(token.expose());
                tokio::spawn(async move { service.refresh(&token).await })
            })
            .collect();
        let mut pairs = Vec::with_capacity(CONTENDERS);
        for t in tasks {
            let outcome = t
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("trial {trial}: a refresh failed: {e:?}"));
            pairs.push((
                outcome.access_token.expose().to_owned(),
                outcome.refresh_token.expose().to_owned(),
            ));
        }
        let first = pairs[0].clone();
        assert!(
            pairs.iter().all(|p| *p == first),
            "trial {trial}: every caller gets the same pair"
        );
        for service in services {
            service
                .authenticate(&first.0)
                .await
                .expect("the new access token works");
        }
        token = RefreshToken::new(first.1);
    }
}

/// The race on one instance.
async fn refresh_race_one_instance(db: Db) {
    refresh_race(&[instance(&db).await]).await;
}

/// The race with the callers split over two instances.
async fn refresh_race_two_instances(db: Db) {
    refresh_race(&[instance(&db).await, instance(&db).await]).await;
}

// ---------------------------------------------------------------------------------------------
// The cases, per store

per_store! {
    instances_accept_each_others_tokens,
    logout_propagates,
    api_key_revocation_propagates,
    creator_changes_reach_cached_keys,
    role_change_propagates,
    refresh_race_one_instance,
    refresh_race_two_instances,
    key_rotation_propagates,
    master_key_rotation,
}
