//! The store conformance suite (`assimetria_auth::store::conformance`, feature `test-util`) run
//! against every store of the crate: [`MemoryStore`], `SqlStore` on an SQLite file (in a temporary
//! directory) and `SqlStore` on PostgreSQL (a schema of the test's own, from `TEST_DATABASE_URL`;
//! see `tests/stores/mod.rs` for what happens without it). Then the cases only an SQL store has:
//! unknown stored values, migrations, connection URLs.
//!
//! The test names are `<store>::<case>`, e.g. `sqlite::consume_refresh_race`.
//!
//! [`MemoryStore`]: assimetria_auth::store::memory::MemoryStore

mod stores;

use std::sync::Arc;

use assimetria_auth::store::Store;
use assimetria_auth::store::memory::MemoryStore;

/// One test per SQL-only case, on the database `$open(case name)` gives (`None`: the case does
/// not run, and `$open` has said why).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! sql_only_cases {
    ($open:expr) => {
        sql_only_cases!(@each $open;
            unknown_values_are_corrupt,
            migrations_are_idempotent,
            upgrades_from_version_2,
            upgrades_from_version_3,
            connect_rejects_unknown_schemes,
        );
    };
    (@each $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                if let Some(db) = ($open)(stringify!($case)).await {
                    crate::sql_cases::$case(&db).await;
                }
            }
        )*
    };
}

mod memory {
    use super::*;

    assimetria_auth::store_conformance_tests!(|| async {
        Arc::new(MemoryStore::new()) as Arc<dyn Store>
    });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use crate::stores::Db;

    assimetria_auth::store_conformance_tests!(|| async {
        let db = Db::sqlite();
        (db.store().await, db)
    });

    sql_only_cases!(|_case| async { Some(Db::sqlite()) });

    /// `sqlite::memory:` gives a private database shared by the pool's connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_memory_url() {
        use assimetria_auth::store::conformance::races::consume_refresh_race;
        use assimetria_auth::store::sql::SqlStore;
        let store: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
        let other: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
        consume_refresh_race(Arc::clone(&store)).await;
        assert!(
            other.list_users(Some("acme")).await.unwrap().is_empty(),
            "each one is private"
        );
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use crate::stores::{Db, postgres_fixture};

    assimetria_auth::store_conformance_tests!(postgres_fixture);

    sql_only_cases!(Db::postgres);
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    #[test]
    fn not_compiled() {
        crate::stores::postgres_not_compiled();
    }
}

// ---------------------------------------------------------------------------------------------
// SQL-only cases: things only a database can get wrong (run by `sql_only_cases!` above).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_cases {
    use super::*;
    use crate::stores::{Db, execute};
    use assimetria_auth::api_key::Environment;
    use assimetria_auth::error::StoreError;
    use assimetria_auth::rbac::seed;
    use assimetria_auth::store::TokenHash;
    use assimetria_auth::store::sql::SqlStore;
    use assimetria_auth::store::{
        NewApiKey, NewUser, RefreshRecord, Session, StoredKey, UserStore,
    };
    use assimetria_auth::token::KeyAlgorithm;

    const T0: i64 = 1_700_000_000;

    /// A member of `acme`; its id.
    async fn user(store: &dyn UserStore, email: &str) -> i64 {
        let new = NewUser {
            email: email.to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".to_owned(),
            role: seed::MEMBER,
            org: Some("acme".to_owned()),
            created_at: T0,
            email_verified: false,
        };
        store.create_user(new).await.expect("create user").id
    }

    /// Unknown enum values read back as `Corrupt`, never as a default.
    pub(crate) async fn unknown_values_are_corrupt(db: &Db) {
        let store: Arc<dyn Store> = Arc::new(db.sql_store().await);
        let uid = user(&*store, "ada@example.com").await;
        let key = store
            .create_api_key(NewApiKey {
                name: "k".to_owned(),
                hash: TokenHash::of("k"),
                prefix: "osk_live_k".to_owned(),
                environment: Environment::Live,
                role: seed::VIEWER,
                org: Some("acme".to_owned()),
                created_by: uid,
                created_at: T0,
            })
            .await
            .unwrap();
        let signing_key = StoredKey {
            kid: "key-1".to_owned(),
            algorithm: KeyAlgorithm::Hs256,
            material: vec![1; 32],
            created_at: T0,
        };
        store.insert_signing_key(signing_key).await.unwrap();

        let sql = db.sql_store().await;
        // Role names are the host's policy's; one that is not even well formed is corrupt.
        execute(&sql, "UPDATE auth_users SET role = 'Super User'").await;
        execute(&sql, "UPDATE auth_api_keys SET environment = 'staging'").await;
        execute(&sql, "UPDATE auth_signing_keys SET algorithm = 'none'").await;
        assert!(matches!(
            store.user_by_id(uid).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.list_users(Some("acme")).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.api_key_by_id(key.id).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.signing_keys().await,
            Err(StoreError::Corrupt(_))
        ));

        execute(&sql, "UPDATE auth_users SET role = 'Admin'").await;
        assert!(
            matches!(store.user_by_id(uid).await, Err(StoreError::Corrupt(_))),
            "exact names only"
        );
    }

    /// Opening a store again (a restart, a second process) migrates nothing and keeps the data;
    /// a schema newer than this build is refused.
    pub(crate) async fn migrations_are_idempotent(db: &Db) {
        // Several processes starting at once on an empty database: one migrates, all succeed.
        let (a, b, c) = tokio::join!(db.sql_store(), db.sql_store(), db.sql_store());
        let uid = user(&a, "ada@example.com").await;
        // Reopening (a restart) keeps the data.
        for store in [b, c, db.sql_store().await] {
            let found = store.user_by_email("ada@example.com").await.unwrap();
            assert_eq!(found.map(|u| u.id), Some(uid));
        }
        assert_eq!(SqlStore::schema_version(), 6);
        let sql = db.sql_store().await;
        execute(
            &sql,
            "INSERT INTO auth_schema_version (version, applied_at) VALUES (99, 0)",
        )
        .await;
        let again = match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(s) => SqlStore::connect(s.url()).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(pg) => SqlStore::connect(&pg_url_with_schema(pg)).await,
            Db::Memory(_) => unreachable!(),
        };
        assert!(
            matches!(again, Err(assimetria_auth::Error::Config(_))),
            "a newer schema is refused: {again:?}"
        );
    }

    /// When the session of an older database started: its `last_used_at` after the upgrade.
    const OLD_SESSION_START: i64 = 1_600_000_000;

    /// Rows an older build left: its version table (at `version`), a user with a session, and (in
    /// `SQLITE_KEY`, `POSTGRES_KEY`) a key the user created.
    fn rows_at_version(version: i64) -> String {
        let versions: Vec<String> = (1..=version).map(|v| format!("({v}, 0)")).collect();
        format!(
            "CREATE TABLE auth_schema_version (version BIGINT NOT NULL PRIMARY KEY, \
                 applied_at BIGINT NOT NULL); \
             INSERT INTO auth_schema_version (version, applied_at) VALUES {}; \
             INSERT INTO auth_users (email, password_hash, role, org, created_at) \
                 VALUES ('ada@example.com', 'h', 'member', 'acme', 0); \
             INSERT INTO auth_sessions (id, user_id, created_at, revoked_at) \
                 SELECT 's1', id, {OLD_SESSION_START}, NULL FROM auth_users",
            versions.join(", ")
        )
    }
    /// The key's hash (32 bytes of 0xab) in each dialect's literal.
    #[cfg(feature = "sqlite")]
    const SQLITE_KEY: &str = "INSERT INTO auth_api_keys \
        (name, hash, prefix, environment, role, org, created_by, created_at) \
        SELECT 'k', \
            X'abababababababababababababababababababababababababababababababab', \
            'osk_live_k', 'live', 'viewer', 'acme', id, 0 FROM auth_users";
    #[cfg(feature = "postgres")]
    const POSTGRES_KEY: &str = "INSERT INTO auth_api_keys \
        (name, hash, prefix, environment, role, org, created_by, created_at) \
        SELECT 'k', \
            decode('abababababababababababababababababababababababababababababababab', 'hex'), \
            'osk_live_k', 'live', 'viewer', 'acme', id, 0 FROM auth_users";

    /// Runs `scripts` on the database directly, without opening a store (which would migrate it).
    /// They are this file's own text (the migrations, and rows built from constants only).
    async fn run_raw(db: &Db, scripts: &[&str]) {
        use sqlx::Connection as _;
        match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(s) => {
                let mut conn = sqlx::SqliteConnection::connect(s.url()).await.unwrap();
                for script in scripts {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(*script))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pg) => {
                let options: sqlx::postgres::PgConnectOptions = pg.url().parse().unwrap();
                let options = options.options([("search_path", pg.schema())]);
                let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
                for script in scripts {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(*script))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
            }
            Db::Memory(_) => unreachable!(),
        }
    }

    /// Each dialect's migrations, in order: script `i` brings the schema to version `i + 1`.
    #[cfg(feature = "sqlite")]
    const SQLITE_SCRIPTS: [&str; 3] = [
        include_str!("../migrations/sqlite/0001_initial.sql"),
        include_str!("../migrations/sqlite/0002_sealed_secrets.sql"),
        include_str!("../migrations/sqlite/0003_indexes_for_user_deletion.sql"),
    ];
    #[cfg(feature = "postgres")]
    const POSTGRES_SCRIPTS: [&str; 3] = [
        include_str!("../migrations/postgres/0001_initial.sql"),
        include_str!("../migrations/postgres/0002_sealed_secrets.sql"),
        include_str!("../migrations/postgres/0003_indexes_for_user_deletion.sql"),
    ];

    /// A database at schema version 2 is brought to the current version when a store opens it
    /// (the indexes of version 3 replace one and add three; version 4 adds the account
    /// lifecycle), keeps its rows, and serves the new reads and the removal of a user.
    pub(crate) async fn upgrades_from_version_2(db: &Db) {
        upgrades_from(db, 2).await;
    }

    /// A database at schema version 3 (the previous release) is brought to version 4: existing
    /// users unverified, existing sessions last used when they started and without client
    /// details, and verification tokens stored and spent.
    pub(crate) async fn upgrades_from_version_3(db: &Db) {
        upgrades_from(db, 3).await;
    }

    /// A database left at `version` by an older build, opened by this one.
    async fn upgrades_from(db: &Db, version: i64) {
        let rows = rows_at_version(version);
        let up_to = version as usize;
        match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(_) => {
                let mut scripts = SQLITE_SCRIPTS[..up_to].to_vec();
                scripts.extend([rows.as_str(), SQLITE_KEY]);
                run_raw(db, &scripts).await;
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => {
                let mut scripts = POSTGRES_SCRIPTS[..up_to].to_vec();
                scripts.extend([rows.as_str(), POSTGRES_KEY]);
                run_raw(db, &scripts).await;
            }
            Db::Memory(_) => unreachable!(),
        }
        let store = db.store().await;
        let ada = store.user_by_email("ada@example.com").await.unwrap();
        let ada = ada.expect("the user of the older version is still there");
        assert!(!ada.email_verified, "existing users are not verified");
        assert_eq!(
            store.sessions_of_user(ada.id).await.unwrap(),
            [Session::new("s1".to_owned(), ada.id, OLD_SESSION_START)],
            "an existing session: last used when it started, no client details"
        );
        let key_hash = TokenHash::from_bytes([0xab; 32]);
        let found = store.api_key_with_creator(&key_hash).await.unwrap();
        let found = found.expect("the key of the older version is still there");
        assert_eq!(
            (found.key.created_by, found.creator_role),
            (ada.id, Some(seed::MEMBER))
        );
        // The new table and columns are written and read.
        let next = RefreshRecord::new(TokenHash::of("next"), "s1".to_owned(), ada.id, T0, T0 + 9);
        assert!(store.insert_refresh(next).await.unwrap());
        assert_eq!(
            store.sessions_of_user(ada.id).await.unwrap()[0].last_used_at,
            T0
        );
        let token = TokenHash::of("verify");
        store
            .create_verification_token(&token, ada.id, T0 + 100)
            .await
            .unwrap();
        assert_eq!(
            store.consume_verification_token(&token, T0).await.unwrap(),
            Some(ada.id)
        );
        assert!(
            store
                .user_by_id(ada.id)
                .await
                .unwrap()
                .unwrap()
                .email_verified
        );
        let ended = store
            .delete_user_ending_sessions(ada.id, T0, T0 + 9)
            .await
            .unwrap();
        assert_eq!(ended, Some(vec!["s1".to_owned()]));
        assert_eq!(store.api_key_by_hash(&key_hash).await.unwrap(), None);
        assert_eq!(store.user_by_id(ada.id).await.unwrap(), None);
    }

    /// `SqlStore::connect` with the schema in the URL's `options` parameter.
    #[cfg(feature = "postgres")]
    fn pg_url_with_schema(pg: &crate::stores::PgDb) -> String {
        let sep = if pg.url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", pg.url(), pg.schema())
    }

    /// Bad URLs are configuration errors, not panics.
    pub(crate) async fn connect_rejects_unknown_schemes(_db: &Db) {
        for url in ["mysql://localhost/db", "", "sqlite", "http://example.com"] {
            let r = SqlStore::connect(url).await;
            assert!(
                matches!(r, Err(assimetria_auth::Error::Config(_))),
                "{url}: {r:?}"
            );
        }
    }
}
