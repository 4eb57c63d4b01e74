//! [`SqlStore`]: every storage trait on SQLite (feature `sqlite`, the default) or PostgreSQL
//! (feature `postgres`), through [sqlx].
//!
//! # Choosing a store
//!
//! | store | use it when |
//! |---|---|
//! | [`MemoryStore`](super::memory::MemoryStore) | tests, examples, a single process that may lose every account on restart |
//! | `SqlStore` on **SQLite** | one machine: any number of processes on one host sharing one database file |
//! | `SqlStore` on **PostgreSQL** | several machines: every instance of the service connects to one database |
//!
//! All three keep the same contracts (one conformance suite, `store::conformance` with the
//! `test-util` feature, runs against each), so a deployment can start on a SQLite file and move
//! to PostgreSQL without code changes beyond the connection string.
//!
//! # Connecting
//!
//! ```no_run
//! # async fn demo() -> Result<(), assimetria_auth::Error> {
//! use std::sync::Arc;
//! use assimetria_auth::store::sql::SqlStore;
//!
//! let store = Arc::new(SqlStore::connect("sqlite://auth.db?mode=rwc").await?);
//! # let _ = store;
//! # Ok(()) }
//! ```
//!
//! [`SqlStore::connect`] takes a URL; the scheme picks the database (only schemes whose feature is
//! compiled in are accepted, anything else is [`Error::Config`]):
//!
//! | URL | meaning |
//! |---|---|
//! | `sqlite://path/to/auth.db` or `sqlite:path/to/auth.db` | the file, created if missing (relative paths are relative to the working directory) |
//! | `sqlite:///var/lib/app/auth.db` | an absolute path |
//! | `sqlite://auth.db?mode=rwc` | the same, with sqlx's explicit `mode` parameter (the store needs write access: not `ro`) |
//! | `sqlite::memory:` | a private in-memory database, shared by the pool's connections, gone when the pool closes |
//! | `postgres://user:password@host:5432/dbname` (or `postgresql://`) | a PostgreSQL database |
//! | `postgres://…/dbname?options=-csearch_path%3Dauth` | the same, with the tables in schema `auth` |
//! | `postgres://…/dbname?sslmode=verify-full` | over TLS, the server's certificate checked (see [`SqlStore::connect`]) |
//!
//! SQLite connections are opened in WAL journal mode (readers never block the writer), with
//! foreign keys enforced, `synchronous = NORMAL` (commits survive a process crash; a power loss may
//! undo the last few but cannot corrupt the file) and a 5 s busy timeout, so concurrent writers —
//! threads or processes — queue instead of failing. PostgreSQL connections use the server's defaults
//! (`READ COMMITTED`). PostgreSQL connections can use TLS (rustls): [`SqlStore::connect`] lists the
//! `sslmode` settings.
//!
//! On PostgreSQL the store also announces appends to the revocation log (LISTEN/NOTIFY, from
//! triggers that every write path fires), so that other instances refuse a logged-out session's
//! tokens within milliseconds rather than at their next poll; see
//! [`RevocationStore::revocation_feed`]. Each service holds one more connection for it, opened
//! with the pool's settings and named `<application_name> revocation feed` (or `assimetria-auth
//! revocation feed`) in `pg_stat_activity`.
//!
//! To size or tune the pool yourself (or to share it with the host's own tables), build it and
//! hand it over with `SqlStore::from_sqlite_pool` (feature `sqlite`) or
//! `SqlStore::from_postgres_pool` (feature `postgres`); `SqlStore::sqlite_connect_options` gives
//! the SQLite settings above for a URL.
//!
//! # Schema and migrations
//!
//! Every constructor brings the schema up to date before returning. The migrations are embedded in
//! the crate (`migrations/sqlite/*.sql`, `migrations/postgres/*.sql`: one schema, two dialects
//! that differ only in column types) and tracked in the table `auth_schema_version`. Applying them
//! is idempotent and safe when several processes start at once: on SQLite the migration runs in a
//! `BEGIN IMMEDIATE` transaction (one writer at a time), on PostgreSQL in a transaction holding a
//! transaction-scoped advisory lock. A database whose schema is newer than this build is refused
//! with [`Error::Config`] rather than used.
//!
//! Every table is prefixed `auth_` so that the store can share a database (and a PostgreSQL schema)
//! with the host's own tables. On PostgreSQL the tables live in the first schema of the
//! connection's `search_path`.
//!
//! # Representation
//!
//! * Timestamps are `i64` Unix seconds (`INTEGER` / `BIGINT`).
//! * Token hashes (refresh tokens, reset and verification tokens, API keys) are 32-byte `BLOB` /
//!   `BYTEA` values, checked by a constraint: half the size of hex text in the table and its
//!   index, and no question of letter case when comparing.
//! * Flags (`auth_users.email_verified`) are `BOOLEAN` on PostgreSQL and, since SQLite's `STRICT`
//!   tables have no such type, `INTEGER` 0 or 1 (checked by a constraint) on SQLite.
//! * Roles, environments and key algorithms are `TEXT` (`admin`/`member`/`viewer`, `live`/`test`,
//!   `HS256`/`EdDSA`); any other stored value reads back as [`StoreError::Corrupt`].
//! * Every value reaches the database as a bound parameter; no query text is built from input.
//!
//! # Concurrency
//!
//! * Spending a refresh or reset token is one conditional `UPDATE … RETURNING`; the database
//!   serializes concurrent updates of one row, so exactly one caller wins, across processes. The
//!   others then read the row to report the winner's `spent_at`. Spending a verification token is
//!   the same `UPDATE`, in a transaction that first marks the token's user verified (taking the
//!   user row, as a removal does first); a caller whose token is not among the rows it spent rolls
//!   both back.
//! * Writes that end a user's sessions ([`UserStore::update_user_ending_sessions`], the
//!   compare-and-set [`UserStore::change_password_ending_sessions`]) are one transaction whose
//!   first statement writes the user row, and a new session first takes that row `FOR SHARE` on
//!   PostgreSQL: a session is either among those ended or created after the change committed.
//! * Adding a refresh token ([`SessionStore::insert_refresh`]) is one transaction that first
//!   moves the live session's `last_used_at` (holding the session row), then inserts the token.
//! * The revocation log's cursor is its autoincrement id. On PostgreSQL, ids handed out to
//!   concurrent transactions could otherwise become visible out of order (id 8 committed while 7 is
//!   still in flight), letting a poller step past 7 for good; [`RevocationStore::append_revocations`]
//!   therefore takes `LOCK TABLE auth_revocations IN SHARE ROW EXCLUSIVE MODE` (which conflicts
//!   with itself but not with readers) in its transaction, so ids are allocated and committed one
//!   writer at a time, in order. SQLite has a single writer, so its ids are always committed in
//!   order.
//! * Removing a user ([`UserStore::delete_user_ending_sessions`]) is one transaction that first
//!   takes the user row: on PostgreSQL `SELECT … FOR UPDATE` (then the user's sessions, likewise),
//!   on SQLite a `BEGIN IMMEDIATE` transaction. A session, API key, reset or verification token
//!   being created for the user at the same time either commits first and is deleted with the
//!   user, or waits and then fails its foreign key; a refresh token being added to one of the
//!   user's sessions likewise.
//! * Signing keys are ordered by an autoincrement column (insertion order), so every instance
//!   picks the same newest key as the active signer.
//!
//! # Housekeeping
//!
//! Spent and expired refresh tokens, dead sessions, spent and expired reset and verification
//! tokens and revocation-log entries no longer in force are deleted in bounded batches through
//! [`CleanupStore`](super::CleanupStore) (the service's janitor, or
//! [`AuthService::purge_expired`](crate::AuthService::purge_expired)), each batch one short
//! statement or transaction, through an index on its predicate (sessions: a walk of the live
//! ones, see the `cleanup` module). Revocation-log ids are never
//! reused, so pollers' cursors stay valid.
//!
//! [`Error::Config`]: crate::Error::Config
//! [`StoreError::Corrupt`]: crate::error::StoreError::Corrupt
//! [`RevocationStore::append_revocations`]: super::RevocationStore::append_revocations
//! [`RevocationStore::revocation_feed`]: super::RevocationStore::revocation_feed
//! [`UserStore::delete_user_ending_sessions`]: super::UserStore::delete_user_ending_sessions
//! [`UserStore::update_user_ending_sessions`]: super::UserStore::update_user_ending_sessions
//! [`UserStore::change_password_ending_sessions`]: super::UserStore::change_password_ending_sessions
//! [`SessionStore::insert_refresh`]: super::SessionStore::insert_refresh

use crate::error::{ConfigError, Error, StoreError};

#[cfg(feature = "postgres")]
use sqlx::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::SqlitePool;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqliteConnectOptions;

/// Runs `$body` with `$pool` bound to the concrete pool of `$sql_pool` (a [`SqlPool`]). The body is
/// written once and compiled once per dialect, so a query shared by both databases (they both
/// accept `$1`-style placeholders) appears once in the source.
macro_rules! with_pool {
    ($sql_pool:expr, $pool:ident => $body:expr) => {
        match $sql_pool {
            #[cfg(feature = "sqlite")]
            $crate::store::sql::SqlPool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            $crate::store::sql::SqlPool::Postgres($pool) => $body,
        }
    };
}

// `rows` and `queries` first: their macros (column lists, call shapes) are used by the modules
// after them.
#[macro_use]
mod rows;
#[macro_use]
mod queries;
mod api_keys;
mod cleanup;
#[cfg(feature = "postgres")]
mod feed;
mod keys;
mod migrate;
mod reset_tokens;
mod revocations;
mod sessions;
mod users;
mod verification_tokens;

/// The connection pool behind a [`SqlStore`]: one variant per database compiled in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlPool {
    /// An SQLite pool (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite(SqlitePool),
    /// A PostgreSQL pool (feature `postgres`).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(PgPool),
}

impl SqlPool {
    /// Whether this is a PostgreSQL pool.
    pub fn is_postgres(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(_) => true,
        }
    }

    /// Closes the pool: waits for checked-out connections to come back, then closes them all.
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

/// Every storage trait on an SQL database. Cheap to clone (the pool is shared).
///
/// See the [module documentation](self) for connection strings, the schema and the concurrency
/// guarantees.
///
/// ```no_run
/// use std::sync::Arc;
/// use assimetria_auth::{AuthConfig, AuthService, SqlStore};
///
/// # async fn run() -> Result<(), assimetria_auth::Error> {
/// // An SQLite file, created if missing; or "postgres://user@host/db" with feature `postgres`.
/// let store = SqlStore::connect("sqlite://auth.db?mode=rwc").await?;
/// let auth = AuthService::builder(AuthConfig::default(), Arc::new(store)).build().await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: SqlPool,
}

/// How long an SQLite connection waits for another writer before giving up.
#[cfg(feature = "sqlite")]
const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens an SQLite pool. Switching a new database file to WAL takes an exclusive lock that SQLite
/// does not wait for (the busy timeout does not apply), so when several processes open a new file
/// at once all but one fail with "database is locked"; they try again, for up to the busy timeout.
///
/// An in-memory database lives as long as one of its connections, so for one the pool never
/// retires idle or old connections.
#[cfg(feature = "sqlite")]
async fn connect_sqlite(
    options: SqliteConnectOptions,
    in_memory: bool,
) -> Result<SqlitePool, StoreError> {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(25);
    let attempts = SQLITE_BUSY_TIMEOUT.as_millis() / PAUSE.as_millis();
    let mut pool_options = sqlx::sqlite::SqlitePoolOptions::new();
    if in_memory {
        pool_options = pool_options.idle_timeout(None).max_lifetime(None);
    }
    let mut attempt = 0;
    loop {
        match pool_options.clone().connect_with(options.clone()).await {
            Err(e) if attempt < attempts && is_sqlite_busy(&e) => attempt += 1,
            result => return result.map_err(StoreError::from),
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, extended codes included.
#[cfg(feature = "sqlite")]
fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

impl SqlStore {
    /// Connects to the database named by `url` (see the [module documentation](self) for the
    /// formats), creating an SQLite file if it is missing, and brings the schema up to date.
    ///
    /// # TLS to PostgreSQL
    ///
    /// The `sslmode` parameter says how (with feature `postgres`, TLS is rustls with the *ring*
    /// provider; the trusted roots are Mozilla's, built in, plus any `sslrootcert`):
    ///
    /// | URL | connection |
    /// |---|---|
    /// | `postgres://app@db.example.com/auth?sslmode=verify-full` | TLS; the certificate must chain to a public CA and name `db.example.com`. Use this over any network you do not control |
    /// | `postgres://app@db.internal/auth?sslmode=verify-full&sslrootcert=/etc/auth/db-ca.pem` | the same, also trusting the CA in that PEM file: a private CA, or a managed database's (the provider publishes its CA bundle) |
    /// | `postgres://app@db.internal/auth?sslmode=require` | TLS, but any certificate is accepted: encrypted, yet open to whoever can intercept the connection |
    /// | `postgres://app@localhost/auth?sslmode=disable` | no TLS (a local socket or a trusted private network) |
    ///
    /// Without `sslmode` (or `PGSSLMODE`) the mode is `prefer`, as with libpq: TLS when the server
    /// offers it, unverified, else plain text. `verify-ca` checks the chain but not the name.
    /// `sslrootcert` (also `PGSSLROOTCERT`) adds to the built-in roots rather than replacing them.
    /// The host name checked is the URL's host (or a `host=` parameter): connect by the name the
    /// certificate carries, not by address. Client certificates: `sslcert=` and `sslkey=`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL whose scheme is unknown or whose feature is not compiled in;
    /// [`Error::Store`] if the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<SqlStore, Error> {
        if url.starts_with("sqlite:") {
            #[cfg(feature = "sqlite")]
            {
                let options = Self::sqlite_connect_options(url)?;
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let pool = connect_sqlite(options, in_memory).await?;
                return Self::from_sqlite_pool(pool).await;
            }
            #[cfg(not(feature = "sqlite"))]
            return Err(Error::Config(ConfigError::UnsupportedDatabaseUrl));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                let options: sqlx::postgres::PgConnectOptions = url
                    .parse()
                    .map_err(|_| Error::Config(ConfigError::InvalidDatabaseUrl))?;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .connect_with(options)
                    .await
                    .map_err(StoreError::from)?;
                return Self::from_postgres_pool(pool).await;
            }
            #[cfg(not(feature = "postgres"))]
            return Err(Error::Config(ConfigError::UnsupportedDatabaseUrl));
        }
        Err(Error::Config(ConfigError::UnsupportedDatabaseUrl))
    }

    /// The connection settings [`connect`](Self::connect) uses for an SQLite URL: the file is
    /// created if missing, WAL journal mode, foreign keys on, `synchronous = NORMAL`, a 5 s busy
    /// timeout. For hosts that build their own pool and pass it to
    /// [`from_sqlite_pool`](Self::from_sqlite_pool).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the URL does not parse.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_connect_options(url: &str) -> Result<SqliteConnectOptions, Error> {
        use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        let options: SqliteConnectOptions = url
            .parse()
            .map_err(|_| Error::Config(ConfigError::InvalidDatabaseUrl))?;
        Ok(options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT))
    }

    /// A store over an existing SQLite pool; brings the schema up to date. Configure the pool's
    /// connections like [`sqlite_connect_options`](Self::sqlite_connect_options) does (at least
    /// foreign keys and a busy timeout; WAL for concurrent readers).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if migrating fails; [`Error::Config`] if the schema is newer than this
    /// build.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn from_sqlite_pool(pool: SqlitePool) -> Result<SqlStore, Error> {
        Self::from_pool(SqlPool::Sqlite(pool)).await
    }

    /// A store over an existing PostgreSQL pool; brings the schema up to date. The tables are
    /// created in (and read from) the first schema of the connections' `search_path`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if migrating fails; [`Error::Config`] if the schema is newer than this
    /// build.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn from_postgres_pool(pool: PgPool) -> Result<SqlStore, Error> {
        Self::from_pool(SqlPool::Postgres(pool)).await
    }

    async fn from_pool(pool: SqlPool) -> Result<SqlStore, Error> {
        migrate::run(&pool).await?;
        Ok(SqlStore { pool })
    }

    /// The connection pool, for hosts that keep their own tables in the same database.
    pub fn pool(&self) -> &SqlPool {
        &self.pool
    }

    /// The schema version this build of the crate migrates to.
    pub fn schema_version() -> i64 {
        migrate::LATEST
    }

    /// Closes the pool (see [`SqlPool::close`]).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
