//! Refresh tokens and their rotation rules.
//!
//! * A refresh token is 256 random bits, base64url (43 characters), stored only as its SHA-256.
//! * Tokens form a **family** per login session (`sid`). Each is single-use: spending one yields a
//!   successor.
//! * The successor is **derived** from the spent token with a server-side key,
//!   `HMAC-SHA-256(key, "successor" ‖ token)`, not drawn at random. A retry with the token just
//!   spent, inside the grace window, therefore gets the *same* successor (and the same access
//!   token, whose `iat` and `jti` derive from the spend) without any plaintext being stored. Two
//!   tabs refreshing at once, or a response lost on the way, do not log the user out, and 64
//!   concurrent refreshes of one token all return one pair: the family never forks.
//! * A spent token presented after the grace window is **reuse**: someone holds a copy. The whole
//!   family is revoked, and its access tokens with it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::error::Error;
use crate::secret::{RefreshToken, random_token};
use crate::store::{Consumed, RefreshRecord};

/// What to do with a presented refresh token, given what the store said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This call spent the token: issue the successor pair.
    Rotate(RefreshRecord),
    /// A retry inside the grace window: issue the same successor pair again.
    Replay(RefreshRecord),
    /// A spent token outside the grace window: revoke the family.
    Reuse(RefreshRecord),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Mints refresh tokens and derives successors.
#[derive(Clone)]
pub struct RefreshTokens {
    key: Hmac<Sha256>,
}

impl RefreshTokens {
    /// Uses `derivation_key` (≥ 32 bytes, shared by every instance of a deployment).
    pub fn new(derivation_key: &[u8]) -> Result<Self, Error> {
        if derivation_key.len() < 32 {
            return Err(Error::Config(
                "refresh derivation key must be at least 32 bytes",
            ));
        }
        Ok(Self {
            key: Hmac::new_from_slice(derivation_key)
                .map_err(|_| Error::Config("invalid refresh derivation key"))?,
        })
    }

    /// A fresh token for a new session.
    pub fn mint(&self) -> Result<RefreshToken, Error> {
        Ok(RefreshToken::new(random_token()?))
    }

    /// The successor of `spent`.
    pub fn successor(&self, spent: &RefreshToken) -> RefreshToken {
        RefreshToken::new(URL_SAFE_NO_PAD.encode(self.derive(b"successor", spent)))
    }

    /// The `jti` of the access token issued with the successor of `spent`.
    pub fn successor_jti(&self, spent: &RefreshToken) -> String {
        URL_SAFE_NO_PAD.encode(&self.derive(b"jti", spent)[..16])
    }

    fn derive(&self, label: &[u8], spent: &RefreshToken) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(label);
        mac.update(&[0]);
        mac.update(spent.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Applies the rules to the store's answer: `grace` seconds after a spend, a retry replays;
    /// later, it is reuse. A zero grace window makes every second presentation reuse.
    pub fn decide(consumed: Consumed, now: i64, grace: i64) -> Rotation {
        match consumed {
            Consumed::Spent(r) => Rotation::Rotate(r),
            Consumed::AlreadySpent(r) => match r.spent_at {
                Some(at) if grace > 0 && now.saturating_sub(at) <= grace => Rotation::Replay(r),
                _ => Rotation::Reuse(r),
            },
            Consumed::Invalid => Rotation::Invalid,
        }
    }
}

impl fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokens([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::TokenHash;

    fn record(spent_at: Option<i64>) -> RefreshRecord {
        let mut r = RefreshRecord::new(TokenHash::of("t"), "sid".into(), 1, 0, 100);
        r.spent_at = spent_at;
        r
    }

    #[test]
    fn successor_is_deterministic_and_keyed() {
        let a = RefreshTokens::new(&[1u8; 32]).unwrap();
        let b = RefreshTokens::new(&[2u8; 32]).unwrap();
        let t = a.mint().unwrap();
        assert_eq!(a.successor(&t), a.successor(&t));
        assert_ne!(a.successor(&t), b.successor(&t));
        assert_ne!(a.successor(&t), t);
        assert_eq!(a.successor(&t).expose().len(), 43);
        assert_eq!(a.successor_jti(&t), a.successor_jti(&t));
        assert!(RefreshTokens::new(&[0u8; 16]).is_err());
    }

    #[test]
    fn grace_window_rules() {
        let spent = Consumed::AlreadySpent(record(Some(50)));
        assert!(matches!(
            RefreshTokens::decide(spent.clone(), 60, 10),
            Rotation::Replay(_)
        ));
        assert!(matches!(
            RefreshTokens::decide(spent.clone(), 61, 10),
            Rotation::Reuse(_)
        ));
        assert!(matches!(
            RefreshTokens::decide(spent, 50, 0),
            Rotation::Reuse(_)
        ));
        assert!(matches!(
            RefreshTokens::decide(Consumed::Spent(record(Some(5))), 5, 10),
            Rotation::Rotate(_)
        ));
        assert_eq!(
            RefreshTokens::decide(Consumed::Invalid, 5, 10),
            Rotation::Invalid
        );
    }
}
