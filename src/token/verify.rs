//! Verification: [`KeyRing::verify`], and the two steps the service's hot path takes one by one
//! (locate the key, then verify), so that its verified-token cache sits between them.
//!
//! The header segment is first compared with each key's precomputed encoding (a [`JwtKey`]
//! keeps the header its tokens carry): a token this ring signed needs no header parsing, and
//! its `alg`, `typ` and `kid` are right by construction. Any other header is parsed strictly.
//! The signature and the payload are decoded into stack buffers, and the claims are read
//! borrowing from the payload, so no claim that is only compared is ever copied.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};

use super::{
    ACCESS_TOKEN_TYP, AccessClaims, JwtKey, KeyRing, MAX_NUMERIC_DATE, MAX_TOKEN_LEN, Validation,
};
use crate::error::TokenError;
use crate::rbac::Role;

/// Payloads whose decoded size is at most this decode on the stack; larger ones (up to the
/// token limit) on the heap.
const STACK_PAYLOAD: usize = 1024;
/// Room for the longest signature segment any supported algorithm makes (Ed25519: 64 bytes,
/// 86 characters), as the decoder estimates it.
const SIGNATURE_ROOM: usize = 72;

/// A token split into its segments, with the key its header names. Nothing is verified yet.
pub(crate) struct Located<'t, 'r> {
    /// `header.payload`: what the signature covers.
    signing_input: &'t str,
    /// The payload segment, still encoded.
    payload: &'t str,
    /// The signature segment, still encoded: the verified-token cache's key.
    pub(crate) signature: &'t str,
    /// The key the header names.
    key: &'r JwtKey,
}

impl KeyRing {
    /// Verifies an access token at time `now` (Unix seconds) and returns its claims.
    ///
    /// The `kid` selects the key and the key fixes the algorithm; then the signature, `typ`,
    /// `iss`, `aud`, `exp` and `nbf` (with the validation's leeway) are checked.
    pub fn verify(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
    ) -> Result<AccessClaims, TokenError> {
        self.locate(token)?
            .verify(validation, now, |claims| claims.to_owned())
    }

    /// Splits `token` into its segments and finds the key its header names. Only structure is
    /// checked: garbage is refused here, before any cache or signature work.
    pub(crate) fn locate<'t>(&self, token: &'t str) -> Result<Located<'t, '_>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        // A token one of these keys signed: its header, a dot, the payload, a dot, and a
        // signature segment of the key's fixed length. Found by position, without scanning the
        // payload (a dot inside it fails its decoding).
        let bytes = token.as_bytes();
        for key in self.keys() {
            let (header, signature) = (key.header.len(), key.signature_segment_len());
            if bytes.len() > header + signature + 1
                && bytes.starts_with(key.header.as_bytes())
                && bytes[header] == b'.'
                && bytes[bytes.len() - signature - 1] == b'.'
            {
                let (signing_input, signature) = token.split_at(bytes.len() - signature - 1);
                return Ok(Located {
                    signing_input,
                    payload: &signing_input[header + 1..],
                    signature: &signature[1..],
                    key,
                });
            }
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.contains('.') {
            return Err(TokenError::Malformed);
        }
        Ok(Located {
            signing_input,
            payload,
            signature,
            key: self.key_for_header(header)?,
        })
    }

    /// The key a header this ring did not write names, after reading the header strictly.
    fn key_for_header(&self, header_b64: &str) -> Result<&JwtKey, TokenError> {
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
        Ok(key)
    }
}

impl Located<'_, '_> {
    /// Checks the signature, then the claims at `now`, and hands the claims to `f`.
    pub(crate) fn verify<R>(
        &self,
        validation: &Validation,
        now: i64,
        f: impl FnOnce(&Claims<'_>) -> R,
    ) -> Result<R, TokenError> {
        let mut signature = [0u8; SIGNATURE_ROOM];
        let len = URL_SAFE_NO_PAD
            .decode_slice(self.signature, &mut signature)
            .map_err(|_| TokenError::Malformed)?;
        if !self
            .key
            .verify_bytes(self.signing_input.as_bytes(), &signature[..len])
        {
            return Err(TokenError::BadSignature);
        }
        let mut stack = [0u8; STACK_PAYLOAD];
        let heap: Vec<u8>;
        let payload: &[u8] = if decoded_estimate(self.payload.len()) <= STACK_PAYLOAD {
            let len = URL_SAFE_NO_PAD
                .decode_slice(self.payload, &mut stack)
                .map_err(|_| TokenError::Malformed)?;
            &stack[..len]
        } else {
            heap = URL_SAFE_NO_PAD
                .decode(self.payload)
                .map_err(|_| TokenError::Malformed)?;
            &heap
        };
        let claims: Claims<'_> =
            serde_json::from_slice(json_object(payload)?).map_err(|_| TokenError::Malformed)?;
        claims.check(validation, now)?;
        Ok(f(&claims))
    }
}

/// The decoder's own (conservative) estimate of the bytes `len` base64 characters decode to;
/// an output buffer at least this long is never too small.
fn decoded_estimate(len: usize) -> usize {
    len.div_ceil(4) * 3
}

/// The claims of an access token, borrowing from the decoded payload: the same members, as
/// strictly typed, as [`AccessClaims`] (unknown members refuse the token).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Claims<'a> {
    #[serde(borrow)]
    pub(crate) sub: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) sid: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) role: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "optional_str")]
    pub(crate) org: Option<Cow<'a, str>>,
    #[serde(borrow)]
    iss: Cow<'a, str>,
    #[serde(borrow)]
    aud: Cow<'a, str>,
    iat: i64,
    nbf: i64,
    pub(crate) exp: i64,
    #[serde(borrow)]
    jti: Cow<'a, str>,
}

impl Claims<'_> {
    /// The checks besides the signature: numeric dates, issuer, audience, expiry, not-before.
    fn check(&self, validation: &Validation, now: i64) -> Result<(), TokenError> {
        // NumericDate values beyond 2^53 are not exact in every JSON reader; negative ones are
        // before 1970. Neither is a time this service writes.
        if [self.iat, self.nbf, self.exp]
            .iter()
            .any(|t| !(0..MAX_NUMERIC_DATE).contains(t))
        {
            return Err(TokenError::Malformed);
        }
        if self.iss != validation.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if self.aud != validation.audience {
            return Err(TokenError::WrongAudience);
        }
        let leeway = crate::clock::secs(validation.leeway);
        if now.saturating_sub(leeway) >= self.exp {
            return Err(TokenError::Expired);
        }
        if self.nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// The owned claims.
    fn to_owned(&self) -> AccessClaims {
        AccessClaims {
            sub: self.sub.clone().into_owned(),
            sid: self.sid.clone().into_owned(),
            role: Role::new(&self.role),
            org: self.org.as_ref().map(|o| o.clone().into_owned()),
            iss: self.iss.clone().into_owned(),
            aud: self.aud.clone().into_owned(),
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp,
            jti: self.jti.clone().into_owned(),
        }
    }
}

/// An optional string, borrowed from the input where it has no escapes. (serde borrows a
/// `Cow<str>` field marked `borrow`, but not one inside an `Option`.)
fn optional_str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
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
