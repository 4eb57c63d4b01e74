//! [`KeyRing`]: keys by `kid`, one signer; signing, and the verifier that pins the algorithm to
//! the key.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{ACCESS_TOKEN_TYP, AccessClaims, JwtKey, MAX_NUMERIC_DATE, MAX_TOKEN_LEN, Validation};
use crate::error::{ConfigError, Error, InternalError, InternalKind, TokenError};
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
