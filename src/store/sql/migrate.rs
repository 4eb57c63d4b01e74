//! Embedded migrations and the runner that applies them at start-up.

use super::SqlPool;
use crate::error::{ConfigError, Error, StoreError};

/// One dialect's schema, as an ordered list of scripts: script `i` brings the schema to version
/// `i + 1`.
#[cfg(feature = "sqlite")]
const SQLITE: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../../migrations/sqlite/0002_sealed_secrets.sql"),
    include_str!("../../../migrations/sqlite/0003_indexes_for_user_deletion.sql"),
    include_str!("../../../migrations/sqlite/0004_account_lifecycle.sql"),
    include_str!("../../../migrations/sqlite/0005_cleanup_indexes.sql"),
    include_str!("../../../migrations/sqlite/0006_revocation_notify.sql"),
];
#[cfg(feature = "postgres")]
const POSTGRES: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_initial.sql"),
    include_str!("../../../migrations/postgres/0002_sealed_secrets.sql"),
    include_str!("../../../migrations/postgres/0003_indexes_for_user_deletion.sql"),
    include_str!("../../../migrations/postgres/0004_account_lifecycle.sql"),
    include_str!("../../../migrations/postgres/0005_cleanup_indexes.sql"),
    include_str!("../../../migrations/postgres/0006_revocation_notify.sql"),
];

/// The schema version this build migrates to; both dialects keep the same version numbers.
pub(super) const LATEST: i64 = 6;

#[cfg(feature = "sqlite")]
const _: () = assert!(SQLITE.len() as i64 == LATEST);
#[cfg(feature = "postgres")]
const _: () = assert!(POSTGRES.len() as i64 == LATEST);

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS auth_schema_version (\
     version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";
const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM auth_schema_version";

/// What differs between the dialects when migrating.
struct Dialect {
    /// Starts the migration transaction.
    begin: &'static str,
    /// Serializes concurrent runs, inside the transaction (SQLite's `BEGIN IMMEDIATE` already does).
    lock: Option<&'static str>,
    /// Records a version, stamped with the database's clock.
    record: &'static str,
    scripts: &'static [&'static str],
}

#[cfg(feature = "sqlite")]
const SQLITE_DIALECT: Dialect = Dialect {
    begin: "BEGIN IMMEDIATE",
    lock: None,
    record: "INSERT INTO auth_schema_version (version, applied_at) \
             VALUES ($1, CAST(strftime('%s', 'now') AS INTEGER))",
    scripts: SQLITE,
};

#[cfg(feature = "postgres")]
const POSTGRES_DIALECT: Dialect = Dialect {
    begin: "BEGIN",
    // The key is a fixed number of this crate's own ("asmtauth" in ASCII); the lock is released
    // when the transaction ends.
    lock: Some("SELECT pg_advisory_xact_lock(7022076590619456616)"),
    record: "INSERT INTO auth_schema_version (version, applied_at) \
             VALUES ($1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))",
    scripts: POSTGRES,
};

/// Brings the schema up to date, in one transaction: either every pending script applies or
/// none does.
pub(super) async fn run(pool: &SqlPool) -> Result<(), Error> {
    let dialect = match pool {
        #[cfg(feature = "sqlite")]
        SqlPool::Sqlite(_) => &SQLITE_DIALECT,
        #[cfg(feature = "postgres")]
        SqlPool::Postgres(_) => &POSTGRES_DIALECT,
    };
    let outcome: Result<Migrated, sqlx::Error> = with_pool!(pool, p => async {
        let mut tx = p.begin_with(dialect.begin).await?;
        if let Some(lock) = dialect.lock {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        sqlx::query(CREATE_VERSION_TABLE).execute(&mut *tx).await?;
        let current: i64 = sqlx::query_scalar(CURRENT_VERSION).fetch_one(&mut *tx).await?;
        if current > LATEST {
            return Ok(Migrated::SchemaTooNew);
        }
        let pending = (1i64..).zip(dialect.scripts).filter(|(version, _)| *version > current);
        for (version, script) in pending {
            sqlx::raw_sql(*script).execute(&mut *tx).await?;
            sqlx::query(dialect.record).bind(version).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Migrated::UpToDate)
    }
    .await);
    match outcome.map_err(StoreError::from)? {
        Migrated::UpToDate => Ok(()),
        Migrated::SchemaTooNew => Err(Error::Config(ConfigError::SchemaTooNew)),
    }
}

enum Migrated {
    UpToDate,
    SchemaTooNew,
}
