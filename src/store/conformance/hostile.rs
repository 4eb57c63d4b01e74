//! Hostile input: strings built to break queries, encodings and length limits round-trip
//! exactly, or are refused with a clean error and change nothing.

use crate::rbac::seed;
use std::sync::Arc;

use super::{T0, hash, is_live, new_key, new_user, stored_key};
use crate::error::StoreError;

use crate::store::{Consumed, NewUser, RefreshRecord, Session, Store, User, UserChange};

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

/// Every user that was stored reads back exactly, by id and in its organization's list.
async fn assert_intact(store: &Arc<dyn Store>, accepted: &[User]) {
    for u in accepted {
        assert_eq!(store.user_by_id(u.id).await.unwrap().as_ref(), Some(u));
        assert_eq!(
            store.list_users(u.org.as_deref()).await.unwrap(),
            std::slice::from_ref(u)
        );
    }
}

/// SQL injection attempts, quotes and placeholders, a NUL byte, emoji, right-to-left marks,
/// 10 KB strings (plain and incompressible) and the empty string, as emails, password hashes,
/// organizations, session ids and client details, key names and prefixes and kids: each is
/// stored and read back
/// exactly, or refused with an error that is not [`StoreError::Corrupt`], does not echo the input,
/// and leaves nothing behind.
pub async fn hostile_input_round_trips_or_fails_cleanly(store: Arc<dyn Store>) {
    let anchor = store
        .create_user(new_user("anchor@example.com"))
        .await
        .unwrap();
    let mut accepted = vec![anchor.clone()];
    for (i, s) in hostile_strings().into_iter().enumerate() {
        let new = NewUser {
            email: s.clone(),
            password_hash: s.clone(),
            role: seed::VIEWER,
            org: Some(s.clone()),
            created_at: T0 + i as i64,
            email_verified: false,
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
        assert_intact(&store, &accepted).await;
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
        let session = Session::new(s.clone(), anchor.id, T0).with_client(Some(&s), Some(s.clone()));
        if store.create_session(session.clone(), first).await.is_ok() {
            assert!(is_live(&store, &s, anchor.id).await);
            assert_eq!(
                store.sessions_of_user(anchor.id).await.unwrap(),
                [session],
                "the session and its client details read back exactly"
            );
            assert!(matches!(
                store.consume_refresh(&hash(&format!("hostile {i}")), T0 + 1).await.unwrap(),
                Consumed::Spent(r) if r.session_id == s
            ));
            let same_role = UserChange::Role(anchor.role.clone());
            assert_eq!(
                store
                    .update_user_ending_sessions(anchor.id, same_role, T0 + 2, T0 + 100)
                    .await
                    .unwrap(),
                Some(vec![s.clone()])
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
    // Sessions' ids as given, and the users' entries the role changes appended.
    assert!(
        log.iter()
            .all(|r| hostile.contains(&r.session_id) || r.session_id.starts_with("user:"))
    );
    // Still intact at the end.
    assert_intact(&store, &accepted).await;
}
