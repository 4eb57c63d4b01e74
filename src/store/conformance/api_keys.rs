//! API keys: creation, lookup by hash and by id, listing by organization, revocation and use.

use crate::rbac::seed;
use std::sync::Arc;

use super::{T0, hash, new_key, user};
use crate::api_key::Environment;
use crate::error::StoreError;

use crate::store::Store;

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
    assert!(store.revoke_api_key(c.id, T0 + 5).await.unwrap());
    assert!(!store.revoke_api_key(c.id, T0 + 6).await.unwrap());
    assert!(!store.revoke_api_key(d.id + 1000, T0 + 6).await.unwrap());
    let c = store.api_key_by_hash(&c.hash).await.unwrap().unwrap();
    assert_eq!(c.revoked_at, Some(T0 + 5));

    // Touch.
    store.touch_api_key(a.id, T0 + 9).await.unwrap();
    store.touch_api_key(d.id + 1000, T0 + 9).await.unwrap();
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
