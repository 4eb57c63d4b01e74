//! Signing keys and server secrets: insert-if-absent, insertion order, compare-and-set of the
//! sealed material, deletion.

use std::collections::HashSet;
use std::sync::Arc;

use super::{T0, at_once, stored_key};
use crate::store::Store;
use crate::token::KeyAlgorithm;

/// [`insert_signing_key`](crate::store::SigningKeyStore::insert_signing_key) keeps the first key
/// of a kid, stores material byte for byte, and returns every key in insertion order (not by kid
/// or `created_at`).
pub async fn signing_keys_insert_if_absent(store: Arc<dyn Store>) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    let k1 = stored_key("key-1", &[0u8, 1, 2, 255, 0], T0);
    assert_eq!(
        store.insert_signing_key(k1.clone()).await.unwrap(),
        vec![k1.clone()]
    );
    // Same kid, other material: the first one stays.
    let rival = stored_key("key-1", b"another secret, ignored", T0 + 1);
    assert_eq!(
        store.insert_signing_key(rival).await.unwrap(),
        vec![k1.clone()]
    );
    // Oldest first by insertion, whatever the kid or created_at say: the last one is the newest.
    let mut k2 = stored_key("a-key", &[7u8; 32], T0 - 100);
    k2.algorithm = KeyAlgorithm::EdDsa;
    let k3 = stored_key("refresh-derivation", &[9u8; 32], T0 - 200);
    assert_eq!(
        store.insert_signing_key(k2.clone()).await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );
    let all = store.insert_signing_key(k3.clone()).await.unwrap();
    assert_eq!(all, vec![k1, k2, k3]);
    assert_eq!(store.signing_keys().await.unwrap(), all);
}

/// [`reseal_signing_key`](crate::store::SigningKeyStore::reseal_signing_key) replaces material
/// only over the expected material; order survives it; a key is deleted once.
pub async fn signing_keys_reseal_and_delete(store: Arc<dyn Store>) {
    store
        .insert_signing_key(stored_key("k1", &[1; 32], T0))
        .await
        .unwrap();
    store
        .insert_signing_key(stored_key("k2", &[2; 32], T0 + 1))
        .await
        .unwrap();
    // Compare-and-set: only over the material that was read.
    assert!(
        !store
            .reseal_signing_key("k1", &[9; 32], b"sealed")
            .await
            .unwrap()
    );
    assert!(
        store
            .reseal_signing_key("k1", &[1; 32], b"sealed")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_signing_key("k1", &[1; 32], b"other")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_signing_key("nope", &[1; 32], b"x")
            .await
            .unwrap()
    );
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys[0].material, b"sealed");
    assert_eq!(keys[1].material, vec![2; 32]);
    // Order survives a reseal; a delete removes one key.
    assert_eq!(keys[0].kid, "k1");
    assert!(store.delete_signing_key("k1").await.unwrap());
    assert!(!store.delete_signing_key("k1").await.unwrap());
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "k2");
}

/// [`insert_secret`](crate::store::SigningKeyStore::insert_secret) keeps the first material of
/// a name, also when many callers insert at once (all see the winner's);
/// [`reseal_secret`](crate::store::SigningKeyStore::reseal_secret) is a compare-and-set.
pub async fn secrets_insert_if_absent_and_reseal(store: Arc<dyn Store>) {
    assert_eq!(
        store.insert_secret("s", b"first", T0).await.unwrap(),
        b"first"
    );
    assert_eq!(
        store.insert_secret("s", b"second", T0).await.unwrap(),
        b"first",
        "the first insert is kept"
    );
    assert_eq!(
        store.insert_secret("t", &[0, 255], T0).await.unwrap(),
        vec![0, 255]
    );
    assert!(!store.reseal_secret("s", b"second", b"x").await.unwrap());
    assert!(store.reseal_secret("s", b"first", b"sealed").await.unwrap());
    assert!(
        !store
            .reseal_secret("missing", b"first", b"x")
            .await
            .unwrap()
    );
    assert_eq!(
        store.insert_secret("s", b"third", T0).await.unwrap(),
        b"sealed"
    );
    // Concurrent first inserts agree.
    let seen: HashSet<_> = at_once(&store, 16, |store, i| async move {
        let material = [i as u8; 8];
        store.insert_secret("race", &material, T0).await.unwrap()
    })
    .await
    .into_iter()
    .collect();
    assert_eq!(seen.len(), 1, "every caller sees the one winner");
}
