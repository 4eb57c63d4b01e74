//! The revocation log: entries after a cursor, in cursor order, still in force, at most a limit.

use std::sync::Arc;

use super::T0;
use crate::store::{Revocation, Store};

/// [`append_revocations`](crate::store::RevocationStore::append_revocations) gives each entry
/// a positive, strictly increasing cursor (appending nothing adds nothing);
/// [`revocations_since`](crate::store::RevocationStore::revocations_since) returns the entries
/// after a cursor whose `until` is after `now`, in cursor order, at most `limit` (none for a
/// limit of 0 or less).
pub async fn revocation_log(store: Arc<dyn Store>) {
    assert!(
        store
            .revocations_since(0, T0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    store.append_revocations(&[], T0 + 100).await.unwrap();
    assert!(
        store
            .revocations_since(0, T0, 100)
            .await
            .unwrap()
            .is_empty(),
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
}

/// A store that gives a [`RevocationFeed`](crate::store::RevocationFeed)
/// ([`revocation_feed`](crate::store::RevocationStore::revocation_feed)) announces every write
/// that appends to the log, whichever it is: each one below makes
/// [`changed`](crate::store::RevocationFeed::changed) resolve (within 10 s). A store without a
/// feed passes without running this.
pub async fn revocation_feed_announces_every_append(store: Arc<dyn Store>) {
    use super::{new_key, session, user};
    use crate::store::UserChange;
    use std::time::Duration;

    let Some(mut feed) = store.revocation_feed().await.expect("open the feed") else {
        return;
    };
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    session(&store, "ada-1", ada, "ada-1 first").await;
    let key = store
        .create_api_key(new_key("ci", Some("acme"), bob))
        .await
        .expect("create key");
    let announced = async |feed: &mut Box<dyn crate::store::RevocationFeed>, what: &str| {
        tokio::time::timeout(Duration::from_secs(10), feed.changed())
            .await
            .unwrap_or_else(|_| panic!("{what}: not announced"))
            .unwrap_or_else(|e| panic!("{what}: feed error {e}"));
    };

    store
        .append_revocations(&["s1".to_owned()], T0 + 100)
        .await
        .unwrap();
    announced(&mut feed, "append_revocations").await;
    store
        .update_user_ending_sessions(
            ada,
            UserChange::Role(crate::rbac::seed::VIEWER),
            T0,
            T0 + 100,
        )
        .await
        .unwrap();
    announced(&mut feed, "update_user_ending_sessions").await;
    let hash = store.user_by_id(ada).await.unwrap().unwrap().password_hash;
    store
        .change_password_ending_sessions(ada, &hash, "$argon2id$new", None, T0, T0 + 100)
        .await
        .unwrap();
    announced(&mut feed, "change_password_ending_sessions").await;
    assert!(store.revoke_api_key(key.id, T0, T0 + 100).await.unwrap());
    announced(&mut feed, "revoke_api_key").await;
    store
        .delete_user_ending_sessions(ada, T0, T0 + 100)
        .await
        .unwrap();
    announced(&mut feed, "delete_user_ending_sessions").await;
}
