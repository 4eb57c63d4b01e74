//! [`KeyRing`]: keys by `kid`, one signer; signing (verification is in `verify.rs`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{AccessClaims, JwtKey};
use crate::error::{ConfigError, Error, InternalError, InternalKind};
use crate::secret::AccessToken;

/// Keys by `kid`: one active signer, older keys still verifying.
///
/// The service keeps its own ring in the store (sealed under the master key) and rotates it;
/// give it one with [`AuthServiceBuilder::key_ring`](crate::AuthServiceBuilder::key_ring) to
/// bring your own keys, or use a ring alone to verify tokens another service signed.
///
/// ```
/// use assimetria_auth::token::{JwtKey, KeyRing};
///
/// let mut ring = KeyRing::new(JwtKey::generate_ed25519("2026-11")?)?;
/// ring.rotate(JwtKey::generate_ed25519("2026-12")?)?; // signs from now on
/// assert_eq!(ring.active().kid(), "2026-12");
/// assert!(ring.get("2026-11").is_some(), "the old key still verifies");
/// assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);
/// # Ok::<(), assimetria_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<JwtKey>,
    active: usize,
    /// Names this set of keys: a new one on every change, so a verification remembered under
    /// one ring is never taken for one under another.
    generation: u64,
}

/// Generations of key rings, process-wide.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl KeyRing {
    /// A ring whose only key, `active`, signs.
    pub fn new(active: JwtKey) -> Result<Self, Error> {
        if !active.can_sign() {
            return Err(Error::Config(ConfigError::ActiveKeyCannotSign));
        }
        Ok(Self {
            keys: vec![active],
            active: 0,
            generation: next_generation(),
        })
    }

    /// Adds a key that verifies but does not sign (an older key, or another service's public key).
    pub fn add(&mut self, key: JwtKey) -> Result<(), Error> {
        if self.get(key.kid()).is_some() {
            return Err(Error::Config(ConfigError::DuplicateKid));
        }
        self.keys.push(key);
        self.generation = next_generation();
        Ok(())
    }

    /// Makes `key` the signer; the previous signer keeps verifying.
    pub fn rotate(&mut self, key: JwtKey) -> Result<(), Error> {
        if !key.can_sign() {
            return Err(Error::Config(ConfigError::ActiveKeyCannotSign));
        }
        self.add(key)?;
        self.active = self.keys.len() - 1;
        Ok(())
    }

    /// Removes a key: tokens it signed stop verifying. The active key cannot be removed.
    pub fn remove(&mut self, kid: &str) -> Result<bool, Error> {
        let Some(i) = self.keys.iter().position(|k| k.kid == kid) else {
            return Ok(false);
        };
        if i == self.active {
            return Err(Error::Config(ConfigError::RemoveActiveKey));
        }
        self.keys.remove(i);
        if i < self.active {
            self.active -= 1;
        }
        self.generation = next_generation();
        Ok(true)
    }

    /// Which set of keys this is: changes whenever a key is added, rotated in or removed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The signing key.
    pub fn active(&self) -> &JwtKey {
        &self.keys[self.active]
    }

    /// Every key, signer included.
    pub fn keys(&self) -> &[JwtKey] {
        &self.keys
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&JwtKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public keys as a JWKS document (`{"keys": [...]}`); HS256 secrets are never included.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .filter_map(|k| {
                k.ed25519_public_bytes().map(|x| {
                    serde_json::json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "alg": "EdDSA",
                        "use": "sig",
                        "kid": k.kid,
                        "x": URL_SAFE_NO_PAD.encode(x),
                    })
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Whether any key has a public half to publish.
    pub fn has_public_keys(&self) -> bool {
        self.keys.iter().any(|k| k.ed25519_public_bytes().is_some())
    }

    /// Signs `claims` with the active key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<AccessToken, Error> {
        let key = self.active();
        let payload = serde_json::to_vec(claims)
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Crypto)))?;
        let mut token = String::with_capacity(key.header.len() + payload.len() * 2 + 96);
        token.push_str(&key.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(AccessToken::new(token))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active().kid)
            .field("keys", &self.keys)
            .finish()
    }
}
