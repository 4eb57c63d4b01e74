//! Key material at rest: sealed under the host's master keys.
//!
//! A store holds the service's signing keys (Ed25519 seeds, HS256 secrets) and its server secrets
//! (the refresh-successor derivation key). Whoever reads those rows in plain form could mint an
//! access token for any user and role. So the service **seals** every such value before it
//! reaches the store, with XChaCha20-Poly1305 (an AEAD) under a [`MasterKey`] the host supplies
//! ([`AuthConfig::master_keys`](crate::AuthConfig::master_keys)), and opens it only in memory:
//!
//! * **Several master keys, one sealing**: the first key seals, every key opens. To rotate the
//!   master key, put the new one first and keep the old one after it; at start-up the service
//!   re-seals every row under the first key (compare-and-set, so concurrent instances agree), after
//!   which the old key can be dropped.
//! * **Bound to its row**: the associated data names the purpose and the row's `kid` (or the
//!   secret's name) and algorithm, so a sealed value copied into another row does not open.
//! * **Upgrading**: rows written before sealing existed are recognised (they lack the sealed
//!   header) and sealed at the first start that has a master key.
//! * **No master key configured**: the service seals under a random per-process key and logs a
//!   warning. That suits [`MemoryStore`](crate::store::memory::MemoryStore) and tests; a
//!   persistent store written that way cannot be opened by a restart or another instance (the
//!   service then refuses to start with [`Error::Config`], never silently replacing keys).
//!
//! Sealed layout: `"AASEAL01"` ‖ master-key id (8 bytes) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag.
//! The master-key id is the first 8 bytes of a SHA-256 of the key: it tells which key opens a
//! row, and says nothing about the key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{ConfigError, Error, InternalError, InternalKind};
use crate::secret::random_bytes;
use crate::store::{Store, StoredKey};
use crate::token::{JwtKey, KeyAlgorithm, KeyRing, ed25519_thumbprint, oct_thumbprint};

/// The header that marks a sealed value.
const MAGIC: &[u8; 8] = b"AASEAL01";
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + ID_LEN + NONCE_LEN;

/// A 256-bit key-encryption key the host keeps outside the store (an environment variable, a
/// secrets manager, a file readable only by the service). `Debug` shows only its id.
///
/// A store holds the service's signing keys (Ed25519 seeds, HS256 secrets) and its server secrets
/// (the refresh-successor derivation key). Whoever reads those rows in plain form could mint an
/// access token for any user and role. So the service **seals** every such value before it
/// reaches the store, with XChaCha20-Poly1305 (an AEAD) under a master key the host supplies
/// ([`AuthConfig::master_keys`](crate::AuthConfig::master_keys)), and opens it only in memory:
///
/// * **Several master keys, one sealing**: the first key seals, every key opens. To rotate the
///   master key, put the new one first and keep the old one after it; at start-up the service
///   re-seals every row under the first key (compare-and-set, so concurrent instances agree), after
///   which the old key can be dropped.
/// * **Bound to its row**: the associated data names the purpose and the row's `kid` (or the
///   secret's name) and algorithm, so a sealed value copied into another row does not open.
/// * **Upgrading**: rows written before sealing existed are recognised (they lack the sealed
///   header) and sealed at the first start that has a master key.
/// * **No master key configured**: the service seals under a random per-process key and logs a
///   warning. That suits [`MemoryStore`](crate::store::memory::MemoryStore) and tests; a
///   persistent store written that way cannot be opened by a restart or another instance (the
///   service then refuses to start with [`Error::Config`], never silently replacing keys).
///
/// Sealed layout: `"AASEAL01"` ‖ master-key id (8 bytes) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag.
/// The master-key id is the first 8 bytes of a SHA-256 of the key: it tells which key opens a
/// row, and says nothing about the key.
#[derive(Clone)]
pub struct MasterKey {
    id: [u8; ID_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"assimetria-auth master key id\0");
        digest.update(bytes);
        let digest = digest.finalize();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Self {
            id,
            key: Zeroizing::new(bytes),
        }
    }

    /// A new random master key.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self::from_bytes(random_bytes::<32>()?))
    }

    /// A master key from base64 text (standard or URL-safe alphabet, padded or not) of exactly
    /// 32 bytes; surrounding whitespace is ignored. [`Error::Config`] otherwise.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or(Error::Config(ConfigError::MasterKeyEncoding))?;
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| Error::Config(ConfigError::MasterKeyLength))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as standard base64, to hand to whatever keeps it (it is the secret itself).
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(*self.key)
    }

    /// The key's id, 16 hex digits: safe to log, and the same in every process given the key.
    pub fn id(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key).into())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={})", self.id())
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for MasterKey {}

/// What a sealed value belongs to: bound into its associated data.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SealedRow<'a> {
    /// A signing key: its `kid` and algorithm name.
    SigningKey {
        /// The key id.
        kid: &'a str,
        /// `HS256` or `EdDSA`.
        algorithm: &'a str,
    },
    /// A server secret, by name.
    Secret(&'a str),
}

impl SealedRow<'_> {
    fn associated_data(self) -> Vec<u8> {
        let mut aad = b"assimetria-auth sealed v1\0".to_vec();
        match self {
            SealedRow::SigningKey { kid, algorithm } => {
                aad.extend_from_slice(b"signing-key\0");
                aad.extend_from_slice(algorithm.as_bytes());
                aad.push(0);
                aad.extend_from_slice(kid.as_bytes());
            }
            SealedRow::Secret(name) => {
                aad.extend_from_slice(b"secret\0");
                aad.extend_from_slice(name.as_bytes());
            }
        }
        aad
    }
}

/// A value read back from the store and opened.
pub(crate) struct Opened {
    /// The plaintext.
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    /// The row is not sealed under the first master key (an older master key, or a plain row
    /// from before sealing existed): the caller re-seals it.
    pub(crate) needs_reseal: bool,
}

/// Seals and opens stored key material under the configured master keys.
pub(crate) struct Sealer {
    keys: Vec<MasterKey>,
    ephemeral: bool,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl Sealer {
    /// Seals under `keys[0]` and opens under any; with no keys, under one random key of this
    /// process only (see the module documentation).
    pub(crate) fn new(keys: &[MasterKey]) -> Result<Self, Error> {
        if keys.is_empty() {
            return Ok(Self {
                keys: vec![MasterKey::generate()?],
                ephemeral: true,
            });
        }
        Ok(Self {
            keys: keys.to_vec(),
            ephemeral: false,
        })
    }

    /// Whether the master key is a random one of this process (none was configured).
    pub(crate) fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Seals `plaintext` for `row` under the first master key.
    pub(crate) fn seal(&self, row: SealedRow<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let key = &self.keys[0];
        let nonce = random_bytes::<NONCE_LEN>()?;
        let aad = row.associated_data();
        let ciphertext = key
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Crypto)))?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a stored value of `row`. A plain value from before sealing existed opens as itself,
    /// marked for re-sealing — unless only the per-process key exists, which must not seal a
    /// persistent row for good (the next start could not open it).
    pub(crate) fn open(&self, row: SealedRow<'_>, stored: &[u8]) -> Result<Opened, Error> {
        if !is_sealed(stored) {
            if self.ephemeral {
                return Err(Error::Config(ConfigError::UnsealedKeyMaterial));
            }
            return Ok(Opened {
                plaintext: Zeroizing::new(stored.to_vec()),
                needs_reseal: true,
            });
        }
        let id = &stored[MAGIC.len()..MAGIC.len() + ID_LEN];
        let (index, key) = self
            .keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.id == id)
            .ok_or(if self.ephemeral {
                Error::Config(ConfigError::MissingMasterKey)
            } else {
                Error::Config(ConfigError::UnknownMasterKey)
            })?;
        let nonce: [u8; NONCE_LEN] = stored[MAGIC.len() + ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| Error::Config(ConfigError::TruncatedSealedKey))?;
        let aad = row.associated_data();
        let plaintext = key
            .cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &stored[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Config(ConfigError::TamperedSealedKey))?;
        Ok(Opened {
            plaintext: Zeroizing::new(plaintext),
            needs_reseal: index != 0,
        })
    }
}

/// Whether `stored` carries the sealed header (and room for a tag).
pub(crate) fn is_sealed(stored: &[u8]) -> bool {
    stored.len() >= HEADER_LEN + TAG_LEN && stored.starts_with(MAGIC)
}

/// The name of the refresh-successor derivation secret in the store's secret slot.
pub(crate) const REFRESH_DERIVATION: &str = "refresh-derivation";

/// The refresh-successor derivation secret: read from the store, or created there (once for
/// every instance: the store keeps the first insert). Sealed at rest; re-sealed under the first
/// master key when it was not.
pub(crate) async fn refresh_secret(
    store: &dyn Store,
    sealer: &Sealer,
    now: i64,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let row = SealedRow::Secret(REFRESH_DERIVATION);
    let fresh = Zeroizing::new(random_bytes::<32>()?);
    let candidate = sealer.seal(row, fresh.as_slice())?;
    let stored = store
        .insert_secret(REFRESH_DERIVATION, &candidate, now)
        .await?;
    let opened = sealer.open(row, &stored)?;
    if opened.needs_reseal {
        // Compare-and-set: `false` means another instance re-sealed it first, which is as good.
        let resealed = sealer.seal(row, &opened.plaintext)?;
        store
            .reseal_secret(REFRESH_DERIVATION, &stored, &resealed)
            .await?;
    }
    Ok(opened.plaintext)
}

/// A new signing key of `algorithm`, named by its RFC 7638 thumbprint, sealed for the store.
pub(crate) fn new_signing_key(
    sealer: &Sealer,
    algorithm: KeyAlgorithm,
    now: i64,
) -> Result<StoredKey, Error> {
    let secret = Zeroizing::new(random_bytes::<32>()?);
    let key = match algorithm {
        KeyAlgorithm::EdDsa => {
            let public = ed25519_dalek::SigningKey::from_bytes(&secret)
                .verifying_key()
                .to_bytes();
            JwtKey::ed25519_from_seed(ed25519_thumbprint(&public), *secret)?
        }
        KeyAlgorithm::Hs256 => JwtKey::hs256(oct_thumbprint(secret.as_slice()), secret.as_slice())?,
    };
    let row = SealedRow::SigningKey {
        kid: key.kid(),
        algorithm: algorithm.as_str(),
    };
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        algorithm,
        material: sealer.seal(row, secret.as_slice())?,
        created_at: now,
    })
}

/// The signing keys as stored, after creating the first one if there is none (atomically: two
/// instances starting at once on an empty store end up with the same single key).
pub(crate) async fn signing_keys(
    store: &dyn Store,
    sealer: &Sealer,
    algorithm: KeyAlgorithm,
    now: i64,
) -> Result<Vec<StoredKey>, Error> {
    let keys = store.signing_keys().await?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let first = new_signing_key(sealer, algorithm, now)?;
    Ok(store.insert_first_signing_key(first).await?)
}

/// The key ring the stored keys make at `now`.
#[derive(Debug)]
pub(crate) struct LoadedRing {
    /// The newest key signs; retired keys still inside their window verify.
    pub(crate) ring: KeyRing,
    /// Retired keys whose window has closed: out of the ring and the JWKS, safe to delete.
    pub(crate) expired: Vec<String>,
    /// When the next retired key in the ring leaves it.
    pub(crate) next_expiry: Option<i64>,
}

/// Opens the stored keys (re-sealing, compare-and-set, any not sealed under the first master
/// key) and builds the ring at `now`. The newest key (the last stored) signs. An older key was
/// retired when the next one was stored; it keeps verifying for `retire_after` seconds more (the
/// last token it signed lives that long, the access-token lifetime plus leeway and one poll
/// interval), then leaves the ring.
pub(crate) async fn load_ring(
    store: &dyn Store,
    sealer: &Sealer,
    stored: &[StoredKey],
    now: i64,
    retire_after: i64,
) -> Result<LoadedRing, Error> {
    let (active, older) = stored
        .split_last()
        .ok_or(Error::Config(ConfigError::NoSigningKey))?;
    let mut ring = KeyRing::new(open_key(store, sealer, active).await?)?;
    let mut expired = Vec::new();
    let mut next_expiry: Option<i64> = None;
    for (key, successor) in older.iter().zip(&stored[1..]) {
        let until = successor.created_at.saturating_add(retire_after);
        if until <= now {
            expired.push(key.kid.clone());
            continue;
        }
        ring.add(open_key(store, sealer, key).await?)?;
        next_expiry = Some(next_expiry.map_or(until, |t| t.min(until)));
    }
    Ok(LoadedRing {
        ring,
        expired,
        next_expiry,
    })
}

async fn open_key(store: &dyn Store, sealer: &Sealer, key: &StoredKey) -> Result<JwtKey, Error> {
    let row = SealedRow::SigningKey {
        kid: &key.kid,
        algorithm: key.algorithm.as_str(),
    };
    let opened = sealer.open(row, &key.material)?;
    if opened.needs_reseal {
        let resealed = sealer.seal(row, &opened.plaintext)?;
        store
            .reseal_signing_key(&key.kid, &key.material, &resealed)
            .await?;
    }
    JwtKey::from_material(key.kid.clone(), key.algorithm, &opened.plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: SealedRow<'static> = SealedRow::SigningKey {
        kid: "k1",
        algorithm: "EdDSA",
    };

    #[test]
    fn seal_open_round_trip_and_binding() {
        let sealer = Sealer::new(&[MasterKey::from_bytes([1; 32])]).unwrap();
        let sealed = sealer.seal(ROW, b"seed bytes").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(10).any(|w| w == b"seed bytes"));
        let opened = sealer.open(ROW, &sealed).unwrap();
        assert_eq!(opened.plaintext.as_slice(), b"seed bytes");
        assert!(!opened.needs_reseal);
        // Another row, another algorithm, another secret name: nothing opens.
        for other in [
            SealedRow::SigningKey {
                kid: "k2",
                algorithm: "EdDSA",
            },
            SealedRow::SigningKey {
                kid: "k1",
                algorithm: "HS256",
            },
            SealedRow::Secret("k1"),
        ] {
            assert!(matches!(sealer.open(other, &sealed), Err(Error::Config(_))));
        }
        // A flipped bit anywhere past the header fails the tag.
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(ROW, &tampered).is_err());
    }

    #[test]
    fn the_first_key_seals_and_all_open() {
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        let sealed_old = Sealer::new(std::slice::from_ref(&old))
            .unwrap()
            .seal(ROW, b"x")
            .unwrap();
        let both = Sealer::new(&[new.clone(), old]).unwrap();
        let opened = both.open(ROW, &sealed_old).unwrap();
        assert!(opened.needs_reseal, "an old key's row is re-sealed");
        let resealed = both.seal(ROW, &opened.plaintext).unwrap();
        let only_new = Sealer::new(&[new]).unwrap();
        assert!(!only_new.open(ROW, &resealed).unwrap().needs_reseal);
        assert!(only_new.open(ROW, &sealed_old).is_err());
    }

    #[test]
    fn plain_rows_are_upgraded_only_with_a_configured_key() {
        let legacy = [7u8; 32];
        let sealer = Sealer::new(&[MasterKey::from_bytes([1; 32])]).unwrap();
        let opened = sealer.open(ROW, &legacy).unwrap();
        assert!(opened.needs_reseal);
        assert_eq!(opened.plaintext.as_slice(), &legacy);
        let ephemeral = Sealer::new(&[]).unwrap();
        assert!(ephemeral.is_ephemeral());
        assert!(matches!(
            ephemeral.open(ROW, &legacy),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn master_key_text_forms() {
        let key = MasterKey::generate().unwrap();
        let text = key.expose_base64();
        assert_eq!(MasterKey::from_base64(&text).unwrap(), key);
        assert_eq!(MasterKey::from_base64(&format!(" {text}\n")).unwrap(), key);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
        assert!(!format!("{key:?}").contains(&text));
        assert_eq!(key.id().len(), 16);
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            ed25519_thumbprint(&x.try_into().unwrap()),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
