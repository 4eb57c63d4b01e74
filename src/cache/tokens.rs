//! The verified-token cache: access tokens whose signature and claims were checked, by their
//! signature segment, with the principal they authenticate.

use std::sync::Arc;

use super::{Slots, same_bytes, slot_hash};
use crate::principal::Principal;

/// Tokens longer than this are verified every time rather than cached, which bounds an entry.
const MAX_CACHED_TOKEN: usize = 2048;

/// Verified access tokens (see the [module](super) for the design).
pub(crate) struct TokenCache {
    slots: Slots<Entry>,
}

struct Entry {
    /// The whole token: a hit needs the whole token to match, not only the signature.
    token: Box<str>,
    principal: Arc<Principal>,
    /// The token's `exp`.
    exp: i64,
    /// The generation of the key ring that verified it.
    ring: u64,
}

impl TokenCache {
    /// A cache of `slots` entries; `None` when `slots` is 0 (off).
    pub(crate) fn new(slots: usize) -> Option<Self> {
        Slots::new(slots).map(|slots| Self { slots })
    }

    /// How many tokens are cached.
    pub(crate) fn len(&self) -> usize {
        self.slots.occupied()
    }

    /// The principal of `token` (whose signature segment is `signature`) if it was verified
    /// under key ring `ring` and expires after `horizon` (now minus the leeway). The caller
    /// still checks the revocation set. Allocates nothing.
    pub(crate) fn get(
        &self,
        token: &str,
        signature: &str,
        ring: u64,
        horizon: i64,
    ) -> Option<Arc<Principal>> {
        self.slots.find(slot_hash(signature.as_bytes()), |e| {
            let live = e.ring == ring && horizon < e.exp;
            (live && same_bytes(e.token.as_bytes(), token.as_bytes()))
                .then(|| Arc::clone(&e.principal))
        })
    }

    /// Remembers a token just verified in full, preferring to evict entries that can no longer
    /// hit (expired, or verified under another key ring).
    pub(crate) fn insert(
        &self,
        token: &str,
        signature: &str,
        ring: u64,
        exp: i64,
        horizon: i64,
        principal: Arc<Principal>,
    ) {
        if token.len() > MAX_CACHED_TOKEN {
            return;
        }
        let entry = Entry {
            token: Box::from(token),
            principal,
            exp,
            ring,
        };
        self.slots.put(slot_hash(signature.as_bytes()), entry, |e| {
            e.ring != ring || horizon >= e.exp
        });
    }
}
