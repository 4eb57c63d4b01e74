//! What every storage module of [`SqlStore`](super::SqlStore) shares: the shapes of a
//! one-statement call, and how a token hash is bound. Every query is written once, with `$n`
//! placeholders that both SQLite and PostgreSQL accept, and runs on whichever pool the store holds.
//!
//! The trait implementations live one module per kind of record (`users`, `sessions`,
//! `api_keys`, `reset_tokens`, `verification_tokens`, `revocations`, `keys`), as the conformance
//! suite's cases do.

use crate::secret::TokenHash;

// The shapes of a one-statement call: `$sql` with `$arg`s bound in order (never interpolated), run
// on the store's pool. Each evaluates to the same type for every database, as `with_pool!` needs.

/// At most one row, read back with `$map`: a `StoreResult<Option<T>>`.
macro_rules! fetch_optional {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $map:path) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .fetch_optional(p)
            .await?
            .map(|row| $map(&row))
            .transpose())
    };
}

/// Every row, read back with `$map`: a `StoreResult<Vec<T>>`.
macro_rules! fetch_all {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $map:path) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .fetch_all(p)
            .await?
            .iter()
            .map($map)
            .collect())
    };
}

/// The first column of the result, fetched with `$fetch` (`fetch_one`, `fetch_optional`,
/// `fetch_all`); the caller names the type.
macro_rules! scalar {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?], $fetch:ident) => {
        with_pool!(&$store.pool, p => sqlx::query_scalar($sql)
            $(.bind($arg))*
            .$fetch(p)
            .await?)
    };
}

/// Runs a statement: the number of rows it changed.
macro_rules! execute {
    ($store:expr, $sql:expr, [$($arg:expr),* $(,)?]) => {
        with_pool!(&$store.pool, p => sqlx::query($sql)
            $(.bind($arg))*
            .execute(p)
            .await?
            .rows_affected())
    };
}

/// The bytes a token hash is stored as.
pub(super) fn bytes(hash: &TokenHash) -> &[u8] {
    hash.as_bytes()
}
