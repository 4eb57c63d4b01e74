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
//! `jsonwebtoken/aws_lc_rs`. Verification keeps keyed state per key (an HMAC key schedule, a
//! decompressed Ed25519 point, checked once for small order when loaded, and the encoded header
//! its tokens carry, so that a token this ring signed needs no header parsing), decodes into
//! stack buffers and reads the claims borrowing from the payload; every Ed25519 verification
//! requires a canonical `S`. `benches/hot_path.rs` measures it against
//! bare `jsonwebtoken::decode` of the same token.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rbac::Role;

mod key;
mod ring;
#[cfg(test)]
mod tests;
mod verify;

pub(crate) use key::oct_thumbprint;
pub use key::{JwtKey, KeyAlgorithm, ed25519_thumbprint};
pub use ring::KeyRing;
pub(crate) use verify::Claims;

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
