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
