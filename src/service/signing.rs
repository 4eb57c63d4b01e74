//! Key setup: the ring that signs and verifies access tokens, kept in step with the store.
//!
//! Keys live in the store, sealed under the master key ([`crate::keys`]). Rotation stores a new
//! key that every instance picks up on its next sync; a retired key keeps verifying until the
//! last token it signed has expired, then leaves the ring, the JWKS and the store. A host may
//! instead supply the ring itself; then the store's keys are not used.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::secs;
use crate::config::AuthConfig;
use crate::error::{ConfigError, Error};
use crate::keys::{self, Sealer};
use crate::store::{Store, StoredKey};
use crate::token::{KeyAlgorithm, KeyRing};

use super::AuthService;

/// The signing side of a service.
pub(super) struct Signing {
    /// Read without a lock on every verification; replaced whole when the keys change.
    ring: ArcSwap<KeyRing>,
    sealer: Sealer,
    algorithm: KeyAlgorithm,
    /// How long a retired key keeps verifying after its successor was stored.
    retire_after: i64,
    /// What the ring was last built from; `None` when the host supplied the ring.
    sync: tokio::sync::Mutex<Option<KeySync>>,
}

/// The stored keys the current ring was built from, and when it must be rebuilt regardless.
struct KeySync {
    loaded: Vec<StoredKey>,
    next_expiry: Option<i64>,
}

impl Signing {
    /// The host's ring, or the store's keys (creating the first one if there is none).
    pub(super) async fn load(
        store: &dyn Store,
        sealer: Sealer,
        algorithm: KeyAlgorithm,
        host_ring: Option<KeyRing>,
        now: i64,
        config: &AuthConfig,
    ) -> Result<Self, Error> {
        let retire_after = retire_after(config);
        let (ring, sync) = match host_ring {
            Some(ring) => (ring, None),
            None => {
                let stored = keys::signing_keys(store, &sealer, algorithm, now).await?;
                let loaded = keys::load_ring(store, &sealer, &stored, now, retire_after).await?;
                let sync = KeySync {
                    loaded: stored,
                    next_expiry: loaded.next_expiry,
                };
                (loaded.ring, Some(sync))
            }
        };
        Ok(Self {
            ring: ArcSwap::from_pointee(ring),
            sealer,
            algorithm,
            retire_after,
            sync: tokio::sync::Mutex::new(sync),
        })
    }

    pub(super) fn ring(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// The current ring, for one verification: a lock-free load, no reference count touched.
    pub(super) fn current(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.ring.load()
    }

    fn replace(&self, ring: KeyRing) {
        self.ring.store(Arc::new(ring));
    }
}

/// How long a retired signing key keeps verifying after its successor was stored: the last
/// token it signed (an instance may sign with it until its next poll) lives the access-token
/// lifetime, plus the clock leeway.
fn retire_after(config: &AuthConfig) -> i64 {
    secs(config.access_ttl)
        .saturating_add(secs(config.leeway))
        .saturating_add(secs(config.revocation_poll).max(1))
}

impl AuthService {
    /// The current key ring.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.inner.signing.ring()
    }

    /// Replaces the key ring with one the host manages: tokens signed by keys still in the new
    /// ring keep verifying. From then on the ring is the host's; the service stops loading keys
    /// from the store. Hosts that keep keys in the store rotate with
    /// [`rotate_signing_key`](Self::rotate_signing_key); hosts with their own ring pass it to
    /// [`AuthServiceBuilder::key_ring`](super::AuthServiceBuilder::key_ring).
    #[doc(hidden)]
    pub async fn set_key_ring(&self, ring: KeyRing) {
        let signing = &self.inner.signing;
        let mut sync = signing.sync.lock().await;
        *sync = None;
        signing.replace(ring);
    }

    /// Stores a new signing key (the configured algorithm; its `kid` is the RFC 7638 thumbprint,
    /// sealed under the master key) and signs with it from now on. Every instance sharing the
    /// store picks it up within one poll interval. The previous key keeps verifying until the last
    /// token it signed has expired (access-token lifetime plus leeway), then leaves the ring, the
    /// JWKS and the store. Returns the new `kid`.
    ///
    /// [`ConfigError::HostKeyRing`] when the host supplied the key ring
    /// ([`AuthServiceBuilder::key_ring`](super::AuthServiceBuilder::key_ring)).
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn rotate_signing_key(&self) -> Result<String, Error> {
        let signing = &self.inner.signing;
        let mut sync = signing.sync.lock().await;
        if sync.is_none() {
            return Err(Error::Config(ConfigError::HostKeyRing));
        }
        let key = keys::new_signing_key(&signing.sealer, signing.algorithm, self.now())?;
        let kid = key.kid.clone();
        let stored = self.inner.store.insert_signing_key(key).await?;
        self.install_ring(&mut sync, stored).await?;
        tracing::info!(%kid, "signing key rotated");
        Ok(kid)
    }

    /// Rebuilds the ring from the stored keys if they changed or a retired key's window closed.
    pub(super) async fn sync_signing_keys(&self) -> Result<(), Error> {
        let mut sync = self.inner.signing.sync.lock().await;
        let Some(current) = sync.as_ref() else {
            return Ok(());
        };
        let stored = self.inner.store.signing_keys().await?;
        let due = current.next_expiry.is_some_and(|t| t <= self.now());
        if stored != current.loaded || due {
            self.install_ring(&mut sync, stored).await?;
        }
        Ok(())
    }

    async fn install_ring(
        &self,
        sync: &mut Option<KeySync>,
        stored: Vec<StoredKey>,
    ) -> Result<(), Error> {
        let signing = &self.inner.signing;
        let store = &*self.inner.store;
        let loaded = keys::load_ring(
            store,
            &signing.sealer,
            &stored,
            self.now(),
            signing.retire_after,
        )
        .await?;
        // Retired keys whose last token has expired: their private half has no use left.
        for kid in &loaded.expired {
            store.delete_signing_key(kid).await?;
        }
        signing.replace(loaded.ring);
        *sync = Some(KeySync {
            loaded: stored,
            next_expiry: loaded.next_expiry,
        });
        Ok(())
    }

    /// The JWKS document of the ring's public keys.
    pub fn jwks(&self) -> serde_json::Value {
        self.key_ring().jwks()
    }
}
