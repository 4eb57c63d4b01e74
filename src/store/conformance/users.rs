//! Users: creation, lookup, listing by organization, the password-hash compare-and-set, a change
//! that ends the user's sessions in one transaction, and the removal of a user with everything
//! that belongs to them.

use crate::rbac::seed;
use std::sync::Arc;

use super::{T0, hash, is_live, logged, new_key, new_user, session, user};
use crate::error::StoreError;

use crate::store::{
    Consumed, NewUser, RefreshRecord, Session, Store, UserChange, user_change_entry,
};

/// Users get increasing ids and read back exactly as created, by email (exact match) and by id.
pub async fn users_create_and_look_up(store: Arc<dyn Store>) {
    assert!(store.list_users(Some("acme")).await.unwrap().is_empty());
    assert!(store.list_users(None).await.unwrap().is_empty());
    let a = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut b_new = new_user("bob@example.com");
    b_new.role = seed::ADMIN;
    b_new.org = None;
    b_new.created_at = T0 + 5;
    let b = store.create_user(b_new).await.unwrap();
    assert!(b.id > a.id, "ids are assigned in increasing order");
    assert_eq!(a.email, "ada@example.com");
    assert_eq!(a.role, seed::MEMBER);
    assert_eq!(a.org.as_deref(), Some("acme"));
    assert_eq!(a.created_at, T0);
    assert_eq!(
        (b.role.clone(), b.org.as_deref(), b.created_at),
        (seed::ADMIN, None, T0 + 5)
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
    assert_eq!(store.list_users(Some("acme")).await.unwrap(), vec![a]);
    assert_eq!(store.list_users(None).await.unwrap(), vec![b]);
}

/// A taken email is [`StoreError::Conflict`] and changes nothing; the store stays usable.
pub async fn users_duplicate_email_is_conflict(store: Arc<dyn Store>) {
    let first = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut again = new_user("ada@example.com");
    again.role = seed::ADMIN;
    again.password_hash = "other".into();
    let err = store.create_user(again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "got {err:?}");
    assert_eq!(
        store.list_users(Some("acme")).await.unwrap(),
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

/// [`replace_password_hash`](crate::store::UserStore::replace_password_hash) writes only over
/// the expected hash, once; for an unknown user it writes nothing.
pub async fn users_compare_and_set_password_hash(store: Arc<dyn Store>) {
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
    let before = store.list_users(Some("acme")).await.unwrap();
    assert!(
        !store
            .replace_password_hash(other + 1000, &original, "x")
            .await
            .unwrap()
    );
    assert_eq!(store.list_users(Some("acme")).await.unwrap(), before);
}

/// [`update_user_ending_sessions`](crate::store::UserStore::update_user_ending_sessions)
/// changes the user, ends the user's sessions (not another user's) and logs them, together; for
/// an unknown user it is `None` and changes nothing anywhere.
pub async fn users_update_ending_sessions(store: Arc<dyn Store>) {
    let id = user(&store, "ada@example.com").await;
    let other = user(&store, "bob@example.com").await;
    session(&store, "ada-1", id, "ada-1 first").await;
    session(&store, "ada-2", id, "ada-2 first").await;
    session(&store, "bob-1", other, "bob-1 first").await;

    let ended = store
        .update_user_ending_sessions(id, UserChange::Role(seed::VIEWER), T0 + 1, T0 + 500)
        .await
        .unwrap();
    assert_eq!(ended, Some(vec!["ada-1".to_owned(), "ada-2".to_owned()]));
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().role,
        seed::VIEWER
    );
    for sid in ["ada-1", "ada-2"] {
        assert!(!is_live(&store, sid, id).await, "{sid} ended");
    }
    assert!(is_live(&store, "bob-1", other).await);
    // The revocation log got both, then the user's own entry, in the same step.
    let log = logged(&store, T0 + 1).await;
    assert_eq!(
        log,
        vec![
            ("ada-1".to_owned(), T0 + 500),
            ("ada-2".to_owned(), T0 + 500),
            (user_change_entry(id), T0 + 500)
        ],
        "update_user_ending_sessions: the ended sessions, then the user's entry"
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
    let users = store.list_users(Some("acme")).await.unwrap();
    let log = store.revocations_since(0, T0, 100).await.unwrap();
    assert_eq!(
        store
            .update_user_ending_sessions(other + 1000, UserChange::Role(seed::ADMIN), T0, T0 + 9)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list_users(Some("acme")).await.unwrap(), users);
    assert_eq!(store.revocations_since(0, T0, 100).await.unwrap(), log);
    assert!(is_live(&store, "bob-1", other).await);
}

/// Ending a user's sessions ends the live ones only: a session ended before is neither returned
/// nor logged again, another user's session stays live, and a second change ends nothing more.
pub async fn users_update_ends_only_live_sessions(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    for (sid, uid) in [("s-c", ada), ("s-a", ada), ("s-b", ada), ("s-bob", bob)] {
        session(&store, sid, uid, &format!("r-{sid}")).await;
    }
    assert!(store.revoke_session("s-b", T0 + 1).await.unwrap());
    let ended = store
        .update_user_ending_sessions(ada, UserChange::Role(seed::VIEWER), T0 + 2, T0 + 500)
        .await
        .unwrap();
    assert_eq!(
        ended,
        Some(vec!["s-a".to_owned(), "s-c".to_owned()]),
        "live ones, sorted"
    );
    let logged = |store: Arc<dyn Store>| async move {
        let log = store.revocations_since(0, T0 + 2, 100).await.unwrap();
        log.into_iter().map(|r| r.session_id).collect::<Vec<_>>()
    };
    let entry = user_change_entry(ada);
    assert_eq!(logged(Arc::clone(&store)).await, ["s-a", "s-c", &entry]);
    for sid in ["s-a", "s-b", "s-c"] {
        assert!(!is_live(&store, sid, ada).await, "{sid} ended");
    }
    assert!(is_live(&store, "s-bob", bob).await);

    let again = store
        .update_user_ending_sessions(ada, UserChange::Role(seed::MEMBER), T0 + 3, T0 + 500)
        .await
        .unwrap();
    assert_eq!(again, Some(vec![]));
    assert_eq!(
        logged(Arc::clone(&store)).await,
        ["s-a", "s-c", &entry, &entry],
        "no session logged again; the user's entry for the second change"
    );
    assert!(matches!(
        store
            .consume_refresh(&super::hash("r-s-bob"), T0 + 4)
            .await
            .unwrap(),
        Consumed::Spent(_)
    ));
}

/// [`list_users`](crate::store::UserStore::list_users) lists one organization's users, by id:
/// not those of another organization (names match exactly), nor those of none; `None` lists the
/// users without an organization, and an empty name is an organization like any other.
pub async fn users_list_by_organization(store: Arc<dyn Store>) {
    let mut made = Vec::new();
    for (i, org) in [
        Some("acme"),
        None,
        Some("other"),
        Some("acme"),
        Some("ACME"),
        None,
        Some(""),
        Some("acme "),
    ]
    .into_iter()
    .enumerate()
    {
        let created = store
            .create_user(NewUser {
                org: org.map(str::to_owned),
                ..new_user(&format!("user{i}@example.com"))
            })
            .await
            .unwrap();
        made.push(created);
    }
    let list = |org: Option<&'static str>| {
        let store = Arc::clone(&store);
        async move { store.list_users(org).await.unwrap() }
    };
    assert_eq!(list(Some("acme")).await, [made[0].clone(), made[3].clone()]);
    assert_eq!(list(None).await, [made[1].clone(), made[5].clone()]);
    assert_eq!(list(Some("other")).await, [made[2].clone()]);
    assert_eq!(list(Some("ACME")).await, [made[4].clone()]);
    assert_eq!(list(Some("")).await, [made[6].clone()]);
    assert_eq!(list(Some("acme ")).await, [made[7].clone()]);
    assert!(list(Some("nobody")).await.is_empty());
}

/// [`delete_user_ending_sessions`](crate::store::UserStore::delete_user_ending_sessions) ends
/// the user's live sessions (returned sorted, and logged), then removes the user with their
/// sessions, refresh and reset tokens and API keys: gone by id and by email, the email free to
/// register again, and no record of the user can be added afterwards. Another user's data is
/// untouched; an unknown user is `None` and changes nothing.
pub async fn users_delete_ending_sessions(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    for (sid, uid) in [
        ("ada-2", ada),
        ("ada-0", ada),
        ("ada-1", ada),
        ("bob-1", bob),
    ] {
        session(&store, sid, uid, &format!("first {sid}")).await;
    }
    assert!(store.revoke_session("ada-0", T0).await.unwrap());
    let ada_keys = [
        store.create_api_key(new_key("ada-acme", Some("acme"), ada)),
        store.create_api_key(new_key("ada-none", None, ada)),
    ];
    let mut ada_keys_made = Vec::new();
    for key in ada_keys {
        ada_keys_made.push(key.await.unwrap());
    }
    let bob_key = store
        .create_api_key(new_key("bob-acme", Some("acme"), bob))
        .await
        .unwrap();
    store
        .create_reset_token(&hash("ada reset"), ada, T0 + 100)
        .await
        .unwrap();
    store
        .create_reset_token(&hash("bob reset"), bob, T0 + 100)
        .await
        .unwrap();
    let bob_before = store.user_by_id(bob).await.unwrap();

    let ended = store
        .delete_user_ending_sessions(ada, T0 + 1, T0 + 500)
        .await
        .unwrap();
    assert_eq!(
        ended,
        Some(vec!["ada-1".to_owned(), "ada-2".to_owned()]),
        "delete_user_ending_sessions: returns the live sessions it ended, sorted"
    );
    let log = logged(&store, T0 + 1).await;
    assert_eq!(
        log,
        [
            ("ada-1".to_owned(), T0 + 500),
            ("ada-2".to_owned(), T0 + 500),
            (user_change_entry(ada), T0 + 500)
        ],
        "delete_user_ending_sessions: appends each ended session to the revocation log, then \
         the user's entry"
    );

    // The user is gone, with everything that was theirs.
    assert_eq!(
        store.user_by_id(ada).await.unwrap(),
        None,
        "delete_user_ending_sessions: the user is gone by id"
    );
    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        None,
        "delete_user_ending_sessions: the user is gone by email"
    );
    assert_eq!(
        store.list_users(Some("acme")).await.unwrap(),
        [bob_before.clone().unwrap()],
        "delete_user_ending_sessions: the user is gone from their organization's list"
    );
    for sid in ["ada-0", "ada-1", "ada-2"] {
        assert!(
            !is_live(&store, sid, ada).await,
            "delete_user_ending_sessions: session {sid} takes no refresh token"
        );
        assert_eq!(
            store
                .consume_refresh(&hash(&format!("first {sid}")), T0 + 2)
                .await
                .unwrap(),
            Consumed::Invalid,
            "delete_user_ending_sessions: the refresh token of {sid} is gone"
        );
    }
    for key in &ada_keys_made {
        assert_eq!(
            store.api_key_by_hash(&key.hash).await.unwrap(),
            None,
            "delete_user_ending_sessions: the user's key {} is gone by hash",
            key.name
        );
        assert_eq!(
            store.api_key_by_id(key.id).await.unwrap(),
            None,
            "delete_user_ending_sessions: the user's key {} is gone by id",
            key.name
        );
    }
    assert_eq!(
        store.list_api_keys(Some("acme")).await.unwrap(),
        std::slice::from_ref(&bob_key),
        "delete_user_ending_sessions: the user's keys are gone from their organization's list"
    );
    assert!(
        store.list_api_keys(None).await.unwrap().is_empty(),
        "delete_user_ending_sessions: the user's keys without an organization are gone"
    );
    assert_eq!(
        store
            .reset_token_user(&hash("ada reset"), T0)
            .await
            .unwrap(),
        None,
        "delete_user_ending_sessions: the user's reset token is gone"
    );

    // Another user's data is untouched.
    assert_eq!(
        store.user_by_id(bob).await.unwrap(),
        bob_before,
        "delete_user_ending_sessions: another user is untouched"
    );
    assert!(
        is_live(&store, "bob-1", bob).await,
        "delete_user_ending_sessions: another user's session stays live"
    );
    assert_eq!(
        store.api_key_by_hash(&bob_key.hash).await.unwrap(),
        Some(bob_key.clone()),
        "delete_user_ending_sessions: another user's key is untouched"
    );
    assert_eq!(
        store
            .reset_token_user(&hash("bob reset"), T0)
            .await
            .unwrap(),
        Some(bob),
        "delete_user_ending_sessions: another user's reset token is untouched"
    );

    // Nothing of the removed user can be added back.
    let refused = store
        .create_session(
            Session::new("ada-late".into(), ada, T0 + 3),
            RefreshRecord::new(
                hash("ada-late first"),
                "ada-late".into(),
                ada,
                T0,
                T0 + 1000,
            ),
        )
        .await;
    assert!(
        refused.is_err() && !is_live(&store, "ada-late", ada).await,
        "create_session: a session of a deleted user is refused and stores nothing"
    );
    let refused = store
        .create_api_key(new_key("ada-late", Some("acme"), ada))
        .await;
    assert!(
        refused.is_err(),
        "create_api_key: a key of a deleted user is refused"
    );
    assert_eq!(
        store
            .api_key_by_hash(&new_key("ada-late", Some("acme"), ada).hash)
            .await
            .unwrap(),
        None,
        "create_api_key: a refused key stores nothing"
    );
    let refused = store
        .create_reset_token(&hash("ada late reset"), ada, T0 + 100)
        .await;
    assert!(
        refused.is_err(),
        "create_reset_token: a token of a deleted user is refused"
    );
    assert_eq!(
        store
            .reset_token_user(&hash("ada late reset"), T0)
            .await
            .unwrap(),
        None,
        "create_reset_token: a refused token stores nothing"
    );

    // The email can register again, as a new user with a new id.
    let again = store
        .create_user(new_user("ada@example.com"))
        .await
        .expect("delete_user_ending_sessions: the email can register again");
    assert!(
        again.id > bob,
        "delete_user_ending_sessions: ids are not reused ({} after {bob})",
        again.id
    );
    assert!(
        store.list_api_keys(None).await.unwrap().is_empty(),
        "delete_user_ending_sessions: a new user of the same email inherits nothing"
    );

    // Unknown (or already removed) users: `None`, and nothing anywhere changes.
    let users = store.list_users(Some("acme")).await.unwrap();
    let keys = store.list_api_keys(Some("acme")).await.unwrap();
    let log = store.revocations_since(0, T0, 100).await.unwrap();
    for unknown in [ada, again.id + 1000] {
        assert_eq!(
            store
                .delete_user_ending_sessions(unknown, T0 + 4, T0 + 500)
                .await
                .unwrap(),
            None,
            "delete_user_ending_sessions: an unknown user is None"
        );
    }
    assert_eq!(
        (
            store.list_users(Some("acme")).await.unwrap(),
            store.list_api_keys(Some("acme")).await.unwrap(),
            store.revocations_since(0, T0, 100).await.unwrap()
        ),
        (users, keys, log),
        "delete_user_ending_sessions: an unknown user changes nothing"
    );
    assert!(
        is_live(&store, "bob-1", bob).await,
        "delete_user_ending_sessions: an unknown user ends no session"
    );
}
