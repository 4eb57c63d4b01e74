//! [`VerificationTokenStore`] on [`SqlStore`]: email-verification tokens, stored by hash and
//! spent like reset tokens, with the user's address marked verified in the same transaction.

use async_trait::async_trait;

use super::SqlStore;
use super::queries::bytes;
use crate::secret::TokenHash;
use crate::store::{StoreResult, VerificationTokenStore};

/// A hash seen again (only by a host's mistake: tokens are 256 random bits) replaces the old
/// record, as reset tokens do.
const INSERT_VERIFICATION_TOKEN: &str = "INSERT INTO auth_verification_tokens \
     (hash, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE \
     SET user_id = excluded.user_id, expires_at = excluded.expires_at, used_at = NULL";
/// The first statement of a spend: marks the address of the presented token's user verified, if
/// the token is pending. It takes the user row first (on SQLite, the write lock), in the order
/// the removal of a user takes its rows (the user, then what refers to it), so the two cannot
/// deadlock. Of concurrent spends, the later ones wait here for the first to commit.
const MARK_VERIFIED: &str = "UPDATE auth_users SET email_verified = TRUE \
     WHERE id = (SELECT user_id FROM auth_verification_tokens \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2)";
/// The spend itself, as for reset tokens: the presented token and every other pending token of
/// its user, in one statement (READ COMMITTED: a fresh snapshot, which sees an earlier winner's
/// commit). The caller won only if its own token is among the rows changed.
const SPEND_VERIFICATION_TOKENS: &str = "UPDATE auth_verification_tokens SET used_at = $2 \
     WHERE used_at IS NULL AND user_id = (SELECT user_id FROM auth_verification_tokens \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2) \
     RETURNING hash, user_id";

#[async_trait]
impl VerificationTokenStore for SqlStore {
    async fn create_verification_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        // A deleted user fails the foreign key: an error, nothing stored.
        execute!(
            self,
            INSERT_VERIFICATION_TOKEN,
            [bytes(hash), user_id, expires_at]
        );
        Ok(())
    }

    async fn consume_verification_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        with_pool!(&self.pool, p => {
            // One transaction: the mark and the spend together or neither. Dropping `tx` (an
            // invalid token, a lost race, any error) rolls everything back, so a caller that gets
            // `None` changed nothing.
            let mut tx = p.begin().await?;
            let marked = sqlx::query(MARK_VERIFIED)
                .bind(bytes(hash))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if marked.rows_affected() == 0 {
                return Ok(None);
            }
            let spent: Vec<(Vec<u8>, i64)> = sqlx::query_as(SPEND_VERIFICATION_TOKENS)
                .bind(bytes(hash))
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            let Some(&(_, user_id)) = spent.iter().find(|(h, _)| h.as_slice() == bytes(hash))
            else {
                return Ok(None);
            };
            tx.commit().await?;
            Ok(Some(user_id))
        })
    }
}
