//! TLS to PostgreSQL (feature `postgres`: sqlx's rustls with the ring provider and Mozilla's
//! roots): `sslmode=require` encrypts, `verify-full` refuses a server whose certificate no trusted
//! root signed or that names another host, and accepts it with `sslrootcert=` and the right name.
//!
//! Runs against `TEST_DATABASE_URL`, whose server must have `ssl = on` (Debian's clusters do, with
//! the "snakeoil" self-signed certificate for `localhost`); with the variable set, a server with
//! TLS off fails these tests with a message that says so. Without it, they say that they did not
//! run, and pass (see `tests/stores/`).

#[macro_use]
mod stores;

#[cfg(feature = "postgres")]
mod postgres {
    use crate::stores::{Db, PgDb};
    use assimetria_auth::store::sql::{SqlPool, SqlStore};
    use sqlx::Connection as _;

    /// The certificate Debian's cluster serves (`ssl_cert_file`); self-signed, for `localhost`.
    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

    /// This test's schema, on a server checked to have TLS on; `None` without the variable.
    async fn tls_db(test: &str) -> Option<Db> {
        let db = Db::postgres(test).await?;
        let mut conn = sqlx::PgConnection::connect(pg(&db).url())
            .await
            .expect("PostgreSQL is reachable");
        let ssl: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut conn)
            .await
            .expect("SHOW ssl");
        assert_eq!(
            ssl, "on",
            "the PostgreSQL server of TEST_DATABASE_URL has `ssl = off`: these tests need a \
             server with TLS on (Debian's default, with the snakeoil certificate)"
        );
        conn.close().await.ok();
        Some(db)
    }

    fn pg(db: &Db) -> &PgDb {
        match db {
            Db::Postgres(pg) => pg,
            _ => unreachable!("a PostgreSQL database"),
        }
    }

    /// The server's URL with the test's schema and `params` (`key=value&…`) added.
    fn url(db: &Db, params: &str) -> String {
        let pg = pg(db);
        let sep = if pg.url().contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-csearch_path%3D{}&{params}",
            pg.url(),
            pg.schema()
        )
    }

    /// Whether the store's connection is encrypted, as the server sees it.
    async fn encrypted(store: &SqlStore) -> bool {
        let SqlPool::Postgres(p) = store.pool() else {
            unreachable!()
        };
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(p)
            .await
            .expect("read pg_stat_ssl")
    }

    #[tokio::test]
    async fn sslmode_require_encrypts_the_connection() {
        let Some(db) = tls_db("tls_require").await else {
            return;
        };
        let store = SqlStore::connect(&url(&db, "sslmode=require"))
            .await
            .expect("connects over TLS");
        assert!(encrypted(&store).await, "pg_stat_ssl says encrypted");
        store.close().await;
        // The control: the same server without TLS is seen as such.
        let plain = SqlStore::connect(&url(&db, "sslmode=disable"))
            .await
            .expect("connects");
        assert!(!encrypted(&plain).await);
        plain.close().await;
    }

    #[tokio::test]
    async fn verify_full_refuses_a_certificate_no_trusted_root_signed() {
        let Some(db) = tls_db("tls_untrusted").await else {
            return;
        };
        // The name is right (the certificate names localhost), but only Mozilla's roots are
        // trusted, and a self-signed certificate is none of them.
        let refused = SqlStore::connect(&url(&db, "sslmode=verify-full&host=localhost")).await;
        assert!(
            matches!(refused, Err(assimetria_auth::Error::Store(_))),
            "{refused:?}"
        );
        assert!(
            format!("{refused:?}").contains("UnknownIssuer"),
            "refused for its issuer: {refused:?}"
        );
    }

    #[tokio::test]
    async fn verify_full_with_the_servers_root_and_its_name_connects_and_checks_the_name() {
        let Some(db) = tls_db("tls_verify_full").await else {
            return;
        };
        assert!(
            std::path::Path::new(SNAKEOIL).exists(),
            "{SNAKEOIL} is missing: the server's certificate is needed as the root to trust"
        );
        let store = SqlStore::connect(&url(
            &db,
            &format!("sslmode=verify-full&host=localhost&sslrootcert={SNAKEOIL}"),
        ))
        .await
        .expect("a trusted root and the certificate's name: connects");
        assert!(encrypted(&store).await);
        store.close().await;
        // The same root, but a host name the certificate does not carry: refused.
        let wrong_name = SqlStore::connect(&url(
            &db,
            &format!("sslmode=verify-full&host=127.0.0.1&sslrootcert={SNAKEOIL}"),
        ))
        .await;
        assert!(
            matches!(wrong_name, Err(assimetria_auth::Error::Store(_))),
            "{wrong_name:?}"
        );
        assert!(
            format!("{wrong_name:?}").contains("NotValidForName"),
            "refused for the name: {wrong_name:?}"
        );
    }
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_not_compiled() {
    stores::postgres_not_compiled();
}
