//! [`JwtKey`] and [`KeyAlgorithm`]: one signing or verification key, its material never shown.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, EncodingKey};
use sha2::{Digest as _, Sha256};

use super::ACCESS_TOKEN_TYP;
use crate::error::{ConfigError, Error, InternalError, InternalKind};
use crate::secret::random_bytes;

/// A signing algorithm the key ring supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// HMAC-SHA-256 with a shared secret of at least 32 bytes.
    Hs256,
    /// Ed25519 signatures; the public key can be published as a JWKS.
    EdDsa,
}

impl KeyAlgorithm {
    /// The JOSE name: `HS256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Hs256 => "HS256",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// Parses the JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(KeyAlgorithm::Hs256),
            "EdDSA" => Some(KeyAlgorithm::EdDsa),
            _ => None,
        }
    }
}

/// A signing or verification key with its `kid`. `Debug` never shows key material.
#[derive(Clone)]
pub struct JwtKey {
    pub(super) kid: String,
    pub(super) kind: KeyKind,
    /// The header segment this key's tokens carry, base64url-encoded as [`KeyRing::sign`]
    /// writes it: a token whose first segment equals it needs no header parsing.
    ///
    /// [`KeyRing::sign`]: super::KeyRing::sign
    pub(super) header: Box<str>,
}

#[derive(Clone)]
pub(super) enum KeyKind {
    Hs256 {
        secret: Vec<u8>,
        mac: Hmac<Sha256>,
        encoding: EncodingKey,
    },
    Ed25519 {
        seed: Option<[u8; 32]>,
        verifying: ed25519_dalek::VerifyingKey,
        encoding: Option<EncodingKey>,
    },
}

fn check_kid(kid: &str) -> Result<(), Error> {
    if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        return Err(Error::Config(ConfigError::InvalidKid));
    }
    Ok(())
}

impl JwtKey {
    /// The key with its precomputed header segment.
    fn assemble(kid: String, kind: KeyKind) -> Self {
        let alg = match kind {
            KeyKind::Hs256 { .. } => KeyAlgorithm::Hs256,
            KeyKind::Ed25519 { .. } => KeyAlgorithm::EdDsa,
        };
        // The members in the order serde_json writes a map (sorted), as tokens always had them.
        let header = serde_json::json!({
            "alg": alg.as_str(),
            "kid": kid,
            "typ": ACCESS_TOKEN_TYP,
        });
        let header = URL_SAFE_NO_PAD.encode(header.to_string()).into_boxed_str();
        Self { kid, kind, header }
    }

    /// An HS256 key. Secrets shorter than 32 bytes are refused.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, Error> {
        let kid = kid.into();
        check_kid(&kid)?;
        if secret.len() < 32 {
            return Err(Error::Config(ConfigError::WeakHs256Secret));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| Error::Config(ConfigError::WeakHs256Secret))?;
        let encoding = EncodingKey::from_secret(secret)
            .map_err(|e| Error::internal(InternalKind::Crypto, e))?;
        Ok(Self::assemble(
            kid,
            KeyKind::Hs256 {
                secret: secret.to_vec(),
                mac,
                encoding,
            },
        ))
    }

    /// A new HS256 key with a random 256-bit secret.
    pub fn generate_hs256(kid: impl Into<String>) -> Result<Self, Error> {
        Self::hs256(kid, &random_bytes::<32>()?)
    }

    /// An Ed25519 signing key from its 32-byte seed.
    pub fn ed25519_from_seed(kid: impl Into<String>, seed: [u8; 32]) -> Result<Self, Error> {
        let kid = kid.into();
        check_kid(&kid)?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|_| Error::Config(ConfigError::InvalidEd25519Key))?;
        Ok(Self::assemble(
            kid,
            KeyKind::Ed25519 {
                seed: Some(seed),
                verifying: signing.verifying_key(),
                encoding: Some(EncodingKey::from_ed_der(der.as_bytes())),
            },
        ))
    }

    /// A new Ed25519 signing key.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, Error> {
        Self::ed25519_from_seed(kid, random_bytes::<32>()?)
    }

    /// An Ed25519 verification-only key from its 32-byte public key.
    pub fn ed25519_public(kid: impl Into<String>, public: [u8; 32]) -> Result<Self, Error> {
        let kid = kid.into();
        check_kid(&kid)?;
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| Error::Config(ConfigError::InvalidEd25519Key))?;
        // Checked once here rather than on every verification: a small-order key would accept
        // forged signatures.
        if verifying.is_weak() {
            return Err(Error::Config(ConfigError::WeakEd25519Key));
        }
        Ok(Self::assemble(
            kid,
            KeyKind::Ed25519 {
                seed: None,
                verifying,
                encoding: None,
            },
        ))
    }

    /// Rebuilds a key from [`material`](Self::material) (as persisted by a store).
    pub fn from_material(
        kid: impl Into<String>,
        alg: KeyAlgorithm,
        material: &[u8],
    ) -> Result<Self, Error> {
        match alg {
            KeyAlgorithm::Hs256 => Self::hs256(kid, material),
            KeyAlgorithm::EdDsa => {
                let seed: [u8; 32] = material
                    .try_into()
                    .map_err(|_| Error::Config(ConfigError::InvalidEd25519Key))?;
                Self::ed25519_from_seed(kid, seed)
            }
        }
    }

    /// The private material to persist (HS256 secret or Ed25519 seed); `None` for a
    /// verification-only key. Secret: store it like a password database.
    pub fn material(&self) -> Option<Vec<u8>> {
        match &self.kind {
            KeyKind::Hs256 { secret, .. } => Some(secret.clone()),
            KeyKind::Ed25519 { seed, .. } => seed.map(|s| s.to_vec()),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.kind {
            KeyKind::Hs256 { .. } => KeyAlgorithm::Hs256,
            KeyKind::Ed25519 { .. } => KeyAlgorithm::EdDsa,
        }
    }

    /// The Ed25519 public key, for JWKS and for verifying services.
    pub fn ed25519_public_bytes(&self) -> Option<[u8; 32]> {
        match &self.kind {
            KeyKind::Ed25519 { verifying, .. } => Some(verifying.to_bytes()),
            KeyKind::Hs256 { .. } => None,
        }
    }

    /// The length of this key's signature segment (base64url, unpadded): 43 characters for
    /// HS256's 32 bytes, 86 for Ed25519's 64.
    pub(super) fn signature_segment_len(&self) -> usize {
        match self.kind {
            KeyKind::Hs256 { .. } => 43,
            KeyKind::Ed25519 { .. } => 86,
        }
    }

    /// Whether this key can sign (it holds private material).
    pub fn can_sign(&self) -> bool {
        match &self.kind {
            KeyKind::Hs256 { .. } => true,
            KeyKind::Ed25519 { encoding, .. } => encoding.is_some(),
        }
    }

    pub(super) fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let (alg, key) = match &self.kind {
            KeyKind::Hs256 { encoding, .. } => (Algorithm::HS256, encoding),
            KeyKind::Ed25519 {
                encoding: Some(encoding),
                ..
            } => (Algorithm::EdDSA, encoding),
            KeyKind::Ed25519 { encoding: None, .. } => {
                return Err(Error::Config(ConfigError::ActiveKeyCannotSign));
            }
        };
        let signer = (DEFAULT_PROVIDER.signer_factory)(&alg, key)
            .map_err(|e| Error::internal(InternalKind::Crypto, e))?;
        signer
            .try_sign(message)
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Crypto)))
    }

    pub(super) fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.kind {
            KeyKind::Hs256 { mac, .. } => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
            KeyKind::Ed25519 { verifying, .. } => {
                match ed25519_dalek::Signature::from_slice(signature) {
                    Ok(sig) => ed25519_dalek::Verifier::verify(verifying, message, &sig).is_ok(),
                    Err(_) => false,
                }
            }
        }
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm().as_str())
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the `kid` of the
/// keys the service generates, so a key's name is derived from the key itself.
pub fn ed25519_thumbprint(public: &[u8; 32]) -> String {
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let json = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))
}

/// The RFC 7638 thumbprint of a symmetric (`oct`) key. It is a SHA-256 of the secret, which is
/// safe to publish only because generated secrets carry 256 random bits.
pub(crate) fn oct_thumbprint(secret: &[u8]) -> String {
    let json = format!(
        r#"{{"k":"{}","kty":"oct"}}"#,
        URL_SAFE_NO_PAD.encode(secret)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))
}
