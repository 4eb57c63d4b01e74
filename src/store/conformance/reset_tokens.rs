//! Password-reset tokens: looking one up changes nothing; spending one is single-use, refuses
//! expired tokens, and ends the user's other pending tokens.

use std::sync::Arc;

use super::{T0, hash, user};
use crate::store::Store;

/// [`reset_token_user`](crate::store::ResetTokenStore::reset_token_user) finds an unspent,
/// unexpired token and changes nothing; [`consume_reset_token`](crate::store::ResetTokenStore::consume_reset_token)
/// spends it once, refuses it at `expires_at` without spending it, and ends every other pending
/// token of the same user (and only that user's).
pub async fn reset_tokens_single_use_and_expiry(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    let other = user(&store, "bob@example.com").await;
    for (t, owner) in [("t1", uid), ("t2", uid), ("t3", uid), ("b1", other)] {
        store
            .create_reset_token(&hash(t), owner, T0 + 100)
            .await
            .unwrap();
    }
    // Looking a token up changes nothing.
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store.reset_token_user(&hash("t1"), T0 + 100).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.reset_token_user(&hash("unknown"), T0).await.unwrap(),
        None
    );

    // Expired at expires_at; the refused attempt does not spend it.
    assert_eq!(
        store
            .consume_reset_token(&hash("t2"), T0 + 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.reset_token_user(&hash("t2"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("unknown"), T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.consume_reset_token(&hash("t1"), T0).await.unwrap(),
        Some(uid)
    );
    assert_eq!(
        store
            .consume_reset_token(&hash("t1"), T0 + 1)
            .await
            .unwrap(),
        None,
        "single use"
    );
    // Spending one ended the user's other pending resets, and only that user's.
    for t in ["t2", "t3"] {
        assert_eq!(
            store.reset_token_user(&hash(t), T0 + 1).await.unwrap(),
            None,
            "{t}"
        );
        assert_eq!(
            store.consume_reset_token(&hash(t), T0 + 1).await.unwrap(),
            None,
            "{t}"
        );
    }
    assert_eq!(
        store
            .consume_reset_token(&hash("b1"), T0 + 1)
            .await
            .unwrap(),
        Some(other)
    );
}
