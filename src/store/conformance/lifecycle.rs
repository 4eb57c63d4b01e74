//! The account lifecycle on users: whether an address is verified, which a reset proves and a
//! role change leaves alone, and a signed-in user's password change, compare-and-set over the
//! verified hash, that ends the user's other sessions in the same transaction.

use std::sync::Arc;

use super::{T0, is_live, logged, new_user, session, user};
use crate::rbac::seed;
use crate::store::{Store, User, UserChange, user_change_entry};

/// `email_verified` reads back as created, `false` and `true`, from
/// [`create_user`](crate::store::UserStore::create_user),
/// [`user_by_email`](crate::store::UserStore::user_by_email),
/// [`user_by_id`](crate::store::UserStore::user_by_id) and
/// [`list_users`](crate::store::UserStore::list_users).
pub async fn users_email_verified_round_trips(store: Arc<dyn Store>) {
    let unverified = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut vouched = new_user("bob@example.com");
    vouched.email_verified = true;
    let verified = store.create_user(vouched).await.unwrap();
    assert!(!unverified.email_verified, "create_user: as given (false)");
    assert!(verified.email_verified, "create_user: as given (true)");
    for u in [&unverified, &verified] {
        assert_eq!(
            store.user_by_email(&u.email).await.unwrap().as_ref(),
            Some(u),
            "user_by_email: email_verified {}",
            u.email_verified
        );
        assert_eq!(
            store.user_by_id(u.id).await.unwrap().as_ref(),
            Some(u),
            "user_by_id: email_verified {}",
            u.email_verified
        );
    }
    assert_eq!(
        store.list_users(Some("acme")).await.unwrap(),
        [unverified, verified],
        "list_users: email_verified as created"
    );
}

/// A reset ([`UserChange::PasswordHash`]) marks the address verified in the same write; a role
/// change leaves it as it was, unverified or verified.
pub async fn users_reset_marks_the_address_verified(store: Arc<dyn Store>) {
    let verified = |store: Arc<dyn Store>, id: i64| async move {
        store.user_by_id(id).await.unwrap().unwrap().email_verified
    };
    let ada = user(&store, "ada@example.com").await;
    let mut vouched = new_user("bob@example.com");
    vouched.email_verified = true;
    let bob = store.create_user(vouched).await.unwrap().id;

    for (id, was) in [(ada, false), (bob, true)] {
        let change = UserChange::Role(seed::VIEWER);
        let ended = store.update_user_ending_sessions(id, change, T0 + 1, T0 + 9);
        assert!(ended.await.unwrap().is_some());
        assert_eq!(
            verified(Arc::clone(&store), id).await,
            was,
            "update_user_ending_sessions: a role change leaves email_verified as it was ({was})"
        );
    }
    let reset = UserChange::PasswordHash("$argon2id$reset".into());
    let ended = store.update_user_ending_sessions(ada, reset, T0 + 2, T0 + 9);
    assert!(ended.await.unwrap().is_some());
    let after: User = store.user_by_id(ada).await.unwrap().unwrap();
    assert_eq!(
        (
            after.password_hash.as_str(),
            after.email_verified,
            after.role
        ),
        ("$argon2id$reset", true, seed::VIEWER),
        "update_user_ending_sessions: a reset writes the hash and marks the address verified"
    );
    assert!(verified(Arc::clone(&store), bob).await);
}

/// [`change_password_ending_sessions`](crate::store::UserStore::change_password_ending_sessions):
/// over a hash that is not the stored one it is `None` and changes nothing (hash, sessions, log);
/// over the stored one it writes the new hash, ends every other live session of the user (not
/// `keep`, not another user's, not one ended before), returns them sorted and logs them, then the
/// user's entry; `keep: None` ends them all; an unknown user is `None`.
pub async fn users_change_password_ending_sessions(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let hash_of = |store: Arc<dyn Store>, id: i64| async move {
        store.user_by_id(id).await.unwrap().unwrap().password_hash
    };
    let original = hash_of(Arc::clone(&store), ada).await;
    for (sid, uid) in [
        ("ada-c", ada),
        ("ada-keep", ada),
        ("ada-a", ada),
        ("ada-ended", ada),
        ("bob-1", bob),
    ] {
        session(&store, sid, uid, &format!("first {sid}")).await;
    }
    assert!(store.revoke_session("ada-ended", T0).await.unwrap());

    // Over a stale hash: None, and nothing changes.
    let stale = store
        .change_password_ending_sessions(
            ada,
            "$argon2id$stale",
            "$argon2id$new",
            None,
            T0 + 1,
            T0 + 500,
        )
        .await
        .unwrap();
    assert_eq!(
        stale, None,
        "change_password_ending_sessions: the hash changed meanwhile"
    );
    assert_eq!(
        hash_of(Arc::clone(&store), ada).await,
        original,
        "nothing written"
    );
    for sid in ["ada-c", "ada-keep", "ada-a"] {
        assert!(is_live(&store, sid, ada).await, "{sid}: nothing ended");
    }
    assert!(logged(&store, T0).await.is_empty(), "nothing logged");

    // Over the stored hash: written; every other live session of the user ends.
    let ended = store
        .change_password_ending_sessions(
            ada,
            &original,
            "$argon2id$changed",
            Some("ada-keep"),
            T0 + 2,
            T0 + 500,
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        Some(vec!["ada-a".to_owned(), "ada-c".to_owned()]),
        "change_password_ending_sessions: the live sessions but `keep`, sorted"
    );
    assert_eq!(hash_of(Arc::clone(&store), ada).await, "$argon2id$changed");
    assert!(is_live(&store, "ada-keep", ada).await, "keep stays live");
    for sid in ["ada-a", "ada-c"] {
        assert!(!is_live(&store, sid, ada).await, "{sid} ended");
    }
    assert!(
        is_live(&store, "bob-1", bob).await,
        "another user's session stays live"
    );
    assert_eq!(
        logged(&store, T0 + 2).await,
        [
            ("ada-a".to_owned(), T0 + 500),
            ("ada-c".to_owned(), T0 + 500),
            (user_change_entry(ada), T0 + 500)
        ],
        "change_password_ending_sessions: the ended sessions, then the user's entry"
    );
    // The hash it verified is gone: the same change again is refused.
    let again = store
        .change_password_ending_sessions(ada, &original, "$argon2id$again", None, T0 + 3, T0 + 500)
        .await
        .unwrap();
    assert_eq!(again, None, "compare-and-set: the expected hash is gone");
    assert!(is_live(&store, "ada-keep", ada).await);

    // `keep: None` ends every live session.
    session(&store, "ada-new", ada, "first ada-new").await;
    let ended = store
        .change_password_ending_sessions(
            ada,
            "$argon2id$changed",
            "$argon2id$third",
            None,
            T0 + 4,
            T0 + 600,
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        Some(vec!["ada-keep".to_owned(), "ada-new".to_owned()])
    );
    assert!(store.sessions_of_user(ada).await.unwrap().is_empty());
    assert_eq!(hash_of(Arc::clone(&store), ada).await, "$argon2id$third");

    // An unknown user: None, and nothing anywhere changes.
    let users = store.list_users(Some("acme")).await.unwrap();
    let log = logged(&store, T0).await;
    let unknown = store
        .change_password_ending_sessions(bob + 1000, &original, "x", None, T0 + 5, T0 + 500)
        .await
        .unwrap();
    assert_eq!(
        unknown, None,
        "change_password_ending_sessions: an unknown user is None"
    );
    assert_eq!(store.list_users(Some("acme")).await.unwrap(), users);
    assert_eq!(logged(&store, T0).await, log);
    assert!(is_live(&store, "bob-1", bob).await);
}
