//! Organization API keys: `osk_live_<secret><checksum>` and `osk_test_<secret><checksum>`.
//!
//! * `<secret>` is 32 base62 characters from the operating system's generator (≈ 190 bits).
//! * `<checksum>` is the CRC32 of everything before it, as 6 base62 characters. A typo or a
//!   random string fails [`ApiKeyFormat::parse`] offline, before any hashing or store lookup.
//! * Keys are stored as their SHA-256 ([`TokenHash`]); the plaintext exists once, in the
//!   [`MintedKey`] handed to the creator.
//! * A short display prefix (`osk_live_AbCd`, 4 of the 32 secret characters) names a key in lists.
//!
//! The `osk` part is configurable ([`AuthConfig::api_key_prefix`](crate::AuthConfig)).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Error, ValidationError};
use crate::secret::{ApiKeySecret, TokenHash, random_bytes};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const DISPLAY_SECRET_CHARS: usize = 4;

/// Which data a key acts on: production or the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// `osk_live_…`: production data.
    Live,
    /// `osk_test_…`: sandbox data, kept apart from live data by the host.
    Test,
}

impl Environment {
    /// `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "live" => Ok(Environment::Live),
            "test" => Ok(Environment::Test),
            _ => Err(Error::Validation(ValidationError::UnknownEnvironment)),
        }
    }
}

/// A freshly minted key. `key` is the only copy of the plaintext there will ever be.
#[derive(Debug)]
#[non_exhaustive]
pub struct MintedKey {
    /// The plaintext, to show the creator once.
    pub key: ApiKeySecret,
    /// What the store keeps.
    pub hash: TokenHash,
    /// The non-secret display prefix, e.g. `osk_live_AbCd`.
    pub display_prefix: String,
    /// The key's environment.
    pub environment: Environment,
}

/// A key that passed the offline checks (shape, environment, checksum); not yet looked up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    key: &'a str,
    environment: Environment,
}

impl<'a> ParsedKey<'a> {
    /// The environment named in the key.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The key itself (a secret: never log it).
    pub fn as_str(&self) -> &'a str {
        self.key
    }

    /// What the store keeps of it.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.key)
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// Mints and parses keys with one prefix.
#[derive(Debug, Clone)]
pub struct ApiKeyFormat {
    prefix: String,
}

impl ApiKeyFormat {
    /// A format with the given prefix (1-16 lower-case ASCII letters), e.g. `osk`.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        if prefix.is_empty() || prefix.len() > 16 || !prefix.bytes().all(|b| b.is_ascii_lowercase())
        {
            return Err(Error::Config(ConfigError::ApiKeyPrefix));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// Whether `value` claims to be an API key (starts with `<prefix>_`). Cheap; used to route a
    /// bearer credential to the API-key path rather than the JWT path.
    pub fn looks_like_key(&self, value: &str) -> bool {
        value.len() > self.prefix.len()
            && value.as_bytes()[self.prefix.len()] == b'_'
            && value.starts_with(&self.prefix)
    }

    /// Mints a new key for `environment`.
    pub fn mint(&self, environment: Environment) -> Result<MintedKey, Error> {
        let mut key = String::with_capacity(self.prefix.len() + 6 + SECRET_LEN + CHECKSUM_LEN);
        key.push_str(&self.prefix);
        key.push('_');
        key.push_str(environment.as_str());
        key.push('_');
        let mut filled = 0;
        while filled < SECRET_LEN {
            for b in random_bytes::<48>()? {
                // Rejection sampling: 248 = 4 × 62, so `b % 62` is uniform below it.
                if b < 248 && filled < SECRET_LEN {
                    key.push(char::from(BASE62[usize::from(b % 62)]));
                    filled += 1;
                }
            }
        }
        let checksum = crc32fast::hash(key.as_bytes());
        push_base62_fixed(&mut key, checksum);
        let display_prefix =
            key[..key.len() - SECRET_LEN - CHECKSUM_LEN + DISPLAY_SECRET_CHARS].to_owned();
        Ok(MintedKey {
            hash: TokenHash::of(&key),
            key: ApiKeySecret::new(key),
            display_prefix,
            environment,
        })
    }

    /// Checks a presented key offline: prefix, environment, length, alphabet and checksum.
    /// Anything else is [`Error::InvalidApiKey`]. Does not allocate.
    pub fn parse<'a>(&self, key: &'a str) -> Result<ParsedKey<'a>, Error> {
        let rest = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('_'))
            .ok_or(Error::InvalidApiKey)?;
        let (environment, rest) = if let Some(r) = rest.strip_prefix("live_") {
            (Environment::Live, r)
        } else if let Some(r) = rest.strip_prefix("test_") {
            (Environment::Test, r)
        } else {
            return Err(Error::InvalidApiKey);
        };
        if rest.len() != SECRET_LEN + CHECKSUM_LEN || !all_base62(rest.as_bytes()) {
            return Err(Error::InvalidApiKey);
        }
        let body_len = key.len() - CHECKSUM_LEN;
        let expected = decode_base62(&key.as_bytes()[body_len..]).ok_or(Error::InvalidApiKey)?;
        if crc32fast::hash(&key.as_bytes()[..body_len]) != expected {
            return Err(Error::InvalidApiKey);
        }
        Ok(ParsedKey { key, environment })
    }
}

/// Whether every byte is a base62 digit. A table and no early exit: the digits of a random key
/// would make a branch per byte mispredict about half the time.
fn all_base62(bytes: &[u8]) -> bool {
    const TABLE: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < BASE62.len() {
            table[BASE62[i] as usize] = true;
            i += 1;
        }
        table
    };
    bytes.iter().fold(true, |ok, &b| ok & TABLE[usize::from(b)])
}

fn push_base62_fixed(out: &mut String, mut value: u32) {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.extend(digits.iter().map(|&b| char::from(b)));
}

fn decode_base62(digits: &[u8]) -> Option<u32> {
    // Each byte's digit value, 62 for a byte that is none: looked up, not branched on.
    const VALUES: [u8; 256] = {
        let mut values = [62u8; 256];
        let mut i = 0;
        while i < BASE62.len() {
            values[BASE62[i] as usize] = i as u8;
            i += 1;
        }
        values
    };
    let mut value: u64 = 0;
    let mut valid = true;
    for &d in digits {
        let v = VALUES[usize::from(d)];
        valid &= v < 62;
        value = value * 62 + u64::from(v);
    }
    if !valid {
        return None;
    }
    u32::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt() -> ApiKeyFormat {
        ApiKeyFormat::new("osk").unwrap()
    }

    #[test]
    fn mint_and_parse_round_trip() {
        for env in [Environment::Live, Environment::Test] {
            let m = fmt().mint(env).unwrap();
            let key = m.key.expose();
            assert!(key.starts_with(&format!("osk_{env}_")));
            assert_eq!(key.len(), 4 + 5 + SECRET_LEN + CHECKSUM_LEN);
            assert_eq!(fmt().parse(key).unwrap().environment(), env);
            assert_eq!(m.hash, TokenHash::of(key));
            assert!(key.starts_with(&m.display_prefix));
            assert_eq!(m.display_prefix.len(), "osk_live_".len() + 4);
        }
    }

    #[test]
    fn keys_are_unique() {
        let a = fmt().mint(Environment::Live).unwrap();
        let b = fmt().mint(Environment::Live).unwrap();
        assert_ne!(a.key, b.key);
    }

    #[test]
    fn secret_is_in_no_debug_output() {
        let m = fmt().mint(Environment::Live).unwrap();
        let secret_part = &m.key.expose()[9..];
        let dbg = format!("{m:?}");
        assert!(!dbg.contains(secret_part), "{dbg}");
        assert!(!dbg.contains(m.key.expose()));
    }

    #[test]
    fn junk_is_rejected() {
        for bad in [
            "",
            "osk_",
            "osk_live_",
            "osk_prod_0123456789ABCDEFGHIJKLMNOPQRSTUV012345",
            "osk_live_0123456789ABCDEFGHIJKLMNOPQRSTUV012345",
            "xyz_live_0123456789ABCDEFGHIJKLMNOPQRSTUV012345",
            "osk_live_0123456789ABCDEFGHIJKLMNOPQRSTUV01234é",
        ] {
            assert!(
                matches!(fmt().parse(bad), Err(Error::InvalidApiKey)),
                "{bad}"
            );
        }
    }

    #[test]
    fn custom_prefix() {
        let f = ApiKeyFormat::new("acme").unwrap();
        let m = f.mint(Environment::Test).unwrap();
        assert!(m.key.expose().starts_with("acme_test_"));
        assert!(f.parse(m.key.expose()).is_ok());
        assert!(fmt().parse(m.key.expose()).is_err());
        assert!(ApiKeyFormat::new("").is_err());
    }

    const MUTATIONS: &[u8] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-+/=. ";

    proptest! {
        /// Every single-character change of a valid key is caught offline.
        #[test]
        fn every_single_character_change_is_caught(
            live in any::<bool>(),
            pos_seed in any::<usize>(),
            replacement in proptest::sample::select(MUTATIONS),
        ) {
            let env = if live { Environment::Live } else { Environment::Test };
            let minted = fmt().mint(env).unwrap();
            let key = minted.key.expose().as_bytes().to_vec();
            let pos = pos_seed % key.len();
            prop_assume!(key[pos] != replacement);
            let mut changed = key.clone();
            changed[pos] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(fmt().parse(&changed).is_err(), "accepted {}", changed);
        }
    }

    /// The exhaustive version for one key: every position, every replacement.
    #[test]
    fn exhaustive_single_character_changes_one_key() {
        let minted = fmt().mint(Environment::Live).unwrap();
        let key = minted.key.expose().as_bytes().to_vec();
        for pos in 0..key.len() {
            for &r in MUTATIONS {
                if key[pos] == r {
                    continue;
                }
                let mut changed = key.clone();
                changed[pos] = r;
                let changed = String::from_utf8(changed).unwrap();
                assert!(fmt().parse(&changed).is_err(), "accepted {changed}");
            }
        }
    }
}
