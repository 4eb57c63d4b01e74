//! Email-verification tokens: spending one marks the user's address verified, once; expired and
//! unknown tokens change nothing; spending one ends the user's other pending tokens; they are
//! not reset tokens; and none outlives its user.

use std::sync::Arc;

use super::{T0, hash, new_user, user};
use crate::store::Store;

/// Whether user `id`'s address is verified.
async fn verified(store: &Arc<dyn Store>, id: i64) -> bool {
    store.user_by_id(id).await.unwrap().unwrap().email_verified
}

/// [`consume_verification_token`](crate::store::VerificationTokenStore::consume_verification_token)
/// gives the user of a pending token once and marks their address verified (only theirs); at
/// `expires_at` and after, and for an unknown hash, it is `None` and changes nothing (the address
/// stays unverified, the user's other tokens stay pending); spending one ends the user's other
/// pending tokens, and only that user's.
pub async fn verification_tokens_single_use_and_expiry(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    for (t, owner, expires) in [
        ("early", ada, T0 + 10),
        ("v1", ada, T0 + 100),
        ("v2", ada, T0 + 100),
        ("b1", bob, T0 + 100),
    ] {
        store
            .create_verification_token(&hash(t), owner, expires)
            .await
            .unwrap();
    }
    // Expired (at expires_at): None, and nothing spent or marked.
    for now in [T0 + 10, T0 + 11] {
        assert_eq!(
            store
                .consume_verification_token(&hash("early"), now)
                .await
                .unwrap(),
            None,
            "consume_verification_token: expired at expires_at"
        );
    }
    assert_eq!(
        store
            .consume_verification_token(&hash("unknown"), T0)
            .await
            .unwrap(),
        None
    );
    assert!(
        !verified(&store, ada).await,
        "consume_verification_token: a refused token marks nothing"
    );

    assert_eq!(
        store
            .consume_verification_token(&hash("v1"), T0 + 20)
            .await
            .unwrap(),
        Some(ada),
        "consume_verification_token: the expired attempt spent none of the user's tokens"
    );
    assert!(
        verified(&store, ada).await,
        "consume_verification_token: marks the address verified"
    );
    assert!(!verified(&store, bob).await, "only that user's");
    assert_eq!(
        store
            .consume_verification_token(&hash("v1"), T0 + 21)
            .await
            .unwrap(),
        None,
        "consume_verification_token: single use"
    );
    assert_eq!(
        store
            .consume_verification_token(&hash("v2"), T0 + 21)
            .await
            .unwrap(),
        None,
        "consume_verification_token: spends the user's other pending tokens"
    );
    assert_eq!(
        store
            .consume_verification_token(&hash("b1"), T0 + 21)
            .await
            .unwrap(),
        Some(bob),
        "another user's token stays pending"
    );
    assert!(verified(&store, bob).await);
}

/// Verification and reset tokens are apart: a reset token's hash is no verification token (and
/// the attempt leaves it pending), and a verification token's hash is no reset token.
pub async fn verification_and_reset_tokens_are_apart(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    store
        .create_reset_token(&hash("reset"), ada, T0 + 100)
        .await
        .unwrap();
    store
        .create_verification_token(&hash("verify"), ada, T0 + 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_verification_token(&hash("reset"), T0)
            .await
            .unwrap(),
        None,
        "a reset token is not a verification token"
    );
    assert!(!verified(&store, ada).await);
    assert_eq!(
        store.reset_token_user(&hash("verify"), T0).await.unwrap(),
        None,
        "a verification token is not a reset token"
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("verify"), T0)
            .await
            .unwrap(),
        None
    );
    // Neither attempt spent anything.
    assert_eq!(
        store
            .consume_verification_token(&hash("verify"), T0 + 1)
            .await
            .unwrap(),
        Some(ada)
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("reset"), T0 + 1)
            .await
            .unwrap(),
        Some(ada),
        "spending a verification token leaves the user's reset tokens pending"
    );
}

/// [`delete_user_ending_sessions`](crate::store::UserStore::delete_user_ending_sessions) deletes
/// the user's verification tokens (not another user's): one spent afterwards is `None`, also once
/// the email registers again. A token for a deleted user is refused and stores nothing.
pub async fn verification_tokens_do_not_outlive_their_user(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    store
        .create_verification_token(&hash("ada"), ada, T0 + 100)
        .await
        .unwrap();
    store
        .create_verification_token(&hash("bob"), bob, T0 + 100)
        .await
        .unwrap();
    assert!(
        store
            .delete_user_ending_sessions(ada, T0, T0 + 9)
            .await
            .unwrap()
            .is_some()
    );
    let refused = store
        .create_verification_token(&hash("ada late"), ada, T0 + 100)
        .await;
    assert!(
        refused.is_err(),
        "create_verification_token: a token of a deleted user is refused"
    );
    let again = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    for t in ["ada", "ada late"] {
        assert_eq!(
            store
                .consume_verification_token(&hash(t), T0 + 1)
                .await
                .unwrap(),
            None,
            "{t}: no verification token outlives its user"
        );
    }
    assert!(
        !verified(&store, again.id).await,
        "the new user of the same email is not verified by the old user's token"
    );
    assert_eq!(
        store
            .consume_verification_token(&hash("bob"), T0 + 1)
            .await
            .unwrap(),
        Some(bob),
        "another user's token is untouched"
    );
}
