//! Login sessions and their refresh tokens: creation, spending a token once, the tokens that do
//! not spend, adding successors (which moves the session's last use), ending a session, and
//! listing a user's live sessions.

use std::sync::Arc;

use super::{T0, hash, is_live, session, user};
use crate::error::StoreError;
use crate::store::{Consumed, MAX_USER_AGENT_LEN, RefreshRecord, Session, Store};

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

/// Creates `session` with a first refresh token named after it, valid until T0 + 1000.
async fn create(store: &Arc<dyn Store>, session: &Session) {
    let first = RefreshRecord::new(
        hash(&format!("first {}", session.id)),
        session.id.clone(),
        session.user_id,
        session.created_at,
        T0 + 1000,
    );
    store
        .create_session(session.clone(), first)
        .await
        .expect("create session");
}

/// [`sessions_of_user`](crate::store::SessionStore::sessions_of_user) lists the user's live
/// sessions only (not ended ones, not another user's), oldest first and, at the same
/// `created_at`, by id (by bytes: `"B"` before `"a"`, whatever a database's collation says), each
/// exactly as created: client details (a `User-Agent` of [`MAX_USER_AGENT_LEN`] bytes that are not
/// all ASCII, an address) or none, and `last_used_at` = `created_at`. An unknown user has none.
pub async fn sessions_of_user_lists_live_sessions_oldest_first(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    assert!(store.sessions_of_user(ada).await.unwrap().is_empty());
    let long_agent = "Mozilla/5.0 (Ünïcödé) ".repeat(20);
    let sessions = [
        Session::new("s-late".into(), ada, T0 + 30)
            .with_client(Some("curl/8.5.0"), Some("203.0.113.7".into())),
        Session::new("a".into(), ada, T0 + 10),
        Session::new("B".into(), ada, T0 + 10).with_client(Some(&long_agent), None),
        Session::new("s-ended".into(), ada, T0 + 5),
        Session::new("s-first".into(), ada, T0).with_client(None, Some("2001:db8::1".into())),
        Session::new("s-bob".into(), bob, T0 + 1),
    ];
    for session in &sessions {
        create(&store, session).await;
    }
    assert!(store.revoke_session("s-ended", T0 + 40).await.unwrap());
    let cut = &sessions[2];
    assert!(
        cut.user_agent.as_ref().unwrap().len() <= MAX_USER_AGENT_LEN
            && cut.user_agent.as_ref().unwrap().len() > MAX_USER_AGENT_LEN - 4,
        "with_client cuts a long User-Agent on a character boundary"
    );
    let listed = store.sessions_of_user(ada).await.unwrap();
    let expected = [&sessions[4], &sessions[2], &sessions[1], &sessions[0]];
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-first", "B", "a", "s-late"],
        "sessions_of_user: live sessions only, oldest first, then by id"
    );
    for (got, want) in listed.iter().zip(expected) {
        assert_eq!(
            got, want,
            "sessions_of_user: {} reads back as created",
            want.id
        );
        assert_eq!(
            got.last_used_at, got.created_at,
            "last use starts at creation"
        );
    }
    assert_eq!(
        store.sessions_of_user(bob).await.unwrap(),
        [sessions[5].clone()],
        "sessions_of_user: only that user's"
    );
    assert!(store.sessions_of_user(bob + 1000).await.unwrap().is_empty());
}

/// [`insert_refresh`](crate::store::SessionStore::insert_refresh) moves the session's
/// `last_used_at` to the successor's `issued_at`, never back (an older successor leaves it), and
/// for an ended or unknown session is `false` and moves nothing.
pub async fn insert_refresh_moves_last_use_forward(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "r1").await;
    session(&store, "s2", uid, "r2").await;
    let last_use = |store: Arc<dyn Store>| async move {
        let live = store.sessions_of_user(uid).await.unwrap();
        live.iter()
            .map(|s| (s.id.clone(), s.last_used_at))
            .collect::<Vec<_>>()
    };
    let successor = |name: &str, sid: &str, issued_at: i64| {
        RefreshRecord::new(hash(name), sid.to_owned(), uid, issued_at, issued_at + 1000)
    };
    assert_eq!(
        last_use(Arc::clone(&store)).await,
        [("s1".to_owned(), T0), ("s2".to_owned(), T0)]
    );

    assert!(
        store
            .insert_refresh(successor("n1", "s1", T0 + 50))
            .await
            .unwrap()
    );
    assert_eq!(
        last_use(Arc::clone(&store)).await,
        [("s1".to_owned(), T0 + 50), ("s2".to_owned(), T0)],
        "insert_refresh: the session's last use is the successor's issue time; only that session's"
    );
    // An older successor (issued before the newest) is added, and moves nothing back.
    assert!(
        store
            .insert_refresh(successor("n0", "s1", T0 + 20))
            .await
            .unwrap()
    );
    assert!(matches!(
        store.consume_refresh(&hash("n0"), T0 + 60).await.unwrap(),
        Consumed::Spent(_)
    ));
    assert_eq!(
        last_use(Arc::clone(&store)).await,
        [("s1".to_owned(), T0 + 50), ("s2".to_owned(), T0)],
        "insert_refresh: last_used_at never moves back"
    );
    assert!(
        store
            .insert_refresh(successor("n2", "s1", T0 + 90))
            .await
            .unwrap()
    );
    assert_eq!(
        last_use(Arc::clone(&store)).await[0],
        ("s1".to_owned(), T0 + 90)
    );

    // An ended session: false, nothing added, and its last use (were it listed) not moved: the
    // other session is untouched too.
    assert!(store.revoke_session("s1", T0 + 100).await.unwrap());
    assert!(
        !store
            .insert_refresh(successor("n3", "s1", T0 + 200))
            .await
            .unwrap()
    );
    assert_eq!(
        store.consume_refresh(&hash("n3"), T0 + 201).await.unwrap(),
        Consumed::Invalid
    );
    // An unknown session: false.
    assert!(
        !store
            .insert_refresh(successor("n4", "nope", T0 + 200))
            .await
            .unwrap()
    );
    assert_eq!(
        last_use(Arc::clone(&store)).await,
        [("s2".to_owned(), T0)],
        "insert_refresh: an ended or unknown session moves no other session's last use"
    );
}
