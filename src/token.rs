//! Access tokens: typed claims, a key ring, and a verifier that pins the algorithm to the key.
//!
//! An access token is a compact JWS whose header carries `typ: "at+jwt"` (RFC 9068) and the `kid`
//! of the key that signed it. [`KeyRing`] holds several keys by `kid`: one active signer, and older
//! keys that keep verifying until removed, so keys rotate without logging anyone out.
//!
//! Verification ([`KeyRing::verify`]) never trusts the header's `alg`: the `kid` selects a key, the
//! key fixes the algorithm, and the header's `alg` must merely equal it. So `alg: none`, and
//! an HS256 token "signed" with an Ed25519 public key (algorithm confusion), never verify. Then
//! `typ`, `iss`, `aud`, `exp` and `nbf` are checked against the injected clock with a small leeway.
//!
//! Signing goes through `jsonwebtoken`'s RustCrypto provider, named explicitly rather than taken
//! from the process default, so the crate uses exactly one backend even when a host also enables
//! `jsonwebtoken/aws_lc_rs`. Verification keeps keyed state (an HMAC key schedule, a decompressed
//! Ed25519 point, checked once for small order when loaded) per key and parses the token once;
//! every Ed25519 verification requires a canonical `S`. `benches/hot_path.rs` measures it against
//! bare `jsonwebtoken::decode` of the same token.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{ConfigError, Error, InternalError, InternalKind, TokenError};
pub use crate::keys::ed25519_thumbprint;
use crate::rbac::Role;
use crate::secret::{AccessToken, random_bytes};

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Longest token accepted for parsing; anything longer is malformed without further work.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Numeric claims (`iat`, `nbf`, `exp`) must be below 2^53: exact in every JSON reader.
const MAX_NUMERIC_DATE: i64 = 1 << 53;

/// The claims of an access token. Reading them refuses any member not listed here: the verifier
/// checks what it reads strictly, and a member it would only skip is one it cannot vouch for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: String,
    /// The login session (refresh family) this token belongs to.
    pub sid: String,
    /// The user's role when the token was issued.
    pub role: Role,
    /// The user's organization, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

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
    kid: String,
    kind: KeyKind,
}

#[derive(Clone)]
enum KeyKind {
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
        Ok(Self {
            kid,
            kind: KeyKind::Hs256 {
                secret: secret.to_vec(),
                mac,
                encoding,
            },
        })
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
        Ok(Self {
            kid,
            kind: KeyKind::Ed25519 {
                seed: Some(seed),
                verifying: signing.verifying_key(),
                encoding: Some(EncodingKey::from_ed_der(der.as_bytes())),
            },
        })
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
        Ok(Self {
            kid,
            kind: KeyKind::Ed25519 {
                seed: None,
                verifying,
                encoding: None,
            },
        })
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

    /// Whether this key can sign (it holds private material).
    pub fn can_sign(&self) -> bool {
        match &self.kind {
            KeyKind::Hs256 { .. } => true,
            KeyKind::Ed25519 { encoding, .. } => encoding.is_some(),
        }
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
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

    fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
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

/// What a token must show besides a good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Tolerated clock skew on `exp` and `nbf`.
    pub leeway: Duration,
}

impl Validation {
    /// The validation an [`AuthConfig`](crate::AuthConfig) asks for.
    pub fn from_config(config: &crate::AuthConfig) -> Self {
        Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
        }
    }
}

/// Keys by `kid`: one active signer, older keys still verifying.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<JwtKey>,
    active: usize,
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
        })
    }

    /// Adds a key that verifies but does not sign (an older key, or another service's public key).
    pub fn add(&mut self, key: JwtKey) -> Result<(), Error> {
        if self.get(key.kid()).is_some() {
            return Err(Error::Config(ConfigError::DuplicateKid));
        }
        self.keys.push(key);
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
        Ok(true)
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
        let header = serde_json::json!({
            "alg": key.algorithm().as_str(),
            "typ": ACCESS_TOKEN_TYP,
            "kid": key.kid,
        });
        let header = serde_json::to_vec(&header)
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Crypto)))?;
        let payload = serde_json::to_vec(claims)
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Crypto)))?;
        let mut token = String::with_capacity(64 + header.len() * 2 + payload.len() * 2);
        URL_SAFE_NO_PAD.encode_string(header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(AccessToken::new(token))
    }

    /// Verifies an access token at time `now` (Unix seconds) and returns its claims.
    pub fn verify(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
    ) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header_b64, payload_b64) =
            signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if payload_b64.contains('.') {
            return Err(TokenError::Malformed);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed)?;
        let header: RawHeader<'_> = serde_json::from_slice(json_object(&header_json)?)
            .map_err(|_| TokenError::Malformed)?;
        // `crit` and `b64` (RFC 7797) change how a JWS must be read; this verifier implements
        // neither, so their mere presence (even `null`) refuses the token. Key-carrying
        // parameters have no business in a token this service minted.
        if header.crit || header.b64 {
            return Err(TokenError::UnsupportedCritical);
        }
        if header.jku || header.jwk || header.x5u || header.x5c || header.x5t || header.x5t_s256 {
            return Err(TokenError::Malformed);
        }
        match header.typ.as_deref() {
            Some(t)
                if t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
                    || t.eq_ignore_ascii_case("application/at+jwt") => {}
            _ => return Err(TokenError::WrongType),
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let key = self.get(kid).ok_or(TokenError::UnknownKey)?;
        // The key fixes the algorithm; the header may only agree with it.
        if header.alg != key.algorithm().as_str() {
            return Err(TokenError::AlgorithmMismatch);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed)?;
        if !key.verify_bytes(signing_input.as_bytes(), &signature) {
            return Err(TokenError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(json_object(&payload)?).map_err(|_| TokenError::Malformed)?;
        // NumericDate values beyond 2^53 are not exact in every JSON reader; negative ones are
        // before 1970. Neither is a time this service writes.
        if [claims.iat, claims.nbf, claims.exp]
            .iter()
            .any(|t| !(0..MAX_NUMERIC_DATE).contains(t))
        {
            return Err(TokenError::Malformed);
        }
        if claims.iss != validation.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != validation.audience {
            return Err(TokenError::WrongAudience);
        }
        let leeway = crate::clock::secs(validation.leeway);
        if now.saturating_sub(leeway) >= claims.exp {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
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

/// `json` if it is a JSON object, as far as its first byte tells (serde-derived structs would also
/// read an array, member by member in order); the parser checks the rest.
fn json_object(json: &[u8]) -> Result<&[u8], TokenError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(json),
        _ => Err(TokenError::Malformed),
    }
}

/// The header as this verifier reads it: every registered parameter (RFC 7515 §4.1, RFC 7797)
/// is named, so one of the wrong JSON type, or given twice, refuses the token. Parameters the
/// verifier refuses outright are only noted as present (any value, `null` included). Any other
/// member refuses the token too: serde only *skips* members it does not know, and skipping checks
/// less than parsing (it passes invalid UTF-8, lone surrogate escapes, out-of-range numbers,
/// duplicated names, any nesting), which would let this verifier accept JSON other parsers
/// refuse. This service writes `alg`, `typ` and `kid` only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    /// Ignored, but typed: a non-string `cty` is malformed.
    #[serde(borrow, default)]
    #[allow(dead_code)]
    cty: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    x5t: bool,
    #[serde(default, rename = "x5t#S256", deserialize_with = "present")]
    x5t_s256: bool,
}

/// `true` for any value a header parameter has, `null` included (absence is the default).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn validation() -> Validation {
        Validation {
            issuer: "iss".into(),
            audience: "aud".into(),
            leeway: Duration::from_secs(30),
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            sub: "1".into(),
            sid: "session".into(),
            role: Role::Member,
            org: None,
            iss: "iss".into(),
            aud: "aud".into(),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 86_400,
            jti: "j".into(),
        }
    }

    fn hs_ring() -> KeyRing {
        KeyRing::new(JwtKey::hs256("hs-1", &[7u8; 32]).unwrap()).unwrap()
    }

    fn ed_ring() -> KeyRing {
        KeyRing::new(JwtKey::ed25519_from_seed("ed-1", [9u8; 32]).unwrap()).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn round_trip_both_algorithms() {
        for ring in [hs_ring(), ed_ring()] {
            let t = ring.sign(&claims()).unwrap();
            assert_eq!(
                ring.verify(t.expose(), &validation(), NOW).unwrap(),
                claims()
            );
        }
    }

    #[test]
    fn header_is_at_jwt_with_kid() {
        let t = ed_ring().sign(&claims()).unwrap();
        let h = jsonwebtoken::decode_header(t.expose()).unwrap();
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
        assert_eq!(h.kid.as_deref(), Some("ed-1"));
        assert_eq!(h.alg, Algorithm::EdDSA);
    }

    #[test]
    fn our_tokens_verify_with_bare_jsonwebtoken() {
        let ring = hs_ring();
        let t = ring.sign(&claims()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.set_audience(&["aud"]);
        v.validate_exp = false;
        let key = jsonwebtoken::DecodingKey::from_secret(&[7u8; 32]).unwrap();
        let d = jsonwebtoken::decode::<AccessClaims>(t.expose(), &key, &v).unwrap();
        assert_eq!(d.claims, claims());
    }

    #[test]
    fn alg_none_is_refused() {
        let ring = hs_ring();
        for alg in ["none", "None", "NONE"] {
            let h = b64(&serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": "hs-1"}));
            let p = b64(&serde_json::to_value(claims()).unwrap());
            for token in [format!("{h}.{p}."), format!("{h}.{p}")] {
                assert!(ring.verify(&token, &validation(), NOW).is_err(), "{alg}");
            }
        }
    }

    #[test]
    fn hs256_keyed_with_the_eddsa_public_key_is_refused() {
        let ring = ed_ring();
        let public = ring.active().ed25519_public_bytes().unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some("ed-1".into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(&public).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ring.verify(&forged, &validation(), NOW),
            Err(TokenError::AlgorithmMismatch)
        );
        // The JWKS text itself as the HMAC secret fares no better.
        let jwks = serde_json::to_vec(&ring.jwks()).unwrap();
        let forged = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(&jwks).unwrap(),
        )
        .unwrap();
        assert!(ring.verify(&forged, &validation(), NOW).is_err());
    }

    #[test]
    fn tampered_payload_and_signature_are_refused() {
        for ring in [hs_ring(), ed_ring()] {
            let t = ring.sign(&claims()).unwrap();
            let parts: Vec<&str> = t.expose().split('.').collect();
            let mut evil = claims();
            evil.role = Role::Admin;
            let tampered = format!(
                "{}.{}.{}",
                parts[0],
                b64(&serde_json::to_value(&evil).unwrap()),
                parts[2]
            );
            assert_eq!(
                ring.verify(&tampered, &validation(), NOW),
                Err(TokenError::BadSignature)
            );

            let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            sig[0] ^= 1;
            let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
            assert_eq!(
                ring.verify(&tampered, &validation(), NOW),
                Err(TokenError::BadSignature)
            );

            let truncated = format!("{}.{}.", parts[0], parts[1]);
            assert!(ring.verify(&truncated, &validation(), NOW).is_err());
        }
    }

    #[test]
    fn expiry_and_not_before_with_leeway() {
        let ring = hs_ring();
        let t = ring.sign(&claims()).unwrap();
        let exp = NOW + 86_400;
        // Inside the leeway: still accepted.
        assert!(ring.verify(t.expose(), &validation(), exp + 29).is_ok());
        assert_eq!(
            ring.verify(t.expose(), &validation(), exp + 30),
            Err(TokenError::Expired)
        );
        assert_eq!(
            ring.verify(t.expose(), &validation(), exp + 3600),
            Err(TokenError::Expired)
        );

        let mut future = claims();
        future.nbf = NOW + 600;
        let t = ring.sign(&future).unwrap();
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW),
            Err(TokenError::NotYetValid)
        );
        assert!(
            ring.verify(t.expose(), &validation(), NOW + 600 - 30)
                .is_ok()
        );
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW + 600 - 31),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn wrong_issuer_audience_type_kid() {
        let ring = hs_ring();
        let mut c = claims();
        c.iss = "someone-else".into();
        let t = ring.sign(&c).unwrap();
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW),
            Err(TokenError::WrongIssuer)
        );

        let mut c = claims();
        c.aud = "another-api".into();
        let t = ring.sign(&c).unwrap();
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW),
            Err(TokenError::WrongAudience)
        );

        // A correctly signed JWT of another type (e.g. an ID token or a plain JWT).
        let key = EncodingKey::from_secret(&[7u8; 32]).unwrap();
        for typ in [Some("JWT"), Some("refresh+jwt"), None] {
            let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
            h.kid = Some("hs-1".into());
            h.typ = typ.map(String::from);
            let t = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
            assert_eq!(
                ring.verify(&t, &validation(), NOW),
                Err(TokenError::WrongType),
                "{typ:?}"
            );
        }

        let other = KeyRing::new(JwtKey::hs256("hs-2", &[7u8; 32]).unwrap()).unwrap();
        let t = other.sign(&claims()).unwrap();
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW),
            Err(TokenError::UnknownKey)
        );

        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        let t = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
        assert_eq!(
            ring.verify(&t, &validation(), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn critical_headers_are_refused() {
        let ring = hs_ring();
        let t = ring.sign(&claims()).unwrap();
        let parts: Vec<&str> = t.expose().split('.').collect();
        let h = b64(
            &serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "hs-1", "crit": ["exp"]}),
        );
        let forged = format!("{h}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            ring.verify(&forged, &validation(), NOW),
            Err(TokenError::UnsupportedCritical)
        );
    }

    /// Correctly signed tokens whose header or claims this verifier must refuse.
    #[test]
    fn correctly_signed_oddities_are_refused() {
        let key = EncodingKey::from_secret(&[7u8; 32]).unwrap();
        let sign = |header: serde_json::Value, claims: serde_json::Value| {
            let input = format!("{}.{}", b64(&header), b64(&claims));
            let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
            mac.update(input.as_bytes());
            let _ = &key;
            format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        };
        let good_header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "hs-1"});
        let good_claims = serde_json::to_value(claims()).unwrap();
        let ring = hs_ring();
        assert!(
            ring.verify(
                &sign(good_header.clone(), good_claims.clone()),
                &validation(),
                NOW
            )
            .is_ok(),
            "the control token verifies"
        );
        let with = |name: &str, value: serde_json::Value| {
            let mut h = good_header.clone();
            h[name] = value;
            h
        };
        for (name, value) in [
            ("crit", serde_json::json!(null)),
            ("crit", serde_json::json!([])),
            ("b64", serde_json::json!(false)),
            ("b64", serde_json::json!(true)),
            ("jwk", serde_json::json!("not an object")),
            ("jwk", serde_json::json!({"kty": "oct", "k": "AAAA"})),
            ("jku", serde_json::json!("https://evil.example/jwks")),
            ("x5c", serde_json::json!("not a list")),
            ("x5u", serde_json::json!(null)),
            ("x5t", serde_json::json!(1)),
            ("x5t#S256", serde_json::json!("abc")),
            ("cty", serde_json::json!(5)),
            ("cty", serde_json::json!({})),
            ("kid", serde_json::json!(7)),
            ("typ", serde_json::json!(["at+jwt"])),
        ] {
            let token = sign(with(name, value.clone()), good_claims.clone());
            assert!(
                ring.verify(&token, &validation(), NOW).is_err(),
                "{name}: {value} was accepted"
            );
        }
        // A string `cty` is a registered parameter of the right type: ignored.
        let token = sign(with("cty", serde_json::json!("JWT")), good_claims.clone());
        assert!(ring.verify(&token, &validation(), NOW).is_ok());
        // A duplicated header parameter is malformed, whatever the copies say.
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","kid":"hs-1"}"#),
            b64(&good_claims)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(input.as_bytes());
        let dup = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert!(ring.verify(&dup, &validation(), NOW).is_err());

        // JSON texts a strict parser refuses, hidden where serde only skips.
        let sign_raw = |header: &[u8], claims: &[u8]| {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
            mac.update(input.as_bytes());
            format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        };
        let header = serde_json::to_vec(&good_header).unwrap();
        let body = serde_json::to_vec(&good_claims).unwrap();
        assert!(
            ring.verify(&sign_raw(&header, &body), &validation(), NOW)
                .is_ok()
        );
        let with_member = |json: &[u8], member: &[u8]| {
            let mut v = json[..json.len() - 1].to_vec();
            v.extend_from_slice(b",\"x\":");
            v.extend_from_slice(member);
            v.push(b'}');
            v
        };
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for member in [
            &b"1e999"[..],
            b"[[-184000000e000000009992004809536]]",
            b"\"\xff\"",
            br#""\ud800""#,
            br#""\udc00""#,
            br#""\ud83d\ude00""#,
            deep.as_bytes(),
        ] {
            for (h, c) in [
                (with_member(&header, member), body.clone()),
                (header.clone(), with_member(&body, member)),
            ] {
                assert!(
                    ring.verify(&sign_raw(&h, &c), &validation(), NOW).is_err(),
                    "{}",
                    String::from_utf8_lossy(member)
                );
            }
        }
        // Duplicated members are refused even where serde would skip them, and so are escapes
        // in top-level names (`\u0065nc` would be a second `enc`).
        for dup in [
            &br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","enc":"a","enc":"b"}"#[..],
            br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","enc":"a","\u0065nc":"b"}"#,
        ] {
            assert!(
                ring.verify(&sign_raw(dup, &body), &validation(), NOW)
                    .is_err()
            );
        }
        let dup_claims = with_member(&with_member(&body, b"1"), b"2");
        assert!(
            ring.verify(&sign_raw(&header, &dup_claims), &validation(), NOW)
                .is_err()
        );
        // Any member the verifier does not read is refused, however harmless it looks.
        let nested = with_member(&body, br#"{"x": 1, "sub": {"x": 2}}"#);
        assert!(
            ring.verify(&sign_raw(&header, &nested), &validation(), NOW)
                .is_err()
        );
        let extra_header = with_member(&header, br#""JWT""#);
        assert!(
            ring.verify(&sign_raw(&extra_header, &body), &validation(), NOW)
                .is_err()
        );
        // In a member the verifier reads, the parser itself is strict: a lone surrogate escape
        // is refused, an escaped backslash before a `u` is just text.
        let jti = |raw: &str| {
            let text = String::from_utf8(body.clone()).unwrap();
            text.replace(r#""jti":"j""#, &format!(r#""jti":"{raw}""#))
                .into_bytes()
        };
        for raw in [r"\ud800", r"\udfff", r"\u12"] {
            assert!(
                ring.verify(&sign_raw(&header, &jti(raw)), &validation(), NOW)
                    .is_err(),
                "{raw}"
            );
        }
        assert!(
            ring.verify(&sign_raw(&header, &jti(r"\\ud800")), &validation(), NOW)
                .is_ok()
        );
        // Arrays in place of the objects (serde-derived structs would read them in order).
        let claims_array = serde_json::to_vec(&serde_json::json!([
            "1",
            "session",
            "member",
            null,
            "iss",
            "aud",
            NOW,
            NOW,
            NOW + 60,
            "j"
        ]))
        .unwrap();
        assert!(
            ring.verify(&sign_raw(&header, &claims_array), &validation(), NOW)
                .is_err()
        );
        let header_array = br#"["HS256", "hs-1", "at+jwt"]"#;
        assert!(
            ring.verify(&sign_raw(header_array, &body), &validation(), NOW)
                .is_err()
        );

        for (claim, value) in [
            ("nbf", serde_json::json!(-1)),
            ("iat", serde_json::json!(-5)),
            ("exp", serde_json::json!(1i64 << 53)),
            ("exp", serde_json::json!(i64::MAX)),
            ("nbf", serde_json::json!(1.5)),
            ("exp", serde_json::json!("1800086400")),
        ] {
            let mut c = good_claims.clone();
            c[claim] = value.clone();
            let token = sign(good_header.clone(), c);
            assert!(
                ring.verify(&token, &validation(), NOW).is_err(),
                "{claim}: {value} was accepted"
            );
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_and_removal_ends_them() {
        let mut ring = hs_ring();
        let old = ring.sign(&claims()).unwrap();
        ring.rotate(JwtKey::generate_ed25519("ed-2").unwrap())
            .unwrap();
        let new = ring.sign(&claims()).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(new.expose())
                .unwrap()
                .kid
                .as_deref(),
            Some("ed-2")
        );
        assert!(ring.verify(old.expose(), &validation(), NOW).is_ok());
        assert!(ring.verify(new.expose(), &validation(), NOW).is_ok());
        assert!(
            ring.remove("ed-2").is_err(),
            "the active key cannot be removed"
        );
        assert!(ring.remove("hs-1").unwrap());
        assert_eq!(
            ring.verify(old.expose(), &validation(), NOW),
            Err(TokenError::UnknownKey)
        );
        assert!(ring.verify(new.expose(), &validation(), NOW).is_ok());
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        // The identity point: every signature with R = identity and S = 0 would "verify".
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            JwtKey::ed25519_public("weak", identity),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn short_hs256_secret_is_refused() {
        assert!(matches!(
            JwtKey::hs256("k", &[1u8; 31]),
            Err(Error::Config(_))
        ));
        assert!(JwtKey::hs256("k", &[1u8; 32]).is_ok());
    }

    #[test]
    fn jwks_has_public_keys_only() {
        let mut ring = hs_ring();
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 0);
        ring.rotate(JwtKey::ed25519_from_seed("ed-1", [9u8; 32]).unwrap())
            .unwrap();
        let jwks = ring.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], "ed-1");
        assert_eq!(keys[0]["crv"], "Ed25519");
        // A verifier built from the JWKS alone accepts our tokens.
        let x = URL_SAFE_NO_PAD
            .decode(keys[0]["x"].as_str().unwrap())
            .unwrap();
        let public = JwtKey::ed25519_public("ed-1", x.try_into().unwrap()).unwrap();
        let mut verifier = KeyRing::new(JwtKey::generate_hs256("unused").unwrap()).unwrap();
        verifier.add(public).unwrap();
        let t = ring.sign(&claims()).unwrap();
        assert!(verifier.verify(t.expose(), &validation(), NOW).is_ok());
        assert!(!format!("{:?}", ring).contains("[7, 7"));
    }

    #[test]
    fn material_round_trip() {
        for key in [
            JwtKey::generate_hs256("a").unwrap(),
            JwtKey::generate_ed25519("b").unwrap(),
        ] {
            let again = JwtKey::from_material(key.kid(), key.algorithm(), &key.material().unwrap())
                .unwrap();
            let ring = KeyRing::new(key).unwrap();
            let t = ring.sign(&claims()).unwrap();
            let ring2 = KeyRing::new(again).unwrap();
            assert!(ring2.verify(t.expose(), &validation(), NOW).is_ok());
        }
    }

    #[test]
    fn garbage_never_panics() {
        let ring = hs_ring();
        for junk in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "eyJ.eyJ.",
            &"a".repeat(10_000),
            "é.é.é",
        ] {
            assert!(ring.verify(junk, &validation(), NOW).is_err());
        }
    }
}
