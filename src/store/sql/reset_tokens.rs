//! [`ResetTokenStore`] on [`SqlStore`]: password-reset tokens, stored by hash.

use async_trait::async_trait;

use super::SqlStore;
use super::queries::bytes;
use crate::secret::TokenHash;
use crate::store::{ResetTokenStore, StoreResult};

/// A hash seen again (only by a host's mistake: reset tokens are 256 random bits) replaces the
/// old record, as in the memory store.
const INSERT_RESET_TOKEN: &str = "INSERT INTO auth_reset_tokens (hash, user_id, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE \
     SET user_id = excluded.user_id, expires_at = excluded.expires_at, used_at = NULL";
/// The spend, one statement: the presented token and every other pending token of its user are
/// spent together, so of concurrent callers (with one token, or with different tokens of one
/// user) exactly one sees its own token among the rows it changed. On PostgreSQL a loser blocks on
/// the winner's row locks and then finds `used_at` set; SQLite has one writer.
const SPEND_RESET_TOKENS: &str = "UPDATE auth_reset_tokens SET used_at = $2 \
     WHERE used_at IS NULL AND user_id = (SELECT user_id FROM auth_reset_tokens \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2) \
     RETURNING hash, user_id";
const RESET_TOKEN_USER: &str = "SELECT user_id FROM auth_reset_tokens \
     WHERE hash = $1 AND used_at IS NULL AND expires_at > $2";

#[async_trait]
impl ResetTokenStore for SqlStore {
    async fn create_reset_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        execute!(self, INSERT_RESET_TOKEN, [bytes(hash), user_id, expires_at]);
        Ok(())
    }

    async fn reset_token_user(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        Ok(scalar!(
            self,
            RESET_TOKEN_USER,
            [bytes(hash), now],
            fetch_optional
        ))
    }

    async fn consume_reset_token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<i64>> {
        let spent: Vec<(Vec<u8>, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as(SPEND_RESET_TOKENS)
                .bind(bytes(hash))
                .bind(now)
                .fetch_all(p)
                .await?
        });
        Ok(spent
            .iter()
            .find(|(h, _)| h.as_slice() == bytes(hash))
            .map(|&(_, user_id)| user_id))
    }
}
