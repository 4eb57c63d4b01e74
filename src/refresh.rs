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

use crate::error::{ConfigError, Error};
use crate::secret::{MAX_OPAQUE_TOKEN_LEN, RefreshToken, TokenHash, random_token};
use crate::store::{Consumed, RefreshRecord, Store};

/// What the store's answer means for a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// This call spent the token: issue the successor pair.
    Rotate(RefreshRecord),
    /// A retry inside the grace window: issue the same successor pair again.
    Replay(RefreshRecord),
    /// A spent token outside the grace window: revoke the family.
    Reuse(RefreshRecord),
    /// Unknown, expired or revoked.
    Invalid,
}

/// The outcome of presenting a refresh token that the store knows.
#[derive(Debug)]
pub(crate) enum Rotation {
    /// The token was spent (now, or inside the grace window by a call whose answer may have been
    /// lost): here is its successor, stored, and what the access token issued with it derives
    /// from.
    Rotated(Successor),
    /// A spent token came back after the grace window: the caller must end the session.
    Reused(RefreshRecord),
}

/// A refresh token's successor, already stored.
#[derive(Debug)]
pub(crate) struct Successor {
    /// The new refresh token.
    pub(crate) token: RefreshToken,
    /// The session (family) it belongs to.
    pub(crate) session_id: String,
    /// The session's user.
    pub(crate) user_id: i64,
    /// When the spend happened: the issue time of the access token handed out with it.
    pub(crate) issued_at: i64,
    /// The `jti` of that access token.
    pub(crate) jti: String,
    /// Whether this was a retry inside the grace window (the pair handed out again).
    pub(crate) replayed: bool,
}

/// Mints refresh tokens, derives successors, and applies the rotation rules.
#[derive(Clone)]
pub(crate) struct RefreshTokens {
    key: Hmac<Sha256>,
    /// Lifetime of a refresh token, seconds.
    ttl: i64,
    /// How long after a spend a retry replays instead of counting as reuse, seconds.
    grace: i64,
}

impl RefreshTokens {
    /// Uses `derivation_key` (≥ 32 bytes, shared by every instance of a deployment), tokens
    /// living `ttl` seconds, and a grace window of `grace` seconds.
    pub(crate) fn new(derivation_key: &[u8], ttl: i64, grace: i64) -> Result<Self, Error> {
        if derivation_key.len() < 32 {
            return Err(Error::Config(ConfigError::WeakRefreshKey));
        }
        Ok(Self {
            key: Hmac::new_from_slice(derivation_key)
                .map_err(|_| Error::Config(ConfigError::WeakRefreshKey))?,
            ttl,
            grace,
        })
    }

    /// The first token of a new session `session_id`, and the record the store keeps of it.
    pub(crate) fn first(
        &self,
        session_id: &str,
        user_id: i64,
        now: i64,
    ) -> Result<(RefreshToken, RefreshRecord), Error> {
        let token = RefreshToken::new(random_token()?);
        let record = self.record(&token, session_id.to_owned(), user_id, now);
        Ok((token, record))
    }

    fn record(
        &self,
        token: &RefreshToken,
        session_id: String,
        user_id: i64,
        issued_at: i64,
    ) -> RefreshRecord {
        RefreshRecord::new(
            TokenHash::of(token.expose()),
            session_id,
            user_id,
            issued_at,
            issued_at.saturating_add(self.ttl),
        )
    }

    /// The one entry point for a presented token: spends it in the store (compare-and-set, so
    /// of concurrent presentations exactly one spends it) and applies the rules. Unknown,
    /// expired or revoked tokens, and a successor the store refuses (its session ended
    /// meanwhile), are [`Error::InvalidRefreshToken`].
    pub(crate) async fn rotate(
        &self,
        store: &dyn Store,
        token: &RefreshToken,
        now: i64,
    ) -> Result<Rotation, Error> {
        let t = token.expose();
        if t.is_empty() || t.len() > MAX_OPAQUE_TOKEN_LEN {
            return Err(Error::InvalidRefreshToken);
        }
        let consumed = store.consume_refresh(&TokenHash::of(t), now).await?;
        let (record, replayed) = match decide(consumed, now, self.grace) {
            Decision::Rotate(r) => (r, false),
            Decision::Replay(r) => (r, true),
            Decision::Reuse(r) => return Ok(Rotation::Reused(r)),
            Decision::Invalid => return Err(Error::InvalidRefreshToken),
        };
        // Everything below derives from the spend, so the winner of a race and every retry
        // inside the grace window compute the same pair.
        let issued_at = record.spent_at.unwrap_or(now);
        let successor = self.successor(token);
        let stored = self.record(
            &successor,
            record.session_id.clone(),
            record.user_id,
            issued_at,
        );
        if !store.insert_refresh(stored).await? {
            return Err(Error::InvalidRefreshToken);
        }
        Ok(Rotation::Rotated(Successor {
            jti: self.successor_jti(token),
            token: successor,
            session_id: record.session_id,
            user_id: record.user_id,
            issued_at,
            replayed,
        }))
    }

    /// The successor of `spent`.
    fn successor(&self, spent: &RefreshToken) -> RefreshToken {
        RefreshToken::new(URL_SAFE_NO_PAD.encode(self.derive(b"successor", spent)))
    }

    /// The `jti` of the access token issued with the successor of `spent`.
    fn successor_jti(&self, spent: &RefreshToken) -> String {
        URL_SAFE_NO_PAD.encode(&self.derive(b"jti", spent)[..16])
    }

    fn derive(&self, label: &[u8], spent: &RefreshToken) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(label);
        mac.update(&[0]);
        mac.update(spent.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Applies the rules to the store's answer: `grace` seconds after a spend, a retry replays;
/// later, it is reuse. A zero grace window makes every second presentation reuse.
fn decide(consumed: Consumed, now: i64, grace: i64) -> Decision {
    match consumed {
        Consumed::Spent(r) => Decision::Rotate(r),
        Consumed::AlreadySpent(r) => match r.spent_at {
            Some(at) if grace > 0 && now.saturating_sub(at) <= grace => Decision::Replay(r),
            _ => Decision::Reuse(r),
        },
        Consumed::Invalid => Decision::Invalid,
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

    fn record(spent_at: Option<i64>) -> RefreshRecord {
        let mut r = RefreshRecord::new(TokenHash::of("t"), "sid".into(), 1, 0, 100);
        r.spent_at = spent_at;
        r
    }

    fn tokens(key: u8) -> RefreshTokens {
        RefreshTokens::new(&[key; 32], 100, 10).unwrap()
    }

    #[test]
    fn successor_is_deterministic_and_keyed() {
        let (a, b) = (tokens(1), tokens(2));
        let (t, _) = a.first("sid", 1, 0).unwrap();
        assert_eq!(a.successor(&t), a.successor(&t));
        assert_ne!(a.successor(&t), b.successor(&t));
        assert_ne!(a.successor(&t), t);
        assert_eq!(a.successor(&t).expose().len(), 43);
        assert_eq!(a.successor_jti(&t), a.successor_jti(&t));
        assert!(RefreshTokens::new(&[0u8; 16], 100, 10).is_err());
    }

    #[test]
    fn grace_window_rules() {
        let spent = Consumed::AlreadySpent(record(Some(50)));
        assert!(matches!(decide(spent.clone(), 60, 10), Decision::Replay(_)));
        assert!(matches!(decide(spent.clone(), 61, 10), Decision::Reuse(_)));
        assert!(matches!(decide(spent, 50, 0), Decision::Reuse(_)));
        assert!(matches!(
            decide(Consumed::Spent(record(Some(5))), 5, 10),
            Decision::Rotate(_)
        ));
        assert_eq!(decide(Consumed::Invalid, 5, 10), Decision::Invalid);
    }

    #[tokio::test]
    async fn rotate_spends_once_replays_in_grace_and_reports_reuse() {
        use crate::store::{Session, memory::MemoryStore};
        let store = MemoryStore::new();
        let store: &dyn Store = &store;
        let r = tokens(7);
        let (first, record) = r.first("sid", 1, 0).unwrap();
        store
            .create_session(Session::new("sid".into(), 1, 0), record)
            .await
            .unwrap();
        let Rotation::Rotated(a) = r.rotate(store, &first, 5).await.unwrap() else {
            panic!("first presentation must rotate");
        };
        let Rotation::Rotated(b) = r.rotate(store, &first, 15).await.unwrap() else {
            panic!("a retry inside the grace window must replay");
        };
        assert_eq!(
            (&a.token, &a.jti, a.issued_at),
            (&b.token, &b.jti, b.issued_at)
        );
        assert!(matches!(
            r.rotate(store, &first, 16).await.unwrap(),
            Rotation::Reused(_)
        ));
        assert!(matches!(
            r.rotate(store, &RefreshToken::new(String::new()), 16).await,
            Err(Error::InvalidRefreshToken)
        ));
    }
}
