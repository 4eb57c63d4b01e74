//! [`SigningKeyStore`] on [`SqlStore`]: sealed signing keys and server secrets.

use async_trait::async_trait;

use super::SqlStore;
use super::rows;
use crate::store::{SigningKeyStore, StoreResult, StoredKey};

const INSERT_SIGNING_KEY: &str = "INSERT INTO auth_signing_keys \
     (kid, algorithm, material, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (kid) DO NOTHING";
/// Only into an empty table. On PostgreSQL the caller first takes a table lock that conflicts
/// with itself, so two instances starting at once cannot both see "empty".
const INSERT_FIRST_SIGNING_KEY: &str = "INSERT INTO auth_signing_keys \
     (kid, algorithm, material, created_at) SELECT $1, $2, $3, $4 \
     WHERE NOT EXISTS (SELECT 1 FROM auth_signing_keys)";
#[cfg(feature = "postgres")]
const LOCK_SIGNING_KEYS: &str = "LOCK TABLE auth_signing_keys IN SHARE ROW EXCLUSIVE MODE";
const RESEAL_SIGNING_KEY: &str =
    "UPDATE auth_signing_keys SET material = $3 WHERE kid = $1 AND material = $2";
const DELETE_SIGNING_KEY: &str = "DELETE FROM auth_signing_keys WHERE kid = $1";
const INSERT_SECRET: &str = "INSERT INTO auth_secrets (name, material, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
const SECRET: &str = "SELECT material FROM auth_secrets WHERE name = $1";
const RESEAL_SECRET: &str =
    "UPDATE auth_secrets SET material = $3 WHERE name = $1 AND material = $2";
/// Insertion order (`seq`), so that every instance agrees on which key is the newest.
const SIGNING_KEYS: &str = concat!(
    "SELECT ",
    signing_key_columns!(),
    " FROM auth_signing_keys ORDER BY seq"
);

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn insert_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        execute!(
            self,
            INSERT_SIGNING_KEY,
            [
                &key.kid,
                key.algorithm.as_str(),
                &key.material[..],
                key.created_at
            ]
        );
        self.signing_keys().await
    }

    async fn insert_first_signing_key(&self, key: StoredKey) -> StoreResult<Vec<StoredKey>> {
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            #[cfg(feature = "postgres")]
            if self.pool.is_postgres() {
                sqlx::query(LOCK_SIGNING_KEYS).execute(&mut *tx).await?;
            }
            sqlx::query(INSERT_FIRST_SIGNING_KEY)
                .bind(&key.kid)
                .bind(key.algorithm.as_str())
                .bind(&key.material[..])
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.signing_keys().await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        fetch_all!(self, SIGNING_KEYS, [], rows::signing_key)
    }

    async fn reseal_signing_key(
        &self,
        kid: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        Ok(execute!(self, RESEAL_SIGNING_KEY, [kid, expected, material]) == 1)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        Ok(execute!(self, DELETE_SIGNING_KEY, [kid]) == 1)
    }

    async fn insert_secret(&self, name: &str, material: &[u8], now: i64) -> StoreResult<Vec<u8>> {
        execute!(self, INSERT_SECRET, [name, material, now]);
        Ok(scalar!(self, SECRET, [name], fetch_one))
    }

    async fn reseal_secret(
        &self,
        name: &str,
        expected: &[u8],
        material: &[u8],
    ) -> StoreResult<bool> {
        Ok(execute!(self, RESEAL_SECRET, [name, expected, material]) == 1)
    }
}
