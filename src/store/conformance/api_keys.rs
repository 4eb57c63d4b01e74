//! API keys: creation, lookup by hash and by id, the lookup with the creator's role, listing by
//! organization, revocation and use.

use crate::rbac::seed;
use std::sync::Arc;

use super::{T0, hash, logged, new_key, user};
use crate::api_key::Environment;
use crate::error::StoreError;

use crate::store::{ApiKeyWithCreator, Store, UserChange, api_key_change_entry};

/// Keys get increasing ids and read back exactly, by hash and by id; a taken hash is
/// [`StoreError::Conflict`]; a key is revoked once and stays listed; a use is recorded;
/// [`list_api_keys`](crate::store::ApiKeyStore::list_api_keys) lists one organization's keys
/// (`None`: those without one), by id.
pub async fn api_keys_lifecycle(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    let a = store
        .create_api_key(new_key("a", Some("acme"), uid))
        .await
        .unwrap();
    let mut b_new = new_key("b", None, uid);
    b_new.environment = Environment::Test;
    b_new.role = seed::ADMIN;
    let b = store.create_api_key(b_new).await.unwrap();
    let c = store
        .create_api_key(new_key("c", Some("acme"), uid))
        .await
        .unwrap();
    let d = store
        .create_api_key(new_key("d", Some("other"), uid))
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id && c.id < d.id);
    assert_eq!((a.last_used_at, a.revoked_at), (None, None));
    assert_eq!(
        (b.environment, b.role.clone(), b.org.as_deref()),
        (Environment::Test, seed::ADMIN, None)
    );

    assert_eq!(
        store.api_key_by_hash(&a.hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.api_key_by_id(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.api_key_by_hash(&hash("nope")).await.unwrap(), None);
    assert_eq!(store.api_key_by_id(d.id + 1000).await.unwrap(), None);

    // Duplicate hash: conflict, nothing added.
    let err = store
        .create_api_key(new_key("a", Some("acme"), uid))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "got {err:?}");

    // Revoke: once; revoked keys stay listed and findable.
    assert!(store.revoke_api_key(c.id, T0 + 5, T0 + 100).await.unwrap());
    assert!(!store.revoke_api_key(c.id, T0 + 6, T0 + 100).await.unwrap());
    assert!(
        !store
            .revoke_api_key(d.id + 1000, T0 + 6, T0 + 100)
            .await
            .unwrap()
    );
    let c = store.api_key_by_hash(&c.hash).await.unwrap().unwrap();
    assert_eq!(c.revoked_at, Some(T0 + 5));
    // The revocation logged its key, once, for the other instances' caches.
    let log = logged(&store, T0).await;
    assert_eq!(
        log,
        vec![(api_key_change_entry(c.id), T0 + 100)],
        "revoke_api_key: the key's entry in the revocation log, with the revocation"
    );

    // Touch.
    store.touch_api_keys(&[(a.id, T0 + 9)]).await.unwrap();
    let a = store.api_key_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(a.last_used_at, Some(T0 + 9));

    assert_eq!(store.list_api_keys(Some("acme")).await.unwrap(), vec![a, c]);
    assert_eq!(store.list_api_keys(None).await.unwrap(), vec![b]);
    assert_eq!(store.list_api_keys(Some("other")).await.unwrap(), vec![d]);
    assert!(
        store
            .list_api_keys(Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// [`api_key_with_creator`](crate::store::ApiKeyStore::api_key_with_creator) reads a key with
/// its creator's role as it is now: a role change shows at once, each key carries its own
/// creator's role, a revoked key is still returned (with its `revoked_at`), an unknown hash is
/// `None`, and so is a key whose creator was deleted (the key went with them).
pub async fn api_key_with_creator_reads_the_current_role(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let a = store
        .create_api_key(new_key("a", Some("acme"), ada))
        .await
        .unwrap();
    let b = store
        .create_api_key(new_key("b", Some("acme"), bob))
        .await
        .unwrap();
    assert_eq!(
        store.api_key_with_creator(&a.hash).await.unwrap(),
        Some(ApiKeyWithCreator::new(a.clone(), Some(seed::MEMBER))),
        "api_key_with_creator: the key as stored, and its creator's role"
    );

    store
        .update_user_ending_sessions(ada, UserChange::Role(seed::ADMIN), T0 + 1, T0 + 9)
        .await
        .unwrap();
    assert_eq!(
        store.api_key_with_creator(&a.hash).await.unwrap(),
        Some(ApiKeyWithCreator::new(a.clone(), Some(seed::ADMIN))),
        "api_key_with_creator: the creator's role as it is now, not as it was"
    );
    assert_eq!(
        store.api_key_with_creator(&b.hash).await.unwrap(),
        Some(ApiKeyWithCreator::new(b.clone(), Some(seed::MEMBER))),
        "api_key_with_creator: each key carries its own creator's role"
    );

    assert!(store.revoke_api_key(a.id, T0 + 5, T0 + 9).await.unwrap());
    let revoked = store.api_key_with_creator(&a.hash).await.unwrap();
    let revoked = revoked.expect("api_key_with_creator: a revoked key is still returned");
    assert_eq!(
        (revoked.key.revoked_at, revoked.creator_role),
        (Some(T0 + 5), Some(seed::ADMIN)),
        "api_key_with_creator: a revoked key comes with its revoked_at"
    );
    assert_eq!(
        revoked.key,
        store.api_key_by_hash(&a.hash).await.unwrap().unwrap(),
        "api_key_with_creator: the same record api_key_by_hash reads"
    );

    assert_eq!(
        store.api_key_with_creator(&hash("nope")).await.unwrap(),
        None,
        "api_key_with_creator: an unknown hash is None"
    );

    store
        .delete_user_ending_sessions(ada, T0 + 6, T0 + 9)
        .await
        .unwrap()
        .expect("the creator exists");
    assert_eq!(
        store.api_key_with_creator(&a.hash).await.unwrap(),
        None,
        "api_key_with_creator: once the creator is deleted, so is the key"
    );
    assert_eq!(
        store.api_key_with_creator(&b.hash).await.unwrap(),
        Some(ApiKeyWithCreator::new(b, Some(seed::MEMBER))),
        "api_key_with_creator: another creator's key is untouched"
    );
}

/// [`touch_api_keys`](crate::store::ApiKeyStore::touch_api_keys) records a batch of uses: each
/// key of the batch gets its time, a key outside it is left alone, an id given twice keeps its
/// later time, an older time never moves `last_used_at` back, unknown ids are skipped without
/// error, and an empty batch changes nothing.
pub async fn touch_api_keys_in_a_batch(store: Arc<dyn Store>) {
    let uid = user(&store, "ada@example.com").await;
    let mut keys = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let key = store.create_api_key(new_key(name, Some("acme"), uid));
        keys.push(key.await.unwrap().id);
    }
    let [a, b, c, d] = keys[..] else {
        unreachable!()
    };
    let last_used = |store: Arc<dyn Store>| async move {
        let mut seen = Vec::new();
        for id in [a, b, c, d] {
            let key = store.api_key_by_id(id).await.unwrap().expect("the key");
            seen.push(key.last_used_at);
        }
        seen
    };

    store
        .touch_api_keys(&[(a, T0 + 10), (c, T0 + 30), (b, T0 + 20), (c, T0 + 25)])
        .await
        .unwrap();
    assert_eq!(
        last_used(Arc::clone(&store)).await,
        [Some(T0 + 10), Some(T0 + 20), Some(T0 + 30), None],
        "touch_api_keys: each key of the batch gets its (latest) time; d is untouched"
    );

    store
        .touch_api_keys(&[(a, T0 + 5), (b, T0 + 21), (d, T0 + 1)])
        .await
        .unwrap();
    assert_eq!(
        last_used(Arc::clone(&store)).await,
        [Some(T0 + 10), Some(T0 + 21), Some(T0 + 30), Some(T0 + 1)],
        "touch_api_keys: an older time never moves last_used_at back"
    );

    store
        .touch_api_keys(&[(d + 1000, T0 + 50), (c, T0 + 40), (-1, T0 + 50)])
        .await
        .expect("touch_api_keys: unknown ids are skipped without error");
    store
        .touch_api_keys(&[])
        .await
        .expect("touch_api_keys: an empty batch");
    assert_eq!(
        last_used(Arc::clone(&store)).await,
        [Some(T0 + 10), Some(T0 + 21), Some(T0 + 40), Some(T0 + 1)],
        "touch_api_keys: the known ids of a batch with unknown ones are still written"
    );
    assert!(
        store.api_key_by_id(d + 1000).await.unwrap().is_none(),
        "touch_api_keys: an unknown id creates nothing"
    );
}
