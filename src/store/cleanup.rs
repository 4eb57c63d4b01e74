//! [`CleanupStore`]: deleting, in bounded batches, the rows that can no longer change any answer
//! of the other traits, so that the tables stop growing with every login, refresh and reset.
//!
//! The rules, and why each deletion changes no answer, are in [`CleanupStore`]'s documentation.

use async_trait::async_trait;

use super::StoreResult;

/// A kind of row that stops mattering at some point (see [`CleanupStore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expired {
    /// Refresh tokens past their own `expires_at`, spent or not.
    RefreshTokens,
    /// Ended sessions, and sessions without a refresh token that expires after `now`, with their
    /// refresh tokens.
    Sessions,
    /// Password-reset tokens that are spent or past `expires_at`.
    ResetTokens,
    /// Email-verification tokens that are spent or past `expires_at`.
    VerificationTokens,
    /// Revocation-log entries whose `refused_until` has passed.
    Revocations,
}

impl Expired {
    /// Every kind, in the order a purge deletes them.
    pub const ALL: [Expired; 5] = [
        Expired::RefreshTokens,
        Expired::Sessions,
        Expired::ResetTokens,
        Expired::VerificationTokens,
        Expired::Revocations,
    ];

    /// A short name for logs and metrics: `refresh_tokens`, `sessions`, `reset_tokens`,
    /// `verification_tokens`, `revocations`.
    pub fn name(self) -> &'static str {
        match self {
            Expired::RefreshTokens => "refresh_tokens",
            Expired::Sessions => "sessions",
            Expired::ResetTokens => "reset_tokens",
            Expired::VerificationTokens => "verification_tokens",
            Expired::Revocations => "revocations",
        }
    }
}

/// Deleting rows that can no longer matter. Part of [`Store`](super::Store): a store written by a
/// host implements it too (see `examples/custom_store.rs`), and the conformance suite's
/// `cleanup` cases prove it.
///
/// # What can no longer matter, and why
///
/// Each [`Expired`] kind names rows that every other trait already answers as if they were absent;
/// deleting them therefore changes no answer of the store (and none of the API), only its size.
/// `now` below is the time the caller passes (the service passes a few minutes before its clock,
/// so that a request that read the clock just before a purge, or an instance whose clock lags a
/// little, never sees a row vanish that it would still have accepted).
///
/// * **Refresh tokens past their own expiry** ([`Expired::RefreshTokens`], `expires_at <= now`),
///   spent or not. [`SessionStore::consume_refresh`](super::SessionStore::consume_refresh)
///   answers a token past `expires_at` as [`Consumed::Invalid`](super::Consumed::Invalid) before
///   it looks at `spent_at`, and an unknown token is `Invalid` too. A spent token therefore
///   matters for reuse detection exactly until its own expiry, and a spent token that has **not**
///   expired is kept: presenting it again must still revoke its family. The expiry is the
///   token's own, not the family's: a family that keeps refreshing never expires, and keeping all
///   its spent tokens until it does would let an active session's rows grow without bound, though
///   none of them can be presented with any effect.
/// * **Sessions that can no longer be refreshed** ([`Expired::Sessions`]): ended ones
///   (`revoked_at` set), and live ones without a refresh token that expires after `now`. They
///   are deleted **with their refresh tokens** (which can only answer `Invalid`). What reads a
///   session answers an absent one as it answers these: a token of an unknown or ended session is
///   `Invalid`; [`insert_refresh`](super::SessionStore::insert_refresh) and
///   [`revoke_session`](super::SessionStore::revoke_session) return `false` for both;
///   [`sessions_of_user`](super::SessionStore::sessions_of_user) omits ended sessions, and the
///   service shows a listed session only while its last refresh token can be used. Ending a
///   session appends to the revocation log whether the session row exists or not, so an access
///   token is refused by the log, never by the session row. A refresh in flight against such a
///   session can only fail as it would have: its token was expired (or its session ended).
/// * **Reset and verification tokens that are spent or expired** ([`Expired::ResetTokens`],
///   [`Expired::VerificationTokens`]: `used_at` set, or `expires_at <= now`). Spending or looking
///   up an unknown, a spent or an expired token all answer `None` and change nothing.
/// * **Revocation-log entries no longer in force** ([`Expired::Revocations`],
///   `refused_until <= now`): [`revocations_since`](super::RevocationStore::revocations_since)
///   skips them already. Cursors are **never reused** after a deletion (SQLite `AUTOINCREMENT`,
///   PostgreSQL identity columns, a counter in the memory store), so an instance's cursor never
///   makes it miss an entry appended later, even when every entry was deleted in between.
///
/// Users, API keys (revoked ones are still listed to admins) and signing keys are never deleted
/// here.
///
/// # Batches
///
/// [`delete_expired`](CleanupStore::delete_expired) deletes at most `limit` rows (for
/// [`Expired::Sessions`], at most `limit` sessions, each with its refresh tokens) and returns how
/// many it deleted; a caller repeats until a call returns fewer than `limit`. An SQL store runs
/// each call as one short statement or transaction, so no lock is held for more than one batch,
/// and several callers at once (a janitor on every instance) only share the work: a row is
/// deleted once, and a caller that finds it gone counts it not.
#[async_trait]
pub trait CleanupStore: Send + Sync {
    /// Deletes at most `limit` rows of `kind` that can no longer matter at `now` (see the
    /// [trait documentation](CleanupStore) for each kind's rule, which a store must keep exactly:
    /// deleting a row that can still matter changes an answer, e.g. lets a stolen refresh token's
    /// reuse go unnoticed). Returns how many it deleted. A `limit` of 0 deletes nothing.
    ///
    /// Each call is one bounded step: it never holds a lock (an SQL store: a transaction) for
    /// more than `limit` rows. Concurrent calls are harmless.
    async fn delete_expired(&self, kind: Expired, now: i64, limit: u32) -> StoreResult<u64>;

    /// How many rows of `kind`'s table there are, expired or not (every refresh token, session,
    /// reset or verification token, or revocation-log entry): for tests and operators watching
    /// the tables stay bounded. It may count the whole table.
    async fn count_rows(&self, kind: Expired) -> StoreResult<u64>;
}
