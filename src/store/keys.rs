//! Signing keys and server secrets as the store keeps them: always sealed.

use async_trait::async_trait;

use super::StoreResult;
use crate::token::KeyAlgorithm;

/// A signing key as persisted. `material` is the key sealed under the host's master key (see
/// [`MasterKey`](crate::MasterKey)): the store never holds usable key material.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// The sealed HS256 secret or Ed25519 seed.
    pub material: Vec<u8>,
    /// When it was added.
    pub created_at: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Signing keys and server secrets shared by every instance using the store. Every `material`
/// arrives sealed (AEAD under the host's master key, bound to its `kid` or name); a store keeps
/// the bytes as given.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Inserts `key` unless a key with its `kid` exists; returns every key, oldest first
    /// (insertion order: the last one is the active signer).
    async fn insert_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>>;
    /// Inserts `key` only if the store holds **no** signing key at all, atomically (two instances
    /// starting at once on an empty store agree on one key); returns every key, oldest first.
    async fn insert_first_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>>;
    /// Every key, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// **Compare-and-set** of a key's material: replaces it with `material` only if it is still
    /// `expected` (re-sealing a row under the first master key). `false` if it changed or is gone.
    async fn reseal_signing_key(
        &self,
        kid: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool>;
    /// Deletes a key (a retired key whose last token has expired). `false` if unknown.
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool>;
    /// Inserts the server secret `name` unless it exists; returns the stored material (the one
    /// inserted, or the one that was there), so every instance ends up with the same secret.
    async fn insert_secret(&self, name: &str, material: &[u8], now: i64) -> StoreResult<Vec<u8>>;
    /// **Compare-and-set** of a server secret's material, as
    /// [`reseal_signing_key`](Self::reseal_signing_key).
    async fn reseal_secret(
        &self,
        name: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool>;
}
