//! Test databases for the store suites: a memory store, an SQLite file in a temporary directory,
//! and a PostgreSQL schema of its own per test (from `TEST_DATABASE_URL`), dropped afterwards.
//!
//! PostgreSQL rule: without `TEST_DATABASE_URL` a PostgreSQL test prints that it did not run, and
//! why, and passes; with it set the test runs, and an unreachable server fails it. It never skips
//! silently.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::Arc;

use assimetria_auth::store::Store;
use assimetria_auth::store::memory::MemoryStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use assimetria_auth::store::sql::{SqlPool, SqlStore};

/// The environment variable naming the PostgreSQL server for tests.
pub(crate) const DATABASE_URL_VAR: &str = "TEST_DATABASE_URL";

/// One test's database; [`Db::store`] opens a store on it (for SQL databases a new pool each
/// time, as a second process would).
pub(crate) enum Db {
    /// The in-process store: every `store()` is the same object.
    Memory(Arc<MemoryStore>),
    /// An SQLite file.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteDb),
    /// A PostgreSQL schema.
    #[cfg(feature = "postgres")]
    Postgres(PgDb),
}

impl Db {
    /// A fresh memory store.
    pub(crate) fn memory() -> Db {
        Db::Memory(Arc::new(MemoryStore::new()))
    }

    /// A fresh SQLite file.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite() -> Db {
        Db::Sqlite(SqliteDb::new())
    }

    /// A fresh PostgreSQL schema for test `test`, or `None` (after saying so) without
    /// `TEST_DATABASE_URL`.
    #[cfg(feature = "postgres")]
    pub(crate) async fn postgres(test: &str) -> Option<Db> {
        PgDb::new(test).await.map(Db::Postgres)
    }

    /// A store on this database.
    pub(crate) async fn store(&self) -> Arc<dyn Store> {
        match self {
            Db::Memory(m) => Arc::clone(m) as Arc<dyn Store>,
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => Arc::new(db.open().await),
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => Arc::new(db.open().await),
        }
    }

    /// An [`SqlStore`] on this database (panics for the memory store).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) async fn sql_store(&self) -> SqlStore {
        match self {
            Db::Memory(_) => panic!("the memory store is not an SQL store"),
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.open().await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.open().await,
        }
    }
}

/// A conformance-suite fixture (`store_conformance_tests!`) on a fresh PostgreSQL schema, dropped
/// after the case; `None` without `TEST_DATABASE_URL` (see [`Db::postgres`]). The schema and the
/// "did not run" notice are named after the test, which the test harness runs on a thread named
/// after it.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_fixture() -> Option<(Arc<dyn Store>, Db)> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("conformance case");
    let db = Db::postgres(test.rsplit("::").next().unwrap_or(test)).await?;
    Some((db.store().await, db))
}

/// An SQLite database file in its own temporary directory (removed on drop).
#[cfg(feature = "sqlite")]
pub(crate) struct SqliteDb {
    _dir: tempfile::TempDir,
    url: String,
}

#[cfg(feature = "sqlite")]
impl SqliteDb {
    fn new() -> SqliteDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
        SqliteDb { _dir: dir, url }
    }

    /// The connection URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    async fn open(&self) -> SqlStore {
        SqlStore::connect(&self.url)
            .await
            .expect("open the SQLite store")
    }
}

/// A PostgreSQL schema of one test's own, dropped (with everything in it) on drop.
#[cfg(feature = "postgres")]
pub(crate) struct PgDb {
    url: String,
    schema: String,
}

#[cfg(feature = "postgres")]
impl PgDb {
    async fn new(test: &str) -> Option<PgDb> {
        use sqlx::Connection as _;
        let Some(url) = std::env::var(DATABASE_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())
        else {
            not_run(&format!(
                "NOT RUN: PostgreSQL test `{test}` did not run because {DATABASE_URL_VAR} is not \
                 set (e.g. {DATABASE_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
            ));
            return None;
        };
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let short: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(32)
            .collect::<String>()
            .to_ascii_lowercase();
        let schema = format!(
            "t_{short}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!("{DATABASE_URL_VAR} is set but PostgreSQL is unreachable: {e}")
        });
        // The name is built from [a-z0-9_] only, so it is safe to put in the statement.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        conn.close().await.ok();
        Some(PgDb { url, schema })
    }

    /// The schema's name.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// The server's URL (without the schema).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    async fn open(&self) -> SqlStore {
        let options: sqlx::postgres::PgConnectOptions =
            self.url.parse().expect("TEST_DATABASE_URL parses");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.options([("search_path", self.schema.as_str())]))
            .await
            .expect("connect to PostgreSQL");
        SqlStore::from_postgres_pool(pool)
            .await
            .expect("open the PostgreSQL store")
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop may run inside a runtime; do the async clean-up on a thread of its own.
        let url = self.url.clone();
        let schema = std::mem::take(&mut self.schema);
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a PostgreSQL test schema");
        }
    }
}

/// Without the `postgres` feature: a PostgreSQL test cannot run; fail if a database was meant to
/// be used, else say so and pass.
#[cfg(not(feature = "postgres"))]
pub(crate) fn postgres_not_compiled() {
    if std::env::var(DATABASE_URL_VAR).is_ok_and(|u| !u.is_empty()) {
        panic!(
            "{DATABASE_URL_VAR} is set but this test binary was built without the `postgres` \
             feature; run with `--features postgres` (or unset {DATABASE_URL_VAR})"
        );
    }
    not_run(&format!(
        "NOT RUN: PostgreSQL tests are not compiled in (feature `postgres` is off) and \
         {DATABASE_URL_VAR} is not set"
    ));
}

/// Runs a statement on an SQL store's own pool (for tests that tamper with rows).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) async fn execute(store: &SqlStore, sql: &'static str) {
    match store.pool() {
        #[cfg(feature = "sqlite")]
        SqlPool::Sqlite(p) => {
            sqlx::query(sql).execute(p).await.expect("statement runs");
        }
        #[cfg(feature = "postgres")]
        SqlPool::Postgres(p) => {
            sqlx::query(sql).execute(p).await.expect("statement runs");
        }
        _ => unreachable!("no other database is compiled in"),
    }
}

/// Says that a test did not run, on the real stderr: the test harness captures `eprintln!`
/// output of passing tests, and a skipped test must be visible to whoever ran the suite.
pub(crate) fn not_run(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Runs each named case, an `async fn(Db)`, once per store: `memory::<case>`, `sqlite::<case>`
/// (a fresh file) and `postgres::<case>` (a fresh schema; see [`Db::postgres`] for what happens
/// without `TEST_DATABASE_URL`). Declare `#[macro_use] mod stores;` to use it.
#[allow(unused_macros)] // each test binary uses a different part of this module
macro_rules! per_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(Db::memory()).await;
                }
            )*
        }

        #[cfg(feature = "sqlite")]
        mod sqlite {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(Db::sqlite()).await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            use crate::stores::Db;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = Db::postgres(stringify!($case)).await else { return };
                    super::$case(db).await;
                }
            )*
        }

        #[cfg(not(feature = "postgres"))]
        mod postgres {
            #[test]
            fn not_compiled() {
                crate::stores::postgres_not_compiled();
            }
        }
    };
}
