//! Races: many tasks at once on one record, 50 times over. Each contract here is an
//! atomicity promise — exactly one winner, compare-and-set, no entry skipped — that sequential
//! calls cannot show. Run on a multi-threaded runtime, as the macro does.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    CONTENDERS, T0, TRIALS, at_once, hash, is_live, new_key, new_user, session, stored_key, user,
};
use crate::error::StoreError;
use crate::store::{
    Consumed, RefreshRecord, Session, Store, TokenHash, UserChange, user_change_entry,
};

/// 16 concurrent creations with one email: one succeeds, the others are
/// [`StoreError::Conflict`].
pub async fn users_concurrent_duplicate_email(store: Arc<dyn Store>) {
    let results = at_once(&store, 16, |store, _| async move {
        store.create_user(new_user("race@example.com")).await
    })
    .await;
    let mut created = 0;
    for result in results {
        match result {
            Ok(_) => created += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.list_users(Some("acme")).await.unwrap().len(), 1);
}

/// A login's hash upgrade (compare-and-set over the hash it verified) racing a reset (an
/// unconditional write): whatever the order, the reset's hash is what stays.
pub async fn users_upgrade_never_undoes_a_reset(store: Arc<dyn Store>) {
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

/// A signed-in user's password change (compare-and-set over the hash it verified, keeping the
/// caller's session) racing a reset (an unconditional write) of the same user, 50 times over.
/// The reset always has the last word: if it lands first, the change finds its hash gone and is
/// `None`, changing nothing; if the change lands first, the reset overwrites it. Either way the
/// reset's hash stays, the address is verified, no session of the user is left live, the two
/// calls' ended sessions split the user's sessions between them exactly, and the log holds each
/// session once and one user entry per call that changed something.
pub async fn users_change_password_never_undoes_a_reset(store: Arc<dyn Store>) {
    for trial in 0..TRIALS {
        let id = user(&store, &format!("pw{trial}@example.com")).await;
        let verified = store.user_by_id(id).await.unwrap().unwrap().password_hash;
        let [a, b, keep] = ["a", "b", "keep"].map(|s| format!("t{trial}-{s}"));
        for sid in [&a, &b, &keep] {
            session(&store, sid, id, &format!("first {sid}")).await;
        }
        let reset = format!("$argon2id$reset-{trial}");
        let change = {
            let (store, keep) = (Arc::clone(&store), keep.clone());
            tokio::spawn(async move {
                let new = "$argon2id$changed";
                store
                    .change_password_ending_sessions(id, &verified, new, Some(&keep), T0, T0 + 9)
                    .await
                    .unwrap()
            })
        };
        let reset_task = {
            let (store, reset) = (Arc::clone(&store), reset.clone());
            tokio::spawn(async move {
                let change = UserChange::PasswordHash(reset);
                store
                    .update_user_ending_sessions(id, change, T0, T0 + 9)
                    .await
                    .unwrap()
            })
        };
        let changed = change.await.unwrap();
        let reset_ended = reset_task.await.unwrap().expect("the user exists");
        let after = store.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(
            (after.password_hash.as_str(), after.email_verified),
            (reset.as_str(), true),
            "trial {trial}: the change ({changed:?}) undid the reset"
        );
        assert!(
            store.sessions_of_user(id).await.unwrap().is_empty(),
            "trial {trial}: a session outlived the reset"
        );
        match &changed {
            Some(ended) => {
                assert_eq!(
                    ended,
                    &[a.clone(), b.clone()],
                    "trial {trial}: change ended"
                );
                assert_eq!(
                    reset_ended,
                    std::slice::from_ref(&keep),
                    "trial {trial}: reset after change"
                );
            }
            None => assert_eq!(reset_ended, [a.clone(), b.clone(), keep.clone()]),
        }
        let entry = user_change_entry(id);
        let log: Vec<String> = store
            .revocations_since(0, T0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.session_id)
            .filter(|e| e.starts_with(&format!("t{trial}-")) || *e == entry)
            .collect();
        for sid in [&a, &b, &keep] {
            let times = log.iter().filter(|e| *e == sid).count();
            assert_eq!(times, 1, "trial {trial}: {sid} logged {times} times");
        }
        let entries = log.iter().filter(|e| **e == entry).count();
        assert_eq!(
            entries,
            1 + usize::from(changed.is_some()),
            "trial {trial}: user entries"
        );
    }
}

/// New sessions racing a change of their user (a reset or role change), as logins do: each
/// contender creates a session, then reads the user back, as a login does before it hands out a
/// token. Whatever the interleaving, a contender that still read the old password hash must
/// find its session among those the change ended; otherwise a login that raced a reset keeps a
/// live session signed in with the old password.
pub async fn users_change_never_misses_a_session_that_read_the_old_user(store: Arc<dyn Store>) {
    for trial in 0..TRIALS {
        let id = user(&store, &format!("change{trial}@example.com")).await;
        let old = store.user_by_id(id).await.unwrap().unwrap().password_hash;
        let new = format!("$argon2id$changed-{trial}");
        let logins: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let sid = format!("t{trial}-login{i}");
                    session(&store, &sid, id, &format!("first {sid}")).await;
                    let seen = store.user_by_id(id).await.unwrap().unwrap().password_hash;
                    (sid, seen)
                })
            })
            .collect();
        let change = {
            let store = Arc::clone(&store);
            let new = new.clone();
            tokio::spawn(async move {
                store
                    .update_user_ending_sessions(id, UserChange::PasswordHash(new), T0, T0 + 9)
                    .await
                    .unwrap()
                    .expect("the user exists")
            })
        };
        let mut seen = Vec::new();
        for login in logins {
            seen.push(login.await.unwrap());
        }
        let ended: HashSet<String> = change.await.unwrap().into_iter().collect();
        for (sid, hash_seen) in seen {
            if hash_seen == old {
                assert!(
                    ended.contains(&sid),
                    "trial {trial}: session {sid} read the old hash and survived the change"
                );
            } else {
                assert_eq!(hash_seen, new, "trial {trial}: a third hash appeared");
            }
        }
    }
}

/// 64 concurrent spends of one reset token: exactly one gets the user.
pub async fn reset_token_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let token = hash(&format!("reset {trial}"));
        store
            .create_reset_token(&token, uid, T0 + 100)
            .await
            .unwrap();
        let spent = at_once(&store, CONTENDERS, |store, _| async move {
            store.consume_reset_token(&token, T0).await.unwrap()
        })
        .await;
        let winners: Vec<i64> = spent.into_iter().flatten().collect();
        assert_eq!(winners, [uid], "trial {trial}: exactly one winner");
    }
}

/// 64 concurrent spends of one verification token, each round for a new user: exactly one gets
/// the user, whose address is then verified.
pub async fn verification_token_race(store: Arc<dyn Store>) {
    for trial in 0..TRIALS {
        let uid = user(&store, &format!("verify{trial}@example.com")).await;
        let token = hash(&format!("verify {trial}"));
        store
            .create_verification_token(&token, uid, T0 + 100)
            .await
            .unwrap();
        let spent = at_once(&store, CONTENDERS, |store, _| async move {
            store.consume_verification_token(&token, T0).await.unwrap()
        })
        .await;
        let winners: Vec<i64> = spent.into_iter().flatten().collect();
        assert_eq!(winners, [uid], "trial {trial}: exactly one winner");
        let user = store.user_by_id(uid).await.unwrap().unwrap();
        assert!(
            user.email_verified,
            "trial {trial}: the winner's spend marked the address"
        );
    }
}

/// Different reset tokens of one user spent at once: the spend ends the user's other tokens in
/// the same step, so exactly one of them succeeds.
pub async fn reset_tokens_of_one_user_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let tokens: Vec<_> = (0..8)
            .map(|i| hash(&format!("reset {trial} {i}")))
            .collect();
        for t in &tokens {
            store.create_reset_token(t, uid, T0 + 100).await.unwrap();
        }
        let spent = at_once(&store, tokens.len(), |store, i| {
            let token = tokens[i];
            async move { store.consume_reset_token(&token, T0).await.unwrap() }
        })
        .await;
        let winners = spent.iter().flatten().count();
        assert_eq!(
            winners, 1,
            "trial {trial}: {winners} different tokens all reset"
        );
    }
}

/// 64 concurrent spends of one refresh token, at different `now`s: exactly one
/// [`Consumed::Spent`]; every other caller sees [`Consumed::AlreadySpent`] with the winner's
/// `spent_at`.
pub async fn consume_refresh_race(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    for trial in 0..TRIALS {
        let sid = format!("race-{trial}");
        let token = format!("race-token-{trial}");
        session(&store, &sid, uid, &token).await;
        let h = hash(&token);
        let outcomes = at_once(&store, CONTENDERS, |store, i| async move {
            // Different "now"s: AlreadySpent must still carry the winner's time.
            let now = T0 + 1 + (i as i64 % 5);
            store.consume_refresh(&h, now).await.unwrap()
        })
        .await;
        let winners: Vec<_> = outcomes
            .iter()
            .filter(|c| matches!(c, Consumed::Spent(_)))
            .collect();
        assert_eq!(winners.len(), 1, "trial {trial}: exactly one Spent");
        let winner_time = match winners[0] {
            Consumed::Spent(r) => r.spent_at,
            _ => None,
        };
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

/// 32 concurrent appends of two entries each: 64 entries with distinct, increasing cursors, and
/// paging by cursor sees each once.
pub async fn revocation_log_concurrent_appends(store: Arc<dyn Store>) {
    at_once(&store, 32, |store, i| async move {
        let ids = [format!("s{i}a"), format!("s{i}b")];
        store.append_revocations(&ids, T0 + 100).await.unwrap();
    })
    .await;
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
pub async fn revocation_poller_never_skips(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const APPENDS: usize = 40;
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                // Read the flag first: a poll after the writers finished sees everything.
                let finished = done.load(Ordering::SeqCst);
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
    done.store(true, Ordering::SeqCst);
    let seen = poller.await.unwrap();
    assert_eq!(
        seen.len(),
        WRITERS * APPENDS,
        "the poller saw every entry once"
    );
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), WRITERS * APPENDS);
}

/// 16 concurrent inserts of one kid with different material: one is kept, and every caller is
/// handed the same keys.
pub async fn signing_keys_concurrent_insert_agree(store: Arc<dyn Store>) {
    let results = at_once(&store, 16, |store, i| async move {
        let key = stored_key("key-1", &[i as u8; 32], T0);
        store.insert_signing_key(key).await.unwrap()
    })
    .await;
    let stored = store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        results.iter().all(|r| *r == stored),
        "every caller sees the one winner"
    );
}

/// 16 instances starting at once on an empty store, each proposing its own first key: one is
/// kept and every caller is handed it; once a key exists a "first" key is not added, a plain
/// insert is.
pub async fn signing_keys_first_insert_agree(store: Arc<dyn Store>) {
    // Every instance proposes a different first key (its own thumbprint); one is kept.
    let results = at_once(&store, 16, |store, i| async move {
        let key = stored_key(&format!("kid-{i}"), &[i as u8; 32], T0);
        store.insert_first_signing_key(key).await.unwrap()
    })
    .await;
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

/// The removal of a user racing the creation of their sessions and API keys, 50 times over:
/// whichever wins, no session or key outlives its user. A session created before the removal is
/// among the sessions it ends (and logs), then deleted: it no longer takes a refresh token; a key
/// created before it is found neither by hash nor by id; a creation after it is refused.
pub async fn users_delete_never_leaves_a_session_or_key_behind(store: Arc<dyn Store>) {
    const CREATIONS: usize = 8;
    for trial in 0..TRIALS {
        let id = user(&store, &format!("leaving{trial}@example.com")).await;
        let spawn_creation = |i: usize| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { create_for(&store, id, &format!("t{trial}-{i}"), i).await })
        };
        // The removal starts among the creations, so that some land before it and some after.
        let mut creations: Vec<_> = (0..CREATIONS / 2).map(spawn_creation).collect();
        let removal = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .delete_user_ending_sessions(id, T0 + 1, T0 + 9)
                    .await
                    .unwrap()
            })
        };
        creations.extend((CREATIONS / 2..CREATIONS).map(spawn_creation));
        let mut made = Vec::new();
        for creation in creations {
            made.push(creation.await.unwrap());
        }
        let ended: HashSet<String> = removal
            .await
            .unwrap()
            .expect("delete_user_ending_sessions: the user exists")
            .into_iter()
            .collect();
        assert_eq!(
            store.user_by_id(id).await.unwrap(),
            None,
            "trial {trial}: delete_user_ending_sessions: the user is gone"
        );
        for record in made {
            match record {
                Made::Session(sid, created) => {
                    assert_eq!(
                        ended.contains(&sid),
                        created,
                        "trial {trial}: delete_user_ending_sessions ends exactly the sessions \
                         created before it ({sid} created: {created})"
                    );
                    assert!(
                        !is_live(&store, &sid, id).await,
                        "trial {trial}: session {sid} outlived its deleted user"
                    );
                }
                Made::Key(key_hash, key_id) => {
                    assert_eq!(
                        store.api_key_by_hash(&key_hash).await.unwrap(),
                        None,
                        "trial {trial}: a key outlived its deleted user (found by hash)"
                    );
                    if let Some(key_id) = key_id {
                        assert_eq!(
                            store.api_key_by_id(key_id).await.unwrap(),
                            None,
                            "trial {trial}: key {key_id} outlived its deleted user"
                        );
                    }
                }
            }
        }
    }
    assert!(
        store.list_api_keys(Some("acme")).await.unwrap().is_empty(),
        "delete_user_ending_sessions: no key of a deleted user is listed"
    );
}

/// What a contender of [`users_delete_never_leaves_a_session_or_key_behind`] tried to create.
enum Made {
    /// A session, by id, and whether it was created.
    Session(String, bool),
    /// An API key: its hash, and its id if it was created.
    Key(TokenHash, Option<i64>),
}

/// Creates a session (even `i`) or an API key (odd `i`) named `name` for user `id`.
async fn create_for(store: &Arc<dyn Store>, id: i64, name: &str, i: usize) -> Made {
    if i.is_multiple_of(2) {
        let first = RefreshRecord::new(
            hash(&format!("first {name}")),
            name.to_owned(),
            id,
            T0,
            T0 + 1000,
        );
        let session = Session::new(name.to_owned(), id, T0);
        let created = store.create_session(session, first).await.is_ok();
        Made::Session(name.to_owned(), created)
    } else {
        let key = new_key(name, Some("acme"), id);
        let key_hash = key.hash;
        let created = store.create_api_key(key).await.ok();
        Made::Key(key_hash, created.map(|k| k.id))
    }
}
