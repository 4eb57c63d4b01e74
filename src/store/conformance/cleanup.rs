//! Cleanup ([`CleanupStore`](crate::store::CleanupStore)): each kind of row is deleted once it can
//! no longer matter and kept while it can, at most `limit` rows a call; after a purge, reuse
//! detection, refreshes, single-use tokens and revocation cursors answer as before.

use std::sync::Arc;

use super::{T0, hash, session, user};
use crate::store::{Consumed, Expired, RefreshRecord, Store};

/// Deletes what `kind` can delete at `now`, in one call with room to spare.
async fn purge(store: &Arc<dyn Store>, kind: Expired, now: i64) -> u64 {
    store.delete_expired(kind, now, 1000).await.unwrap()
}

async fn count(store: &Arc<dyn Store>, kind: Expired) -> u64 {
    store.count_rows(kind).await.unwrap()
}

/// Adds token `label` to session `sid`, issued at `issued_at`, expiring at `expires_at`.
async fn add_token(store: &Arc<dyn Store>, sid: &str, uid: i64, label: &str, at: (i64, i64)) {
    let record = RefreshRecord::new(hash(label), sid.to_owned(), uid, at.0, at.1);
    assert!(store.insert_refresh(record).await.unwrap());
}

/// Refresh tokens go at their **own** expiry, spent or not; a spent token that has not expired
/// stays, so presenting it again is still reuse ([`Consumed::AlreadySpent`]) after a purge.
pub async fn cleanup_refresh_tokens_at_their_own_expiry(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "s1", uid, "a").await; // a: T0 .. T0 + 1000
    assert!(matches!(
        store.consume_refresh(&hash("a"), T0 + 10).await.unwrap(),
        Consumed::Spent(_)
    ));
    add_token(&store, "s1", uid, "b", (T0 + 10, T0 + 50)).await;
    add_token(&store, "s1", uid, "c", (T0 + 20, T0 + 2000)).await;

    assert_eq!(purge(&store, Expired::RefreshTokens, T0 + 49).await, 0);
    assert_eq!(
        purge(&store, Expired::RefreshTokens, T0 + 60).await,
        1,
        "b expired"
    );
    assert_eq!(count(&store, Expired::RefreshTokens).await, 2);
    assert!(
        matches!(
            store.consume_refresh(&hash("a"), T0 + 60).await.unwrap(),
            Consumed::AlreadySpent(_)
        ),
        "a spent token that has not expired is kept: its reuse is still detected"
    );
    assert_eq!(
        purge(&store, Expired::Sessions, T0 + 60).await,
        0,
        "s1 lives"
    );
    assert!(matches!(
        store.consume_refresh(&hash("c"), T0 + 60).await.unwrap(),
        Consumed::Spent(_)
    ));

    assert_eq!(
        purge(&store, Expired::RefreshTokens, T0 + 1000).await,
        1,
        "a expired"
    );
    assert_eq!(count(&store, Expired::RefreshTokens).await, 1);
    assert_eq!(
        store.consume_refresh(&hash("a"), T0 + 1000).await.unwrap(),
        Consumed::Invalid,
        "as it was before the purge: past its expiry"
    );
    assert!(matches!(
        store.consume_refresh(&hash("c"), T0 + 1000).await.unwrap(),
        Consumed::AlreadySpent(_)
    ));
}

/// Sessions go when ended, or when no refresh token of theirs expires after `now`, with their
/// tokens; a live session stays, still refreshes, and is still listed.
pub async fn cleanup_sessions_that_can_no_longer_be_refreshed(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "live", uid, "l1").await;
    add_token(&store, "live", uid, "l2", (T0 + 5, T0 + 5000)).await;
    session(&store, "ended", uid, "e1").await;
    assert!(store.revoke_session("ended", T0 + 5).await.unwrap());
    // Its first token lives until T0 + 1000, but it was refreshed to a short-lived one: the
    // newest token decides nothing, any unexpired one keeps the session.
    session(&store, "spent", uid, "p1").await;
    assert!(matches!(
        store.consume_refresh(&hash("p1"), T0 + 10).await.unwrap(),
        Consumed::Spent(_)
    ));
    add_token(&store, "spent", uid, "p2", (T0 + 10, T0 + 20)).await;
    let idle = RefreshRecord::new(hash("i1"), "idle".into(), uid, T0, T0 + 100);
    let idle_session = crate::store::Session::new("idle".into(), uid, T0);
    store.create_session(idle_session, idle).await.unwrap();

    assert_eq!(
        purge(&store, Expired::Sessions, T0 + 200).await,
        2,
        "the ended one, and the idle one (its only token expired at T0 + 100)"
    );
    assert_eq!(count(&store, Expired::Sessions).await, 2);
    assert_eq!(
        count(&store, Expired::RefreshTokens).await,
        4,
        "e1 and i1 went with their sessions"
    );
    assert!(!store.revoke_session("ended", T0 + 200).await.unwrap());

    assert_eq!(
        purge(&store, Expired::Sessions, T0 + 1000).await,
        1,
        "spent: its spent p1 kept it until p1 expired at T0 + 1000"
    );
    assert_eq!(count(&store, Expired::Sessions).await, 1);
    assert_eq!(
        count(&store, Expired::RefreshTokens).await,
        2,
        "l1 and l2 stay with live"
    );
    let listed = store.sessions_of_user(uid).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["live"]
    );

    // A live session with an unexpired token is kept, refreshes, and takes successors.
    session(&store, "fresh", uid, "f1").await;
    assert_eq!(purge(&store, Expired::Sessions, T0 + 999).await, 0);
    assert!(matches!(
        store.consume_refresh(&hash("f1"), T0 + 999).await.unwrap(),
        Consumed::Spent(_)
    ));
    add_token(&store, "fresh", uid, "f2", (T0 + 999, T0 + 5000)).await;
    for gone in ["idle", "spent", "ended"] {
        let probe = RefreshRecord::new(hash(gone), gone.into(), uid, T0, T0 + 5000);
        assert!(
            !store.insert_refresh(probe).await.unwrap(),
            "{gone} is gone"
        );
    }
    assert_eq!(
        store.consume_refresh(&hash("i1"), T0 + 50).await.unwrap(),
        Consumed::Invalid,
        "a token of a deleted session is refused"
    );
}

/// Reset and verification tokens go when spent or expired; pending ones stay and still spend.
pub async fn cleanup_spent_and_expired_single_use_tokens(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let cy = user(&store, "cy@example.com").await;
    for (kind, prefix) in [
        (Expired::ResetTokens, "r"),
        (Expired::VerificationTokens, "v"),
    ] {
        let t = |n: &str| hash(&format!("{prefix}{n}"));
        let create = |h, owner, exp| {
            let store = Arc::clone(&store);
            async move {
                match kind {
                    Expired::ResetTokens => store.create_reset_token(&h, owner, exp).await,
                    _ => store.create_verification_token(&h, owner, exp).await,
                }
                .unwrap()
            }
        };
        let spend = |h, now| {
            let store = Arc::clone(&store);
            async move {
                match kind {
                    Expired::ResetTokens => store.consume_reset_token(&h, now).await,
                    _ => store.consume_verification_token(&h, now).await,
                }
                .unwrap()
            }
        };
        create(t("spent"), ada, T0 + 500).await;
        create(t("spent-too"), ada, T0 + 500).await; // spent with the other one of ada's
        create(t("expired"), bob, T0 + 50).await;
        create(t("pending"), cy, T0 + 500).await;
        assert_eq!(spend(t("spent"), T0 + 10).await, Some(ada));

        assert_eq!(purge(&store, kind, T0 + 100).await, 3, "{kind:?}");
        assert_eq!(count(&store, kind).await, 1, "{kind:?}");
        assert_eq!(spend(t("spent-too"), T0 + 100).await, None, "as before");
        assert_eq!(spend(t("expired"), T0 + 100).await, None, "as before");
        assert_eq!(spend(t("pending"), T0 + 100).await, Some(cy), "{kind:?}");
        assert_eq!(purge(&store, kind, T0 + 100).await, 1, "spent now");
        assert_eq!(count(&store, kind).await, 0);
    }
}

/// Revocation-log entries go once no longer in force; those in force stay; and a cursor handed
/// out before a purge, even of every entry, is below every cursor handed out after it.
pub async fn cleanup_revocations_keep_cursors_monotonic(store: Arc<dyn Store>) {
    store
        .append_revocations(&["a".into(), "b".into()], T0 + 100)
        .await
        .unwrap();
    store
        .append_revocations(&["c".into()], T0 + 500)
        .await
        .unwrap();
    let before = store.revocations_since(0, T0, 100).await.unwrap();
    let last = before.last().map(|r| r.cursor).unwrap();

    assert_eq!(purge(&store, Expired::Revocations, T0 + 100).await, 2);
    let left = store.revocations_since(0, T0, 100).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|r| r.session_id.as_str())
            .collect::<Vec<_>>(),
        ["c"]
    );
    assert_eq!(left[0].cursor, last, "entries kept keep their cursor");

    assert_eq!(purge(&store, Expired::Revocations, T0 + 500).await, 1);
    assert_eq!(count(&store, Expired::Revocations).await, 0);
    store
        .append_revocations(&["d".into()], T0 + 900)
        .await
        .unwrap();
    let after = store.revocations_since(last, T0 + 500, 100).await.unwrap();
    assert_eq!(
        after
            .iter()
            .map(|r| r.session_id.as_str())
            .collect::<Vec<_>>(),
        ["d"],
        "a poller at the old cursor sees the new entry"
    );
    assert!(after[0].cursor > last, "cursors are never reused");
}

/// A call deletes at most `limit` rows (sessions count as one each), 0 deletes nothing, and
/// repeated calls finish the work.
pub async fn cleanup_respects_the_limit(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for i in 0..5 {
        let (sid, first) = (format!("s{i}"), format!("t{i}"));
        session(&store, &sid, uid, &first).await;
        assert!(store.revoke_session(&sid, T0 + 1).await.unwrap());
        store
            .create_reset_token(&hash(&format!("r{i}")), uid, T0 + 10)
            .await
            .unwrap();
    }
    let ids: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
    store.append_revocations(&ids, T0 + 10).await.unwrap();

    for kind in [
        Expired::Sessions,
        Expired::RefreshTokens,
        Expired::ResetTokens,
        Expired::Revocations,
    ] {
        assert_eq!(store.delete_expired(kind, T0 + 2000, 0).await.unwrap(), 0);
        let mut batches = Vec::new();
        loop {
            let n = store.delete_expired(kind, T0 + 2000, 2).await.unwrap();
            batches.push(n);
            if n < 2 {
                break;
            }
        }
        let expected: &[u64] = match kind {
            // The sessions' purge took their tokens with them.
            Expired::RefreshTokens => &[0],
            _ => &[2, 2, 1],
        };
        assert_eq!(batches, expected, "{kind:?}");
        assert_eq!(count(&store, kind).await, 0, "{kind:?}");
    }
}

/// Purges at once (a janitor on every instance) share the work: each row is deleted by exactly
/// one of them, none fails, and a live session with its tokens is left alone throughout.
pub async fn cleanup_concurrent_purges_share_the_work(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    session(&store, "live", uid, "live-1").await;
    for i in 0..40 {
        let sid = format!("s{i}");
        session(&store, &sid, uid, &format!("t{i}")).await;
        add_token(&store, &sid, uid, &format!("u{i}"), (T0 + 1, T0 + 3000)).await;
        assert!(store.revoke_session(&sid, T0 + 2).await.unwrap());
    }
    let ids: Vec<String> = (0..40).map(|i| format!("x{i}")).collect();
    store.append_revocations(&ids, T0 + 10).await.unwrap();
    for kind in [Expired::Sessions, Expired::Revocations] {
        let deleted = super::at_once(&store, 16, move |store, _| async move {
            let mut total = 0;
            loop {
                let n = store.delete_expired(kind, T0 + 100, 3).await.unwrap();
                total += n;
                if n < 3 {
                    return total;
                }
            }
        })
        .await;
        assert_eq!(deleted.iter().sum::<u64>(), 40, "{kind:?}: each row once");
    }
    assert_eq!(count(&store, Expired::Sessions).await, 1);
    assert_eq!(count(&store, Expired::RefreshTokens).await, 1, "live-1");
    assert!(matches!(
        store
            .consume_refresh(&hash("live-1"), T0 + 100)
            .await
            .unwrap(),
        Consumed::Spent(_)
    ));
}
