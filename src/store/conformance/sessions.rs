//! Login sessions and their refresh tokens: creation, spending a token once, the tokens that do
//! not spend, adding successors, and ending a session.

use std::sync::Arc;

use super::{T0, hash, is_live, session, user};
use crate::error::StoreError;
use crate::store::{Consumed, RefreshRecord, Session, Store};

/// A session is created live with its first token; a second session with the same id is
/// [`StoreError::Conflict`], stores nothing and leaves the first one as it was.
pub async fn sessions_create_once(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    assert!(is_live(&store, "s1", uid).await);
    assert!(!is_live(&store, "nope", uid).await, "unknown");

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
    let mut first = RefreshRecord::new(hash("r1"), "s1".into(), uid, T0, T0 + 1000);
    first.spent_at = Some(T0 + 2);
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 2).await.unwrap(),
        Consumed::Spent(first),
        "the first session and its token are untouched"
    );
}

/// [`consume_refresh`](crate::store::SessionStore::consume_refresh) spends a token once; later
/// calls see it spent, with the time of the spend.
pub async fn consume_refresh_spends_once(store: Arc<dyn Store>) {
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

/// Unknown tokens, expired ones (at and after `expires_at`) and those of an ended session are
/// [`Consumed::Invalid`], and the attempt does not spend them.
pub async fn consume_refresh_invalid_cases(store: Arc<dyn Store>) {
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

/// [`insert_refresh`](crate::store::SessionStore::insert_refresh) adds a successor to a live
/// session, is a no-op for a hash already there (it never un-spends one), and adds nothing to an
/// unknown or ended session.
pub async fn insert_refresh_rules(store: Arc<dyn Store>) {
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

/// [`revoke_session`](crate::store::SessionStore::revoke_session) ends a live session once; its
/// tokens stop spending.
pub async fn revoke_session_once(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    assert!(store.revoke_session("s1", T0 + 7).await.unwrap());
    assert!(
        !store.revoke_session("s1", T0 + 8).await.unwrap(),
        "already ended"
    );
    assert!(!store.revoke_session("unknown", T0 + 8).await.unwrap());
    assert!(!is_live(&store, "s1", uid).await);
    assert_eq!(
        store.consume_refresh(&hash("r1"), T0 + 9).await.unwrap(),
        Consumed::Invalid
    );
}
