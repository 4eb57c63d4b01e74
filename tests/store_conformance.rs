//! One conformance suite for every store: each case below is an async function over
//! `Arc<dyn Store>` and runs unchanged against [`MemoryStore`], `SqlStore` on an SQLite file (in a
//! temporary directory) and `SqlStore` on PostgreSQL (a schema of the test's own, from
//! `TEST_DATABASE_URL`; see `tests/stores/mod.rs` for what happens without it).
//!
//! The test names are `<store>::<case>`, e.g. `sqlite::consume_refresh_race`.
//!
//! [`MemoryStore`]: assimetria_auth::store::memory::MemoryStore

mod stores;

use std::collections::HashSet;
use std::sync::Arc;

use assimetria_auth::api_key::Environment;
use assimetria_auth::error::StoreError;
use assimetria_auth::rbac::Role;
use assimetria_auth::secret::TokenHash;
use assimetria_auth::store::{
    Consumed, NewApiKey, NewUser, RefreshRecord, Revocation, Session, Store, StoredKey, UserChange,
};
use assimetria_auth::token::KeyAlgorithm;

/// A moment to measure from.
const T0: i64 = 1_700_000_000;
/// How many times each race is run.
const TRIALS: usize = 50;
/// Contenders per race.
const CONTENDERS: usize = 64;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn hash(label: &str) -> TokenHash {
    TokenHash::of(label)
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${email}"),
        role: Role::Member,
        org: Some("acme".to_owned()),
        created_at: T0,
    }
}

async fn user(store: &Arc<dyn Store>, email: &str) -> i64 {
    store
        .create_user(new_user(email))
        .await
        .expect("create user")
        .id
}

/// A live session `sid` of `user_id` whose first refresh token is `first`, valid until T0 + 1000.
async fn session(store: &Arc<dyn Store>, sid: &str, user_id: i64, first: &str) {
    store
        .create_session(
            Session::new(sid.to_owned(), user_id, T0),
            RefreshRecord::new(hash(first), sid.to_owned(), user_id, T0, T0 + 1000),
        )
        .await
        .expect("create session");
}

fn new_key(name: &str, org: Option<&str>, created_by: i64) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        hash: hash(&format!("key {name} {org:?}")),
        prefix: format!("osk_live_{name}"),
        environment: Environment::Live,
        role: Role::Viewer,
        org: org.map(str::to_owned),
        created_by,
        created_at: T0,
    }
}

fn stored_key(kid: &str, material: &[u8], created_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        algorithm: KeyAlgorithm::Hs256,
        material: material.to_vec(),
        created_at,
    }
}

fn spent_at(c: &Consumed) -> Option<i64> {
    match c {
        Consumed::Spent(r) | Consumed::AlreadySpent(r) => r.spent_at,
        Consumed::Invalid => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_create_and_look_up(store: Arc<dyn Store>) {
    assert!(store.list_users().await.unwrap().is_empty());
    let a = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut b_new = new_user("bob@example.com");
    b_new.role = Role::Admin;
    b_new.org = None;
    b_new.created_at = T0 + 5;
    let b = store.create_user(b_new).await.unwrap();
    assert!(b.id > a.id, "ids are assigned in increasing order");
    assert_eq!(a.email, "ada@example.com");
    assert_eq!(a.role, Role::Member);
    assert_eq!(a.org.as_deref(), Some("acme"));
    assert_eq!(a.created_at, T0);
    assert_eq!(
        (b.role, b.org.as_deref(), b.created_at),
        (Role::Admin, None, T0 + 5)
    );

    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.user_by_id(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.user_by_email("ADA@example.com").await.unwrap(),
        None,
        "exact match"
    );
    assert_eq!(store.user_by_id(b.id + 1000).await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap(), vec![a, b]);
}

async fn users_duplicate_email_is_conflict(store: Arc<dyn Store>) {
    let first = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut again = new_user("ada@example.com");
    again.role = Role::Admin;
    again.password_hash = "other".into();
    let err = store.create_user(again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "got {err:?}");
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![first.clone()],
        "changes nothing"
    );
    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        Some(first)
    );
    // The store is still usable after the failed insert.
    store
        .create_user(new_user("bob@example.com"))
        .await
        .unwrap();
}

async fn users_concurrent_duplicate_email(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_user(new_user("race@example.com")).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

async fn users_compare_and_set_password_hash(store: Arc<dyn Store>) {
    let id = user(&store, "ada@example.com").await;
    let other = user(&store, "bob@example.com").await;
    let original = store.user_by_id(id).await.unwrap().unwrap().password_hash;
    // Over a stale hash: nothing is written.
    assert!(
        !store
            .replace_password_hash(id, "$argon2id$stale", "$argon2id$upgrade")
            .await
            .unwrap()
    );
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().password_hash,
        original
    );
    // Over the current hash: written, once.
    assert!(
        store
            .replace_password_hash(id, &original, "$argon2id$upgrade")
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_password_hash(id, &original, "$argon2id$again")
            .await
            .unwrap(),
        "the expected hash is gone"
    );
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().password_hash,
        "$argon2id$upgrade"
    );
    let before = store.list_users().await.unwrap();
    assert!(
        !store
            .replace_password_hash(other + 1000, &original, "x")
            .await
            .unwrap()
    );
    assert_eq!(store.list_users().await.unwrap(), before);
}

async fn users_update_ending_sessions(store: Arc<dyn Store>) {
    let id = user(&store, "ada@example.com").await;
    let other = user(&store, "bob@example.com").await;
    session(&store, "ada-1", id, "ada-1 first").await;
    session(&store, "ada-2", id, "ada-2 first").await;
    session(&store, "bob-1", other, "bob-1 first").await;
    let cursor = store.last_revocation_cursor().await.unwrap();

    let ended = store
        .update_user_ending_sessions(id, UserChange::Role(Role::Viewer), T0 + 1, T0 + 500)
        .await
        .unwrap();
    assert_eq!(ended, Some(vec!["ada-1".to_owned(), "ada-2".to_owned()]));
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().role,
        Role::Viewer
    );
    for sid in ["ada-1", "ada-2"] {
        assert!(
            store
                .session(sid)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
    assert!(
        store
            .session("bob-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    // The revocation log got both, in the same step.
    let log: Vec<_> = store
        .revocations_since(cursor, T0 + 1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.session_id, r.until))
        .collect();
    assert_eq!(
        log,
        vec![
            ("ada-1".to_owned(), T0 + 500),
            ("ada-2".to_owned(), T0 + 500)
        ]
    );

    // A password change with no live session left: nothing to end, the hash changes.
    let ended = store
        .update_user_ending_sessions(
            id,
            UserChange::PasswordHash("$argon2id$reset".into()),
            T0 + 2,
            T0 + 500,
        )
        .await
        .unwrap();
    assert_eq!(ended, Some(vec![]));
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().password_hash,
        "$argon2id$reset"
    );

    // An unknown user: `None`, and nothing anywhere changes.
    let users = store.list_users().await.unwrap();
    let cursor = store.last_revocation_cursor().await.unwrap();
    assert_eq!(
        store
            .update_user_ending_sessions(other + 1000, UserChange::Role(Role::Admin), T0, T0 + 9)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list_users().await.unwrap(), users);
    assert_eq!(store.last_revocation_cursor().await.unwrap(), cursor);
    assert!(
        store
            .session("bob-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
}

/// A login's hash upgrade (compare-and-set over the hash it verified) racing a reset (an
/// unconditional write): whatever the order, the reset's hash is what stays.
async fn users_upgrade_never_undoes_a_reset(store: Arc<dyn Store>) {
    for trial in 0..TRIALS {
        let id = user(&store, &format!("race{trial}@example.com")).await;
        let verified = store.user_by_id(id).await.unwrap().unwrap().password_hash;
        let reset = format!("$argon2id$reset-{trial}");
        let upgrade = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .replace_password_hash(id, &verified, "$argon2id$upgraded-old-password")
                    .await
                    .unwrap()
            })
        };
        let reset_task = {
            let store = Arc::clone(&store);
            let reset = reset.clone();
            tokio::spawn(async move {
                store
                    .update_user_ending_sessions(id, UserChange::PasswordHash(reset), T0, T0 + 9)
                    .await
                    .unwrap()
            })
        };
        upgrade.await.unwrap();
        assert!(reset_task.await.unwrap().is_some());
        assert_eq!(
            store.user_by_id(id).await.unwrap().unwrap().password_hash,
            reset,
            "trial {trial}: the upgrade overwrote the reset"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions and refresh tokens

async fn sessions_create_and_look_up(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    assert_eq!(
        store.session("s1").await.unwrap(),
        Some(Session::new("s1".into(), uid, T0))
    );
    assert_eq!(store.session("nope").await.unwrap(), None);

    // A second session with the same id is a conflict, and its first token is not stored.
    let err = store
        .create_session(
            Session::new("s1".into(), uid, T0 + 1),
            RefreshRecord::new(hash("r-dup"), "s1".into(), uid, T0, T0 + 1000),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "got {err:?}");
    assert_eq!(
        store.consume_refresh(&hash("r-dup"), T0 + 1).await.unwrap(),
        Consumed::Invalid
    );
    assert_eq!(store.session("s1").await.unwrap().unwrap().created_at, T0);
}

async fn consume_refresh_spends_once(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    let first = store.consume_refresh(&hash("r1"), T0 + 10).await.unwrap();
    let mut expected = RefreshRecord::new(hash("r1"), "s1".into(), uid, T0, T0 + 1000);
    expected.spent_at = Some(T0 + 10);
    assert_eq!(first, Consumed::Spent(expected.clone()));
    let second = store.consume_refresh(&hash("r1"), T0 + 20).await.unwrap();
    assert_eq!(
        second,
        Consumed::AlreadySpent(expected),
        "carries the winner's spent_at"
    );
}

async fn consume_refresh_invalid_cases(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    // Unknown.
    assert_eq!(
        store.consume_refresh(&hash("unknown"), T0).await.unwrap(),
        Consumed::Invalid
    );

    // Expired (at and after expires_at), and not marked spent by the attempt.
    session(&store, "s1", uid, "r1").await;
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 1000).await.unwrap(),
        Consumed::Invalid
    );
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 5000).await.unwrap(),
        Consumed::Invalid
    );
    assert!(matches!(
        store.consume_refresh(&hash("r1"), T0 + 999).await.unwrap(),
        Consumed::Spent(_)
    ));
    // Spent and then expired: invalid too.
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 1000).await.unwrap(),
        Consumed::Invalid
    );

    // Revoked session: invalid, before and after spending, and never reported as spent.
    session(&store, "s2", uid, "r2").await;
    session(&store, "s3", uid, "r3").await;
    assert!(matches!(
        store.consume_refresh(&hash("r3"), T0 + 1).await.unwrap(),
        Consumed::Spent(_)
    ));
    assert!(store.revoke_session("s2", T0 + 2).await.unwrap());
    assert!(store.revoke_session("s3", T0 + 2).await.unwrap());
    for _ in 0..2 {
        assert_eq!(
            store.consume_refresh(&hash("r2"), T0 + 3).await.unwrap(),
            Consumed::Invalid
        );
        assert_eq!(
            store.consume_refresh(&hash("r3"), T0 + 3).await.unwrap(),
            Consumed::Invalid
        );
    }
}

async fn insert_refresh_rules(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    let successor = || RefreshRecord::new(hash("r1-next"), "s1".into(), uid, T0 + 10, T0 + 2000);

    assert!(store.insert_refresh(successor()).await.unwrap());
    // Idempotent: the same hash again is a no-op that reports success...
    assert!(store.insert_refresh(successor()).await.unwrap());
    let spent = store
        .consume_refresh(&hash("r1-next"), T0 + 20)
        .await
        .unwrap();
    let Consumed::Spent(record) = spent else {
        panic!("expected Spent, got {spent:?}")
    };
    assert_eq!((record.issued_at, record.expires_at), (T0 + 10, T0 + 2000));
    // ...and does not un-spend the stored token.
    assert!(store.insert_refresh(successor()).await.unwrap());
    assert!(matches!(
        store.consume_refresh(&hash("r1-next"), T0 + 21).await.unwrap(),
        Consumed::AlreadySpent(r) if r.spent_at == Some(T0 + 20)
    ));

    // Unknown session: false, nothing stored.
    let orphan = RefreshRecord::new(hash("orphan"), "no-such-session".into(), uid, T0, T0 + 1000);
    assert!(!store.insert_refresh(orphan).await.unwrap());
    assert_eq!(
        store
            .consume_refresh(&hash("orphan"), T0 + 1)
            .await
            .unwrap(),
        Consumed::Invalid
    );

    // Revoked session: false, nothing stored.
    assert!(store.revoke_session("s1", T0 + 30).await.unwrap());
    let late = RefreshRecord::new(hash("late"), "s1".into(), uid, T0 + 31, T0 + 2000);
    assert!(!store.insert_refresh(late).await.unwrap());
    // Not even the existing hash is reported as inserted into a revoked session.
    assert!(!store.insert_refresh(successor()).await.unwrap());
}

async fn revoke_session_once(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    assert!(store.revoke_session("s1", T0 + 7).await.unwrap());
    assert!(
        !store.revoke_session("s1", T0 + 8).await.unwrap(),
        "already ended"
    );
    assert!(!store.revoke_session("unknown", T0 + 8).await.unwrap());
    assert_eq!(
        store.session("s1").await.unwrap().unwrap().revoked_at,
        Some(T0 + 7)
    );
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 9).await.unwrap(),
        Consumed::Invalid
    );
}

async fn revoke_user_sessions_ends_live_ones(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    for (sid, uid) in [("s-c", ada), ("s-a", ada), ("s-b", ada), ("s-bob", bob)] {
        session(&store, sid, uid, &format!("r-{sid}")).await;
    }
    assert!(store.revoke_session("s-b", T0 + 1).await.unwrap());
    let ended = store.revoke_user_sessions(ada, T0 + 2).await.unwrap();
    assert_eq!(
        ended,
        vec!["s-a".to_owned(), "s-c".to_owned()],
        "live ones, sorted"
    );
    assert_eq!(
        store.session("s-a").await.unwrap().unwrap().revoked_at,
        Some(T0 + 2)
    );
    assert_eq!(
        store.session("s-b").await.unwrap().unwrap().revoked_at,
        Some(T0 + 1)
    );
    assert_eq!(
        store.session("s-bob").await.unwrap().unwrap().revoked_at,
        None
    );
    assert!(
        store
            .revoke_user_sessions(ada, T0 + 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .revoke_user_sessions(bob + 1000, T0 + 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .consume_refresh(&hash("r-s-bob"), T0 + 4)
            .await
            .unwrap(),
        Consumed::Spent(_)
    ));
}

// ---------------------------------------------------------------------------------------------
// API keys

async fn api_keys_lifecycle(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    let a = store
        .create_api_key(new_key("a", Some("acme"), uid))
        .await
        .unwrap();
    let mut b_new = new_key("b", None, uid);
    b_new.environment = Environment::Test;
    b_new.role = Role::Admin;
    let b = store.create_api_key(b_new).await.unwrap();
    let c = store
        .create_api_key(new_key("c", Some("acme"), uid))
        .await
        .unwrap();
    let d = store
        .create_api_key(new_key("d", Some("other"), uid))
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id && c.id < d.id);
    assert_eq!((a.last_used_at, a.revoked_at), (None, None));
    assert_eq!(
        (b.environment, b.role, b.org.as_deref()),
        (Environment::Test, Role::Admin, None)
    );

    assert_eq!(
        store.api_key_by_hash(&a.hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.api_key_by_id(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.api_key_by_hash(&hash("nope")).await.unwrap(), None);
    assert_eq!(store.api_key_by_id(d.id + 1000).await.unwrap(), None);

    // Duplicate hash: conflict, nothing added.
    let err = store
        .create_api_key(new_key("a", Some("acme"), uid))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "got {err:?}");

    // Revoke: once; revoked keys stay listed and findable.
    assert!(store.revoke_api_key(c.id, T0 + 5).await.unwrap());
    assert!(!store.revoke_api_key(c.id, T0 + 6).await.unwrap());
    assert!(!store.revoke_api_key(d.id + 1000, T0 + 6).await.unwrap());
    let c = store.api_key_by_hash(&c.hash).await.unwrap().unwrap();
    assert_eq!(c.revoked_at, Some(T0 + 5));

    // Touch.
    store.touch_api_key(a.id, T0 + 9).await.unwrap();
    store.touch_api_key(d.id + 1000, T0 + 9).await.unwrap();
    let a = store.api_key_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(a.last_used_at, Some(T0 + 9));

    assert_eq!(store.list_api_keys(Some("acme")).await.unwrap(), vec![a, c]);
    assert_eq!(store.list_api_keys(None).await.unwrap(), vec![b]);
    assert_eq!(store.list_api_keys(Some("other")).await.unwrap(), vec![d]);
    assert!(
        store
            .list_api_keys(Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Reset tokens

async fn reset_tokens_single_use_and_expiry(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    let other = user(&store, "bob@example.com").await;
    for (t, owner) in [("t1", uid), ("t2", uid), ("t3", uid), ("b1", other)] {
        store
            .create_reset_token(&hash(t), owner, T0 + 100)
            .await
            .unwrap();
    }
    // Looking a token up changes nothing.
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0 + 100).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.reset_token_user(&hash("unknown"), T0).await.unwrap(),
        None
    );

    // Expired at expires_at; the refused attempt does not spend it.
    assert_eq!(
        store
            .consume_reset_token(&hash("t2"), T0 + 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.reset_token_user(&hash("t2"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("unknown"), T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.consume_reset_token(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("t1"), T0 + 1)
            .await
            .unwrap(),
        None,
        "single use"
    );
    // Spending one ended the user's other pending resets, and only that user's.
    for t in ["t2", "t3"] {
        assert_eq!(
            store.reset_token_user(&hash(t), T0 + 1).await.unwrap(),
            None,
            "{t}"
        );
        assert_eq!(
            store.consume_reset_token(&hash(t), T0 + 1).await.unwrap(),
            None,
            "{t}"
        );
    }
    assert_eq!(
        store
            .consume_reset_token(&hash("b1"), T0 + 1)
            .await
            .unwrap(),
        Some(other)
    );
}

async fn reset_token_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let token = hash(&format!("reset {trial}"));
        store
            .create_reset_token(&token, uid, T0 + 100)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.consume_reset_token(&token, T0).await })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if let Some(id) = t.await.unwrap().unwrap() {
                assert_eq!(id, uid);
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "trial {trial}: exactly one winner");
    }
}

/// Different reset tokens of one user spent at once: the spend ends the user's other tokens in
/// the same step, so exactly one of them succeeds.
async fn reset_tokens_of_one_user_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let tokens: Vec<_> = (0..8)
            .map(|i| hash(&format!("reset {trial} {i}")))
            .collect();
        for t in &tokens {
            store.create_reset_token(t, uid, T0 + 100).await.unwrap();
        }
        let tasks: Vec<_> = tokens
            .iter()
            .map(|&t| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.consume_reset_token(&t, T0).await })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(
            winners, 1,
            "trial {trial}: {winners} different tokens all reset"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Races on refresh tokens

async fn consume_refresh_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let sid = format!("race-{trial}");
        let token = format!("race-token-{trial}");
        session(&store, &sid, uid, &token).await;
        let h = hash(&token);
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|i| {
                let store = Arc::clone(&store);
                // Different "now"s: AlreadySpent must still carry the winner's time.
                let now = T0 + 1 + (i as i64 % 5);
                tokio::spawn(async move { store.consume_refresh(&h, now).await })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(CONTENDERS);
        for t in tasks {
            outcomes.push(t.await.unwrap().unwrap());
        }
        let winners: Vec<_> = outcomes
            .iter()
            .filter(|c| matches!(c, Consumed::Spent(_)))
            .collect();
        assert_eq!(winners.len(), 1, "trial {trial}: exactly one Spent");
        let winner_time = spent_at(winners[0]);
        assert!(winner_time.is_some());
        for c in &outcomes {
            match c {
                Consumed::Spent(_) => {}
                Consumed::AlreadySpent(r) => {
                    assert_eq!(
                        r.spent_at, winner_time,
                        "trial {trial}: the winner's spent_at"
                    )
                }
                Consumed::Invalid => panic!("trial {trial}: a loser saw Invalid"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation log

async fn revocation_log(store: Arc<dyn Store>) {
    assert_eq!(store.last_revocation_cursor().await.unwrap(), 0);
    assert!(
        store
            .revocations_since(0, T0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    store.append_revocations(&[], T0 + 100).await.unwrap();
    assert_eq!(
        store.last_revocation_cursor().await.unwrap(),
        0,
        "appending nothing adds nothing"
    );

    store
        .append_revocations(&["a".into(), "b".into()], T0 + 100)
        .await
        .unwrap();
    store
        .append_revocations(&["c".into()], T0 + 50)
        .await
        .unwrap();
    store
        .append_revocations(&["d".into()], T0 + 200)
        .await
        .unwrap();
    let all = store.revocations_since(0, T0, 100).await.unwrap();
    let ids: Vec<_> = all
        .iter()
        .map(|r| (r.session_id.as_str(), r.until))
        .collect();
    assert_eq!(
        ids,
        [
            ("a", T0 + 100),
            ("b", T0 + 100),
            ("c", T0 + 50),
            ("d", T0 + 200)
        ]
    );
    assert!(
        all.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "cursors strictly increase"
    );
    assert!(all[0].cursor > 0);
    let last = all[3].cursor;
    assert_eq!(store.last_revocation_cursor().await.unwrap(), last);

    let names = |rs: Vec<Revocation>| rs.into_iter().map(|r| r.session_id).collect::<Vec<_>>();
    // After a cursor.
    assert_eq!(
        names(
            store
                .revocations_since(all[1].cursor, T0, 100)
                .await
                .unwrap()
        ),
        ["c", "d"]
    );
    assert!(
        store
            .revocations_since(last, T0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // `until` must be after now: c (until T0 + 50) drops out at T0 + 50.
    assert_eq!(
        names(store.revocations_since(0, T0 + 50, 100).await.unwrap()),
        ["a", "b", "d"]
    );
    assert_eq!(
        names(store.revocations_since(0, T0 + 100, 100).await.unwrap()),
        ["d"]
    );
    assert!(
        store
            .revocations_since(0, T0 + 200, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Limit, in cursor order.
    assert_eq!(
        names(store.revocations_since(0, T0, 2).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(store.revocations_since(0, T0 + 60, 2).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(
            store
                .revocations_since(all[0].cursor, T0 + 60, 2)
                .await
                .unwrap()
        ),
        ["b", "d"]
    );
    assert!(store.revocations_since(0, T0, 0).await.unwrap().is_empty());
    assert!(store.revocations_since(0, T0, -1).await.unwrap().is_empty());
    // Expired entries still count for the last cursor.
    assert_eq!(store.last_revocation_cursor().await.unwrap(), last);
}

async fn revocation_log_concurrent_appends(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .append_revocations(&[format!("s{i}a"), format!("s{i}b")], T0 + 100)
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let all = store.revocations_since(0, T0, 1000).await.unwrap();
    assert_eq!(all.len(), 64);
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    let distinct: HashSet<_> = all.iter().map(|r| r.session_id.clone()).collect();
    assert_eq!(distinct.len(), 64);
    // Paging by cursor sees every entry exactly once.
    let (mut cursor, mut seen) = (0, Vec::new());
    loop {
        let page = store.revocations_since(cursor, T0, 5).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

/// A poller following the log by cursor while writers append concurrently sees every entry: no
/// id becomes visible before a smaller one that is still being written.
async fn revocation_poller_never_skips(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const APPENDS: usize = 40;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                // Read the flag first: a poll after the writers finished sees everything.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.revocations_since(cursor, T0, 1000).await.unwrap();
                if let Some(last) = page.last() {
                    cursor = last.cursor;
                }
                seen.extend(page.into_iter().map(|r| r.session_id));
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..APPENDS {
                    store
                        .append_revocations(&[format!("w{w}-{i}")], T0 + 100)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = poller.await.unwrap();
    assert_eq!(
        seen.len(),
        WRITERS * APPENDS,
        "the poller saw every entry once"
    );
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), WRITERS * APPENDS);
}

// ---------------------------------------------------------------------------------------------
// Signing keys

async fn signing_keys_insert_if_absent(store: Arc<dyn Store>) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    let k1 = stored_key("key-1", &[0u8, 1, 2, 255, 0], T0);
    assert_eq!(
        store.insert_signing_key(k1.clone()).await.unwrap(),
        vec![k1.clone()]
    );
    // Same kid, other material: the first one stays.
    let rival = stored_key("key-1", b"another secret, ignored", T0 + 1);
    assert_eq!(
        store.insert_signing_key(rival).await.unwrap(),
        vec![k1.clone()]
    );
    // Oldest first by insertion, whatever the kid or created_at say: the last one is the newest.
    let mut k2 = stored_key("a-key", &[7u8; 32], T0 - 100);
    k2.algorithm = KeyAlgorithm::EdDsa;
    let k3 = stored_key("refresh-derivation", &[9u8; 32], T0 - 200);
    assert_eq!(
        store.insert_signing_key(k2.clone()).await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );
    let all = store.insert_signing_key(k3.clone()).await.unwrap();
    assert_eq!(all, vec![k1, k2, k3]);
    assert_eq!(store.signing_keys().await.unwrap(), all);
}

async fn signing_keys_concurrent_insert_agree(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .insert_signing_key(stored_key("key-1", &[i; 32], T0))
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    let stored = store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        results.iter().all(|r| *r == stored),
        "every caller sees the one winner"
    );
}

async fn signing_keys_first_insert_agree(store: Arc<dyn Store>) {
    // Every instance proposes a different first key (its own thumbprint); one is kept.
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .insert_first_signing_key(stored_key(&format!("kid-{i}"), &[i; 32], T0))
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    let stored = store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(results.iter().all(|r| *r == stored));
    // Once a key exists, a "first" key is not added; a rotation (plain insert) is.
    let again = store
        .insert_first_signing_key(stored_key("late", &[1; 32], T0))
        .await
        .unwrap();
    assert_eq!(again, stored);
    let rotated = store
        .insert_signing_key(stored_key("next", &[2; 32], T0 + 1))
        .await
        .unwrap();
    assert_eq!(rotated.len(), 2);
    assert_eq!(rotated[1].kid, "next");
}

async fn signing_keys_reseal_and_delete(store: Arc<dyn Store>) {
    store
        .insert_signing_key(stored_key("k1", &[1; 32], T0))
        .await
        .unwrap();
    store
        .insert_signing_key(stored_key("k2", &[2; 32], T0 + 1))
        .await
        .unwrap();
    // Compare-and-set: only over the material that was read.
    assert!(
        !store
            .reseal_signing_key("k1", &[9; 32], b"sealed")
            .await
            .unwrap()
    );
    assert!(
        store
            .reseal_signing_key("k1", &[1; 32], b"sealed")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_signing_key("k1", &[1; 32], b"other")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_signing_key("nope", &[1; 32], b"x")
            .await
            .unwrap()
    );
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys[0].material, b"sealed");
    assert_eq!(keys[1].material, vec![2; 32]);
    // Order survives a reseal; a delete removes one key.
    assert_eq!(keys[0].kid, "k1");
    assert!(store.delete_signing_key("k1").await.unwrap());
    assert!(!store.delete_signing_key("k1").await.unwrap());
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "k2");
}

async fn secrets_insert_if_absent_and_reseal(store: Arc<dyn Store>) {
    assert_eq!(
        store.insert_secret("s", b"first", T0).await.unwrap(),
        b"first"
    );
    assert_eq!(
        store.insert_secret("s", b"second", T0).await.unwrap(),
        b"first",
        "the first insert is kept"
    );
    assert_eq!(
        store.insert_secret("t", &[0, 255], T0).await.unwrap(),
        vec![0, 255]
    );
    assert!(!store.reseal_secret("s", b"second", b"x").await.unwrap());
    assert!(store.reseal_secret("s", b"first", b"sealed").await.unwrap());
    assert!(
        !store
            .reseal_secret("missing", b"first", b"x")
            .await
            .unwrap()
    );
    assert_eq!(
        store.insert_secret("s", b"third", T0).await.unwrap(),
        b"sealed"
    );
    // Concurrent first inserts agree.
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.insert_secret("race", &[i; 8], T0).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        seen.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(seen.len(), 1, "every caller sees the one winner");
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/// Strings that must round-trip exactly, or be refused with a clean error and change nothing.
fn hostile_strings() -> Vec<String> {
    // ~10 KB that does not compress (PostgreSQL compresses long index entries).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: String = (0..10_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    vec![
        "'; DROP TABLE users; --".to_owned(),
        "'; DROP TABLE auth_users; --@example.com".to_owned(),
        "robert'); DELETE FROM auth_sessions WHERE ('1'='1".to_owned(),
        "\"quoted\" \\backslash\\ $1 ? :name @p %s".to_owned(),
        "nul\0byte@example.com".to_owned(),
        "émoji😀@exämple.com".to_owned(),
        "右から左\u{202e}@example.com".to_owned(),
        format!("{}@example.com", "a".repeat(10_000)),
        format!("{noise}@example.com"),
        String::new(),
    ]
}

async fn hostile_input_round_trips_or_fails_cleanly(store: Arc<dyn Store>) {
    let anchor = store
        .create_user(new_user("anchor@example.com"))
        .await
        .unwrap();
    let mut accepted = vec![anchor.clone()];
    for (i, s) in hostile_strings().into_iter().enumerate() {
        let new = NewUser {
            email: s.clone(),
            password_hash: s.clone(),
            role: Role::Viewer,
            org: Some(s.clone()),
            created_at: T0 + i as i64,
        };
        match store.create_user(new).await {
            Ok(u) => {
                assert_eq!((&u.email, &u.password_hash), (&s, &s));
                let back = store
                    .user_by_email(&s)
                    .await
                    .unwrap()
                    .expect("found by email");
                assert_eq!(back, u, "round-trips exactly");
                assert_eq!(back.org.as_deref(), Some(s.as_str()));
                accepted.push(u);
            }
            Err(e) => {
                eprintln!("hostile input #{i} ({} bytes) refused: {e:?}", s.len());
                assert!(
                    !matches!(e, StoreError::Corrupt(_)),
                    "refused, not corrupted: {e:?}"
                );
                assert!(
                    !e.to_string().contains("DROP"),
                    "the error does not echo the input"
                );
                let lookup = store.user_by_email(&s).await;
                assert!(
                    !matches!(lookup, Ok(Some(_)) | Err(StoreError::Corrupt(_))),
                    "nothing stored: {lookup:?}"
                );
            }
        }
        // Nothing else changed, and the tables are all still there.
        assert_eq!(store.list_users().await.unwrap(), accepted);
    }

    // The same strings as session ids, API key names and kids.
    for (i, s) in hostile_strings().into_iter().enumerate() {
        let first = RefreshRecord::new(
            hash(&format!("hostile {i}")),
            s.clone(),
            anchor.id,
            T0,
            T0 + 9,
        );
        if store
            .create_session(Session::new(s.clone(), anchor.id, T0), first)
            .await
            .is_ok()
        {
            assert_eq!(
                store.session(&s).await.unwrap().map(|x| x.id),
                Some(s.clone())
            );
            assert!(matches!(
                store.consume_refresh(&hash(&format!("hostile {i}")), T0 + 1).await.unwrap(),
                Consumed::Spent(r) if r.session_id == s
            ));
            assert_eq!(
                store.revoke_user_sessions(anchor.id, T0 + 2).await.unwrap(),
                vec![s.clone()]
            );
            store
                .append_revocations(std::slice::from_ref(&s), T0 + 100)
                .await
                .unwrap();
        }
        let mut key = new_key(&format!("hostile {i}"), Some(&s), anchor.id);
        key.name = s.clone();
        key.prefix = s.clone();
        if let Ok(k) = store.create_api_key(key).await {
            let back = store.api_key_by_id(k.id).await.unwrap().unwrap();
            assert_eq!(
                (&back.name, &back.prefix, back.org.as_deref()),
                (&s, &s, Some(s.as_str()))
            );
            assert_eq!(store.list_api_keys(Some(&s)).await.unwrap(), vec![back]);
        }
        if let Ok(keys) = store
            .insert_signing_key(stored_key(&s, s.as_bytes(), T0))
            .await
        {
            assert!(
                keys.iter()
                    .any(|k| k.kid == s && k.material == s.as_bytes())
            );
        }
    }
    let log = store.revocations_since(0, T0, 1000).await.unwrap();
    let hostile = hostile_strings();
    assert!(log.iter().all(|r| hostile.contains(&r.session_id)));
    assert_eq!(
        store.list_users().await.unwrap(),
        accepted,
        "still intact at the end"
    );
}

// ---------------------------------------------------------------------------------------------
// SQL-only cases: things only a database can get wrong.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_cases {
    use super::*;
    use crate::stores::{Db, execute};
    use assimetria_auth::store::sql::SqlStore;

    /// Unknown enum values read back as `Corrupt`, never as a default.
    pub(crate) async fn unknown_values_are_corrupt(db: &Db) {
        let store: Arc<dyn Store> = Arc::new(db.sql_store().await);
        let uid = user(&store, "ada@example.com").await;
        let key = store
            .create_api_key(new_key("k", Some("acme"), uid))
            .await
            .unwrap();
        store
            .insert_signing_key(stored_key("key-1", &[1; 32], T0))
            .await
            .unwrap();

        let sql = db.sql_store().await;
        execute(&sql, "UPDATE auth_users SET role = 'superuser'").await;
        execute(&sql, "UPDATE auth_api_keys SET environment = 'staging'").await;
        execute(&sql, "UPDATE auth_signing_keys SET algorithm = 'none'").await;
        assert!(matches!(
            store.user_by_id(uid).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.list_users().await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.api_key_by_id(key.id).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.signing_keys().await,
            Err(StoreError::Corrupt(_))
        ));

        execute(&sql, "UPDATE auth_users SET role = 'Admin'").await;
        assert!(
            matches!(store.user_by_id(uid).await, Err(StoreError::Corrupt(_))),
            "exact names only"
        );
    }

    /// Opening a store again (a restart, a second process) migrates nothing and keeps the data;
    /// a schema newer than this build is refused.
    pub(crate) async fn migrations_are_idempotent(db: &Db) {
        // Several processes starting at once on an empty database: one migrates, all succeed.
        let (a, b, c) = tokio::join!(db.sql_store(), db.sql_store(), db.sql_store());
        let first: Arc<dyn Store> = Arc::new(a);
        let uid = user(&first, "ada@example.com").await;
        // Reopening (a restart) keeps the data.
        for store in [b, c, db.sql_store().await] {
            assert_eq!(store_user_id(&store, "ada@example.com").await, Some(uid));
        }
        assert_eq!(SqlStore::schema_version(), 2);
        let sql = db.sql_store().await;
        execute(
            &sql,
            "INSERT INTO auth_schema_version (version, applied_at) VALUES (99, 0)",
        )
        .await;
        let again = match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(s) => SqlStore::connect(s.url()).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(pg) => SqlStore::connect(&pg_url_with_schema(pg)).await,
            Db::Memory(_) => unreachable!(),
        };
        assert!(
            matches!(again, Err(assimetria_auth::Error::Config(_))),
            "a newer schema is refused: {again:?}"
        );
    }

    async fn store_user_id(store: &SqlStore, email: &str) -> Option<i64> {
        use assimetria_auth::store::UserStore as _;
        store.user_by_email(email).await.unwrap().map(|u| u.id)
    }

    /// `SqlStore::connect` with the schema in the URL's `options` parameter.
    #[cfg(feature = "postgres")]
    pub(crate) fn pg_url_with_schema(pg: &crate::stores::PgDb) -> String {
        let sep = if pg.url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", pg.url(), pg.schema())
    }

    /// Bad URLs are configuration errors, not panics.
    pub(crate) async fn connect_rejects_unknown_schemes(_db: &Db) {
        for url in ["mysql://localhost/db", "", "sqlite", "http://example.com"] {
            let r = SqlStore::connect(url).await;
            assert!(
                matches!(r, Err(assimetria_auth::Error::Config(_))),
                "{url}: {r:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The suite, per store

macro_rules! suite {
    (stores: [$($case:ident),* $(,)?], sql: [$($sql_case:ident),* $(,)?] $(,)?) => {
        mod memory {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = Db::memory();
                    super::$case(db.store().await).await;
                }
            )*
        }

        #[cfg(feature = "sqlite")]
        mod sqlite {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = Db::sqlite();
                    super::$case(db.store().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $sql_case() {
                    let db = Db::sqlite();
                    super::sql_cases::$sql_case(&db).await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = Db::postgres(stringify!($case)).await else { return };
                    super::$case(db.store().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $sql_case() {
                    let Some(db) = Db::postgres(stringify!($sql_case)).await else { return };
                    super::sql_cases::$sql_case(&db).await;
                }
            )*
        }

        #[cfg(not(feature = "postgres"))]
        mod postgres {
            #[test]
            fn not_compiled() {
                crate::stores::postgres_not_compiled();
            }
        }
    };
}

suite! {
    stores: [
        users_create_and_look_up,
        users_duplicate_email_is_conflict,
        users_concurrent_duplicate_email,
        users_compare_and_set_password_hash,
        users_update_ending_sessions,
        users_upgrade_never_undoes_a_reset,
        reset_tokens_of_one_user_race,
        signing_keys_first_insert_agree,
        signing_keys_reseal_and_delete,
        secrets_insert_if_absent_and_reseal,
        sessions_create_and_look_up,
        consume_refresh_spends_once,
        consume_refresh_invalid_cases,
        insert_refresh_rules,
        revoke_session_once,
        revoke_user_sessions_ends_live_ones,
        api_keys_lifecycle,
        reset_tokens_single_use_and_expiry,
        reset_token_race,
        consume_refresh_race,
        revocation_log,
        revocation_log_concurrent_appends,
        revocation_poller_never_skips,
        signing_keys_insert_if_absent,
        signing_keys_concurrent_insert_agree,
        hostile_input_round_trips_or_fails_cleanly,
    ],
    sql: [
        unknown_values_are_corrupt,
        migrations_are_idempotent,
        connect_rejects_unknown_schemes,
    ],
}

/// `sqlite::memory:` gives a private database shared by the pool's connections.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_url() {
    use assimetria_auth::store::sql::SqlStore;
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
    let other: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
    consume_refresh_race(Arc::clone(&store)).await;
    assert!(
        other.list_users().await.unwrap().is_empty(),
        "each one is private"
    );
}
