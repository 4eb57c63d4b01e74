//! Pushed revocations: on PostgreSQL every append to the revocation log is announced
//! (LISTEN/NOTIFY), and another instance refuses the revoked credential without polling.
//!
//! Each PostgreSQL case opens two services over one schema, each with its OWN `SqlStore` (its own
//! pool, as two processes would), with timed polling OFF, so that only the push can carry a
//! change from one to the other. Without `TEST_DATABASE_URL` the PostgreSQL cases say that they
//! did not run and pass; with it set, an unreachable server fails them (see `tests/stores/`).
//! SQLite gives no feed: its instances poll, whatever the builder says.

mod harness;
#[macro_use]
mod stores;

use std::time::{Duration, Instant};

use assimetria_auth::error::TokenError;
use assimetria_auth::rbac::seed;
use assimetria_auth::store::Store;
use assimetria_auth::{AuthConfig, AuthService, Error, MasterKey};
use std::sync::Arc;

use harness::signed_in;
use stores::Db;

/// How long a pushed change may take to reach the other instance before the case fails: generous,
/// since the machine may be busy (the bench measures the real latency).
const DEADLINE: Duration = Duration::from_secs(10);

/// A service over `store` with timed polling `polling` (the deployment's master key, no rate
/// limits).
async fn service(store: Arc<dyn Store>, polling: bool) -> AuthService {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .master_keys(vec![MasterKey::from_bytes([42; 32])])
        .build()
        .expect("valid config");
    AuthService::builder(config, store)
        .revocation_polling(polling)
        .build()
        .await
        .expect("service builds")
}

/// Waits until `service` refuses `credential`; fails if it still accepts it after [`DEADLINE`].
async fn refused(service: &AuthService, credential: &str) -> Error {
    let start = Instant::now();
    loop {
        match service.authenticate(credential).await {
            Err(e) => return e,
            Ok(p) if start.elapsed() >= DEADLINE => {
                panic!("still accepted after {DEADLINE:?}: {p:?}")
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// A logout on A reaches B, whose polling is off, so that SQLite (no feed) shows polling still
/// carries it there: the builder falls back to polling for a store that cannot push.
async fn logout_reaches(a: &AuthService, b: &AuthService) {
    let ada = signed_in(a, "ada@example.com", seed::MEMBER).await;
    b.authenticate(ada.access()).await.expect("B accepts");
    a.logout(&ada.principal).await.expect("logout");
    let refusal = refused(b, ada.access()).await;
    assert!(
        matches!(refusal, Error::InvalidToken(TokenError::Revoked)),
        "{refusal:?}"
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gives_no_feed_and_its_instances_still_poll() {
    let db = Db::sqlite();
    let store = db.store().await;
    assert!(
        store.revocation_feed().await.expect("no error").is_none(),
        "SQLite cannot announce appends"
    );
    let a = service(db.store().await, true).await;
    // Polling "off" on a store that cannot push: polled anyway, else B would never learn.
    let b = service(db.store().await, false).await;
    logout_reaches(&a, &b).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use assimetria_auth::Password;
    use assimetria_auth::api_key::Environment;
    use assimetria_auth::store::RevocationStore as _;
    use assimetria_auth::store::sql::{SqlPool, SqlStore};
    use harness::PASSWORD;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A PostgreSQL schema of this test's own and the `application_name` its stores' connections
    /// carry (so that its feed connections can be told from every other test's), or `None`
    /// without `TEST_DATABASE_URL`.
    struct Pg {
        db: Db,
        app: String,
    }

    impl Pg {
        async fn new(test: &str) -> Option<Pg> {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let db = Db::postgres(test).await?;
            let app = format!(
                "push-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            Some(Pg { db, app })
        }

        fn pg(&self) -> &stores::PgDb {
            match &self.db {
                Db::Postgres(pg) => pg,
                _ => unreachable!("a PostgreSQL database"),
            }
        }

        /// A store with a pool of its own, as another process would open.
        async fn store(&self) -> SqlStore {
            let pg = self.pg();
            let options: sqlx::postgres::PgConnectOptions =
                pg.url().parse().expect("TEST_DATABASE_URL parses");
            let options = options
                .options([("search_path", pg.schema())])
                .application_name(&self.app);
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .expect("connect to PostgreSQL");
            SqlStore::from_postgres_pool(pool).await.expect("store")
        }

        /// Two services, each over its own store, timed polling off on both.
        async fn pair(&self) -> (AuthService, AuthService) {
            let a = service(Arc::new(self.store().await), false).await;
            let b = service(Arc::new(self.store().await), false).await;
            (a, b)
        }

        /// The backend pids of this test's feed connections.
        async fn feed_pids(&self, via: &SqlStore) -> Vec<i32> {
            let SqlPool::Postgres(p) = via.pool() else {
                unreachable!()
            };
            sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid",
            )
            .bind(format!("{} revocation feed", self.app))
            .fetch_all(p)
            .await
            .expect("read pg_stat_activity")
        }

        /// Terminates these backends (this test's own), as a failover or a reaper of idle
        /// connections would; whether each was signalled.
        async fn terminate(&self, via: &SqlStore, pids: &[i32]) -> Vec<bool> {
            let SqlPool::Postgres(p) = via.pool() else {
                unreachable!()
            };
            sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
                .bind(pids)
                .fetch_all(p)
                .await
                .expect("terminate the feed backends")
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_logout_is_pushed_to_an_instance_that_does_not_poll() {
        let Some(pg) = Pg::new("push_logout").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        logout_reaches(&a, &b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_api_key_revocation_is_pushed() {
        let Some(pg) = Pg::new("push_api_key").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        let admin = signed_in(&a, "admin@example.com", seed::ADMIN).await;
        let created = a
            .create_api_key(&admin.principal, "ci", Environment::Live, None)
            .await
            .expect("create key");
        let key = created.key.expose().to_owned();
        b.authenticate(&key).await.expect("B accepts (and caches)");
        a.revoke_api_key(&admin.principal, created.info.id)
            .await
            .expect("revoke");
        let refusal = refused(&b, &key).await;
        assert!(matches!(refusal, Error::InvalidApiKey), "{refusal:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_role_change_is_pushed() {
        let Some(pg) = Pg::new("push_role").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        let admin = signed_in(&a, "admin@example.com", seed::ADMIN).await;
        let mia = signed_in(&b, "mia@example.com", seed::MEMBER).await;
        b.authenticate(mia.access()).await.expect("B accepts");
        a.set_role(&admin.principal, mia.user.id, seed::VIEWER)
            .await
            .expect("set role");
        let refusal = refused(&b, mia.access()).await;
        assert!(
            matches!(refusal, Error::InvalidToken(TokenError::Revoked)),
            "{refusal:?}"
        );
    }

    /// The signing keys are announced too: B, not polling, verifies A's tokens signed with a key
    /// A rotated to.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotated_signing_key_is_pushed() {
        let Some(pg) = Pg::new("push_key_rotation").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        signed_in(&a, "ada@example.com", seed::MEMBER).await;
        a.rotate_signing_key().await.expect("rotate");
        let login = a
            .login("ada@example.com", &Password::new(PASSWORD), None)
            .await
            .expect("log in");
        let token = login.access_token.expose();
        let start = Instant::now();
        while let Err(e) = b.authenticate(token).await {
            assert!(start.elapsed() < DEADLINE, "B never learned the key: {e:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The control: with the announcement gone (the trigger dropped in this test's schema), an
    /// instance whose polling is off does not learn of a logout, until it reads the log itself.
    /// So the cases above cannot pass by polling.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_the_announcement_an_instance_that_does_not_poll_learns_nothing() {
        let Some(pg) = Pg::new("push_control").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        let ada = signed_in(&a, "ada@example.com", seed::MEMBER).await;
        b.authenticate(ada.access()).await.expect("B accepts");
        stores::execute(
            &pg.store().await,
            "DROP TRIGGER auth_revocations_notify ON auth_revocations",
        )
        .await;
        a.logout(&ada.principal).await.expect("logout");
        // Four poll intervals (250 ms each): a poller would have read the log by now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        b.authenticate(ada.access())
            .await
            .expect("not polled, not announced: still accepted");
        b.sync_revocations().await.expect("sync");
        assert!(b.authenticate(ada.access()).await.is_err(), "read at last");
    }

    /// The feed's connection dies (its backend terminated, as a failover or an idle-connection
    /// reaper would): the feed reconnects, and a later logout still arrives with polling off.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_feed_connection_is_restored() {
        let Some(pg) = Pg::new("push_reconnect").await else {
            return;
        };
        let (a, b) = pg.pair().await;
        let admin = pg.store().await;
        let before = pg.feed_pids(&admin).await;
        assert_eq!(
            before.len(),
            2,
            "one feed connection per service: {before:?}"
        );
        assert_eq!(pg.terminate(&admin, &before).await, [true, true]);

        logout_reaches(&a, &b).await;
        let after = pg.feed_pids(&admin).await;
        assert!(
            after.iter().all(|pid| !before.contains(pid)) && !after.is_empty(),
            "new feed connections: {before:?} -> {after:?}"
        );
    }

    /// A feed whose connection was lost resolves once it is restored, even though the append
    /// made meanwhile was announced to nobody: the reader must read the log after a reconnect.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_resolves_after_its_connection_is_restored() {
        let Some(pg) = Pg::new("push_feed_restored").await else {
            return;
        };
        let listening = pg.store().await;
        let mut feed = listening
            .revocation_feed()
            .await
            .expect("open")
            .expect("PostgreSQL gives a feed");
        let admin = pg.store().await;
        let pids = pg.feed_pids(&admin).await;
        assert_eq!(pids.len(), 1, "{pids:?}");
        assert_eq!(pg.terminate(&admin, &pids).await, [true]);
        // Wait until the backend is gone, then append: the announcement reaches no listener.
        let start = Instant::now();
        while !pg.feed_pids(&admin).await.is_empty() {
            assert!(start.elapsed() < DEADLINE, "the backend did not end");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        admin
            .append_revocations(&["lost".to_owned()], i64::MAX)
            .await
            .expect("append");
        tokio::time::timeout(DEADLINE, feed.changed())
            .await
            .expect("resolves once reconnected")
            .expect("no feed error");
        let restored = pg.feed_pids(&admin).await;
        assert!(
            restored.len() == 1 && restored[0] != pids[0],
            "listening again on a new connection: {pids:?} -> {restored:?}"
        );
    }

    /// A feed announces an append made through another pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_feed_announces_appends_from_another_pool() {
        let Some(pg) = Pg::new("push_feed").await else {
            return;
        };
        let listening = pg.store().await;
        let mut feed = listening
            .revocation_feed()
            .await
            .expect("open")
            .expect("PostgreSQL gives a feed");
        let writer = pg.store().await;
        writer
            .append_revocations(&["s1".to_owned()], i64::MAX)
            .await
            .expect("append");
        tokio::time::timeout(DEADLINE, feed.changed())
            .await
            .expect("announced within the deadline")
            .expect("no feed error");
    }
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_not_compiled() {
    stores::postgres_not_compiled();
}
