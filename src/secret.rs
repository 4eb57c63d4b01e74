//! Secrets as types.
//!
//! Passwords, access tokens, refresh tokens, reset tokens and API keys each have a newtype whose
//! `Debug` prints `[redacted]`, whose equality is constant-time ([`subtle`]), and whose plaintext
//! is reached only through an explicit [`expose`](Password::expose) call. Single-use values
//! (refresh and reset tokens) are not `Clone`, so they cannot be copied around by accident.
//!
//! Randomness for every secret comes from the operating system's generator ([`random_bytes`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng as _;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, InternalKind};

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$meta])*
        #[derive(serde::Deserialize $(, $derive)*)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a plaintext value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The plaintext. Call it only where the value must leave the process (a response
            /// body, a mail) or be hashed.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// A user's password in plaintext, on its way to argon2.
    Password
);
secret_type!(
    /// A signed access token (a JWT). A bearer credential: whoever holds it is the user for 24 h.
    AccessToken,
    Clone
);
secret_type!(
    /// An opaque, single-use refresh token (≥ 256 bits). Stored only as its SHA-256.
    RefreshToken
);
secret_type!(
    /// An opaque, single-use password-reset token (≥ 256 bits). Stored only as its SHA-256.
    ResetToken
);
secret_type!(
    /// An opaque, single-use email-verification token (≥ 256 bits). Stored only as its SHA-256.
    VerificationToken
);
secret_type!(
    /// A single-use token on its way to the user's inbox: a password-reset or an
    /// email-verification token.
    MailToken
);
secret_type!(
    /// An organization API key in plaintext (`osk_live_…` / `osk_test_…`), shown once at minting.
    ApiKeySecret
);

/// Longest opaque token (refresh, reset or verification) accepted for hashing; longer input is refused at once.
pub(crate) const MAX_OPAQUE_TOKEN_LEN: usize = 128;

/// SHA-256 of a high-entropy bearer secret: the only form in which refresh tokens, reset tokens
/// and API keys are stored. A fast hash is right here: the inputs carry ≥ 160 bits of entropy, so
/// there is nothing to brute-force.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// A hash a store read back (its 32 bytes).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes a store keeps.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hashes `plaintext`.
    pub fn of(plaintext: &str) -> Self {
        Self(Sha256::digest(plaintext.as_bytes()).into())
    }

    /// Lower-case hex (for logs and diagnostics; stores keep the 32 bytes).
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }

    /// Parses the lower-case hex form; `None` if it is not 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            out[i] = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not secret, but a short form is enough to tell two apart in a log.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// `N` bytes from the operating system's random generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    SysRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::internal(InternalKind::Random, e))?;
    Ok(buf)
}

/// A fresh 256-bit random value, base64url without padding (43 characters).
pub(crate) fn random_token() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A fresh 128-bit random identifier, base64url without padding (22 characters).
pub(crate) fn random_id() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("hunter2-very-secret");
        let r = RefreshToken::new("refresh-plaintext");
        let k = ApiKeySecret::new("osk_live_abcdef");
        let all = format!("{p:?} {r:?} {k:?}");
        assert!(!all.contains("hunter2"));
        assert!(!all.contains("refresh-plaintext"));
        assert!(!all.contains("abcdef"));
        assert!(all.contains("[redacted]"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(Password::new("a"), Password::new("a"));
        assert_ne!(Password::new("a"), Password::new("b"));
        assert_ne!(Password::new("a"), Password::new("aa"));
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = TokenHash::of("x");
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(TokenHash::from_hex("zz"), None);
    }

    #[test]
    fn random_tokens_differ_and_have_256_bits() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
