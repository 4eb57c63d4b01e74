//! [`ApiKeyStore`] on [`SqlStore`]: API keys, stored by hash.

use async_trait::async_trait;

use super::SqlStore;
use super::queries::bytes;
use super::revocations::INSERT_REVOCATION;
#[cfg(feature = "postgres")]
use super::revocations::LOCK_REVOCATIONS;
use super::rows;
use crate::secret::TokenHash;
use crate::store::{
    ApiKeyRecord, ApiKeyStore, ApiKeyWithCreator, NewApiKey, StoreResult, api_key_change_entry,
};

const INSERT_API_KEY: &str = "INSERT INTO auth_api_keys \
     (name, hash, prefix, environment, role, org, created_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
const API_KEY_BY_HASH: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE hash = $1"
);
/// The authentication read: the key and its creator's current role in one statement, one
/// consistent snapshot (a role change cannot land between two reads). The join is on the users'
/// primary key after a lookup on the keys' unique `hash`: two index probes.
const API_KEY_WITH_CREATOR: &str = concat!(
    "SELECT ",
    api_key_columns_of_k!(),
    ", u.role AS creator_role \
     FROM auth_api_keys k LEFT JOIN auth_users u ON u.id = k.created_by WHERE k.hash = $1"
);
const API_KEY_BY_ID: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE id = $1"
);
const LIST_API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM auth_api_keys WHERE (org = $1 OR (org IS NULL AND $1 IS NULL)) ORDER BY id"
);
const REVOKE_API_KEY: &str =
    "UPDATE auth_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
/// A use: `last_used_at` only moves forward.
const TOUCH_API_KEY: &str = "UPDATE auth_api_keys SET last_used_at = $2 \
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let id: i64 = scalar!(
            self,
            INSERT_API_KEY,
            [
                &key.name,
                bytes(&key.hash),
                &key.prefix,
                key.environment.as_str(),
                key.role.as_str(),
                key.org.as_deref(),
                key.created_by,
                key.created_at,
            ],
            fetch_one
        );
        Ok(key.into_record(id))
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        fetch_optional!(self, API_KEY_BY_HASH, [bytes(hash)], rows::api_key)
    }

    async fn api_key_with_creator(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<ApiKeyWithCreator>> {
        fetch_optional!(
            self,
            API_KEY_WITH_CREATOR,
            [bytes(hash)],
            rows::api_key_with_creator
        )
    }

    async fn list_api_keys(&self, org: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        fetch_all!(self, LIST_API_KEYS, [org], rows::api_key)
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<Option<ApiKeyRecord>> {
        fetch_optional!(self, API_KEY_BY_ID, [id], rows::api_key)
    }

    async fn revoke_api_key(&self, id: i64, now: i64, refused_until: i64) -> StoreResult<bool> {
        with_pool!(&self.pool, p => {
            // The revocation and its log entry commit together; dropping `tx` rolls back.
            let mut tx = p.begin().await?;
            let revoked = sqlx::query(REVOKE_API_KEY).bind(id).bind(now).execute(&mut *tx).await?;
            if revoked.rows_affected() != 1 {
                return Ok(false);
            }
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_REVOCATIONS).execute(&mut *tx).await?;
            }
            sqlx::query(INSERT_REVOCATION)
                .bind(api_key_change_entry(id))
                .bind(refused_until)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        // One update per key, with its latest time, in id order: two batches touching the same
        // keys lock their rows in the same order (PostgreSQL), so they cannot deadlock.
        let mut uses = uses.to_vec();
        uses.sort_unstable_by_key(|&(id, at)| (id, std::cmp::Reverse(at)));
        uses.dedup_by_key(|&mut (id, _)| id);
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            for (id, at) in uses {
                sqlx::query(TOUCH_API_KEY).bind(id).bind(at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
