//! The service under attack: races that must not undo a reset, a stolen database that must not
//! mint a token, and signing keys that rotate across restarts.
//!
//! The race cases run on every store (memory, an SQLite file, a PostgreSQL schema from
//! `TEST_DATABASE_URL`; see `tests/stores/mod.rs`); the at-rest cases read a real SQLite file.

mod harness;
#[macro_use]
mod stores;

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::config::Argon2Params;
use assimetria_auth::error::Error;
use assimetria_auth::rbac::{Role, seed};
use assimetria_auth::store::TokenHash;
use assimetria_auth::store::{Consumed, NewUser};
use assimetria_auth::token::{AccessClaims, JwtKey, KeyRing};
use assimetria_auth::{AuthConfig, MasterKey};
use assimetria_auth::{RefreshToken, ResetToken};

use harness::{PASSWORD, T0, harness, harness_with, pw};
use stores::Db;

const OLD: &str = "the old password";
const NEW: &str = "the new password";
/// Races per store.
const TRIALS: usize = 8;

/// argon2 costs other than the configured ones: a hash made with them is upgraded at login.
const OUTDATED: Argon2Params = Argon2Params {
    memory_kib: 19_456,
    iterations: 3,
    parallelism: 1,
};

/// An argon2id hash of `password` with the [`OUTDATED`] costs, as another system (or an older
/// configuration) wrote it: made with the `argon2` crate directly.
fn outdated_hash(password: &str, salt: usize) -> String {
    use argon2::password_hash::PasswordHasher as _;
    let params = argon2::Params::new(
        OUTDATED.memory_kib,
        OUTDATED.iterations,
        OUTDATED.parallelism,
        None,
    )
    .unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), format!("salt{salt:012}").as_bytes())
        .unwrap()
        .to_string()
}

fn config() -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .hash_concurrency(4)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// A login's hash upgrade racing a password reset

/// A user whose stored hash has outdated argon2 costs logs in with the old password while a
/// reset sets a new one. Whatever the interleaving: the new password works, the old one does
/// not, and if the racing login got tokens, they are dead.
async fn login_upgrade_never_undoes_a_reset(db: Db) {
    let h = harness_with(config(), db.store().await).await;
    for trial in 0..TRIALS {
        let email = format!("user{trial}@example.com");
        h.store
            .create_user(NewUser {
                email: email.clone(),
                password_hash: outdated_hash(OLD, trial),
                role: seed::MEMBER,
                org: None,
                created_at: T0,
                email_verified: false,
            })
            .await
            .unwrap();
        h.service.forgot_password(&email, None).await.unwrap();
        let (_, token) = h.mailer.wait_for(trial + 1).await;

        let login = {
            let (service, email) = (h.service.clone(), email.clone());
            tokio::spawn(async move { service.login(&email, &pw(OLD), None).await })
        };
        let reset = {
            let service = h.service.clone();
            tokio::spawn(async move {
                service
                    .reset_password(&ResetToken::new(token), &pw(NEW))
                    .await
            })
        };
        let raced = login.await.unwrap();
        reset.await.unwrap().expect("the reset succeeds");

        h.service
            .login(&email, &pw(NEW), None)
            .await
            .unwrap_or_else(|e| panic!("trial {trial}: the new password fails: {e}"));
        assert!(
            matches!(
                h.service.login(&email, &pw(OLD), None).await,
                Err(Error::InvalidCredentials)
            ),
            "trial {trial}: the old password works again"
        );
        if let Ok(out) = raced {
            assert!(
                h.service
                    .authenticate(out.access_token.expose())
                    .await
                    .is_err(),
                "trial {trial}: the racing login's access token outlived the reset"
            );
            assert!(
                h.service.refresh(&out.refresh_token).await.is_err(),
                "trial {trial}: the racing login's session outlived the reset"
            );
        }
    }
}

/// A role change ends the user's sessions in the same store transaction: right after it, the
/// store shows the new role, no live session, and the revocation log entries (so a restarted or
/// other instance refuses the old-role tokens without this process's help).
async fn role_change_and_revocation_commit_together(db: Db) {
    let h = harness_with(config(), db.store().await).await;
    let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
    let member = h.user("member@example.com", seed::MEMBER).await;
    h.service
        .set_role(&admin, member.user.id, seed::VIEWER)
        .await
        .unwrap();
    let stored = h.store.user_by_id(member.user.id).await.unwrap().unwrap();
    assert_eq!(stored.role, seed::VIEWER);
    let session = match &member.principal.kind {
        assimetria_auth::PrincipalKind::User { session } => session.clone(),
        other => panic!("{other:?}"),
    };
    let log = h.store.revocations_since(0, T0, 100).await.unwrap();
    assert!(log.iter().any(|r| r.session_id == session), "{log:?}");
    // The session is over in the store: its refresh token spends no more.
    let refresh = TokenHash::of(member.refresh_token.expose());
    assert_eq!(
        h.store.consume_refresh(&refresh, T0).await.unwrap(),
        Consumed::Invalid
    );
    // A fresh instance over the same store refuses the old-role token from the log alone.
    let other = harness_with(config(), Arc::clone(&h.store)).await;
    assert!(other.service.authenticate(member.access()).await.is_err());
}

per_store! {
    login_upgrade_never_undoes_a_reset,
    role_change_and_revocation_commit_together,
}

// ---------------------------------------------------------------------------------------------
// Signing keys: rotation and retirement

#[tokio::test]
async fn rotation_retires_the_old_key_after_its_last_token() {
    let h = harness(config()).await;
    let old_token = h.user("ada@example.com", seed::MEMBER).await.access_token;
    let old_kid = h.service.key_ring().active().kid().to_owned();
    let new_kid = h.service.rotate_signing_key().await.unwrap();
    assert_ne!(old_kid, new_kid);
    // The kid is the RFC 7638 thumbprint of the public key.
    let public = h
        .service
        .key_ring()
        .active()
        .ed25519_public_bytes()
        .unwrap();
    assert_eq!(new_kid, assimetria_auth::token::ed25519_thumbprint(&public));
    let ring = h.service.key_ring();
    let old_public = ring.get(&old_kid).unwrap().ed25519_public_bytes().unwrap();
    assert_eq!(
        old_kid,
        assimetria_auth::token::ed25519_thumbprint(&old_public)
    );
    h.service.authenticate(old_token.expose()).await.unwrap();
    assert_eq!(h.service.jwks()["keys"].as_array().unwrap().len(), 2);

    // Just before the old key's last token expires (24 h + leeway + one poll): still there.
    h.clock.advance(Duration::from_secs(24 * 3600 + 30));
    h.service.sync_revocations().await.unwrap();
    assert_eq!(h.service.jwks()["keys"].as_array().unwrap().len(), 2);
    // Past it: out of the ring, the JWKS and the store.
    h.clock.advance(Duration::from_secs(2));
    h.service.sync_revocations().await.unwrap();
    let jwks = h.service.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kid"], new_kid.as_str());
    assert!(h.service.key_ring().get(&old_kid).is_none());
    let stored = h.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].kid, new_kid);
}

#[tokio::test]
async fn a_host_supplied_ring_is_not_rotated_from_the_store() {
    let h = harness(config()).await;
    let ring = KeyRing::new(JwtKey::generate_ed25519("host-key").unwrap()).unwrap();
    h.service.set_key_ring(ring).await;
    assert!(matches!(
        h.service.rotate_signing_key().await,
        Err(Error::Config(_))
    ));
    h.service.sync_revocations().await.unwrap();
    assert_eq!(h.service.key_ring().active().kid(), "host-key");
}

// ---------------------------------------------------------------------------------------------
// Secrets at rest (SQLite)

#[cfg(feature = "sqlite")]
mod at_rest {
    use super::*;
    use assimetria_auth::api_key::Environment;
    use assimetria_auth::store::SigningKeyStore as _;
    use assimetria_auth::store::sql::{SqlPool, SqlStore};
    use assimetria_auth::{AuthService, PrincipalKind};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sqlx::{Column as _, Row as _, SqlitePool, TypeInfo as _};

    fn pool(store: &SqlStore) -> SqlitePool {
        match store.pool() {
            SqlPool::Sqlite(p) => p.clone(),
            #[allow(unreachable_patterns)]
            _ => unreachable!(),
        }
    }

    /// Every value of every row of every table, as bytes (text as its UTF-8).
    async fn every_stored_value(pool: &SqlitePool) -> Vec<Vec<u8>> {
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(pool)
                .await
                .unwrap();
        let mut values = Vec::new();
        for table in tables {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                .fetch_all(pool)
                .await
                .unwrap();
            for row in rows {
                for (i, column) in row.columns().iter().enumerate() {
                    let _ = column.name();
                    let raw = row.try_get_raw(i).unwrap();
                    let ty = sqlx::ValueRef::type_info(&raw).name().to_owned();
                    match ty.as_str() {
                        "BLOB" => values.push(row.get::<Vec<u8>, _>(i)),
                        "TEXT" => values.push(row.get::<String, _>(i).into_bytes()),
                        _ => {}
                    }
                }
            }
        }
        values
    }

    /// Every key a stored value could be, read as a thief would: the whole value, and every
    /// 32-byte window of it (a seed inside a larger record).
    fn candidate_secrets(values: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for v in values {
            if v.len() >= 32 {
                out.push(v.clone());
                out.extend(v.windows(32).map(<[u8]>::to_vec));
            }
            if let Ok(decoded) = URL_SAFE_NO_PAD.decode(v) {
                out.push(decoded);
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Claims of a token valid at T0 for the default issuer and audience.
    fn claims(user_id: i64, sid: &str, role: Role) -> AccessClaims {
        AccessClaims {
            sub: user_id.to_string(),
            sid: sid.to_owned(),
            role,
            org: None,
            iss: "assimetria-auth".into(),
            aud: "assimetria-api".into(),
            iat: T0,
            nbf: T0,
            exp: T0 + 3600,
            jti: "j".into(),
        }
    }

    /// Tokens a thief could make from `secret` for an admin of `user_id`, with every kid seen.
    fn forgeries(secret: &[u8], kids: &[String], user_id: i64, sid: &str) -> Vec<String> {
        let claims = claims(user_id, sid, seed::ADMIN);
        let mut tokens = Vec::new();
        for kid in kids {
            let mut keys = Vec::new();
            if let Ok(k) = JwtKey::hs256(kid.clone(), secret) {
                keys.push(k);
            }
            if let Ok(seed) = <[u8; 32]>::try_from(secret) {
                keys.push(JwtKey::ed25519_from_seed(kid.clone(), seed).unwrap());
            }
            for key in keys {
                let ring = KeyRing::new(key).unwrap();
                tokens.push(ring.sign(&claims).unwrap().expose().to_owned());
            }
        }
        tokens
    }

    async fn accepted(service: &AuthService, tokens: &[String]) -> usize {
        let mut n = 0;
        for t in tokens {
            if service.authenticate(t).await.is_ok() {
                n += 1;
            }
        }
        n
    }

    /// After logins, a refresh, an API key, a reset request and a key rotation, a copy of every
    /// table of the SQLite file mints nothing: no value (or part of one) signs a token the service
    /// accepts, and no value passes as a refresh token or credential. The same forging code
    /// with the real key (from the running process) is accepted: the check can tell.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_copy_of_the_database_mints_nothing() {
        let db = Db::sqlite();
        let sql = db.sql_store().await;
        let h = harness_with(config(), Arc::new(sql.clone())).await;
        let admin = h.user("admin@example.com", seed::ADMIN).await.principal;
        let login = h
            .service
            .login("admin@example.com", &pw(PASSWORD), None)
            .await
            .unwrap();
        h.service.refresh(&login.refresh_token).await.unwrap();
        h.service
            .create_api_key(&admin, "ci", Environment::Live, Some(seed::MEMBER))
            .await
            .unwrap();
        h.service
            .forgot_password("admin@example.com", None)
            .await
            .unwrap();
        h.mailer.wait_for(1).await;
        h.service.rotate_signing_key().await.unwrap();
        let PrincipalKind::User { session } = &admin.kind else {
            unreachable!()
        };

        let values = every_stored_value(&pool(&sql)).await;
        assert!(values.len() > 20, "the tables hold data: {}", values.len());
        let kids: Vec<String> = h
            .service
            .key_ring()
            .keys()
            .iter()
            .map(|k| k.kid().to_owned())
            .chain(["key-1".to_owned()])
            .collect();

        // The control: the real key, held by the process, forges what the check looks for.
        let real = h.service.key_ring().active().material().unwrap();
        let control = forgeries(&real, &kids, admin.user_id, session);
        assert!(
            accepted(&h.service, &control).await > 0,
            "the check can tell"
        );
        // And a made-up session id passes too: the signature is what guards the door.
        assert!(accepted(&h.service, &forgeries(&real, &kids, admin.user_id, "nope")).await > 0);

        let mut tried = 0;
        for secret in candidate_secrets(&values) {
            let tokens = forgeries(&secret, &kids, admin.user_id, session);
            tried += tokens.len();
            assert_eq!(
                accepted(&h.service, &tokens).await,
                0,
                "a value stored in the database signs tokens the service accepts"
            );
        }
        assert!(tried > 1000, "only {tried} forgeries tried");
        // No stored value is itself a credential.
        for v in &values {
            let text = String::from_utf8_lossy(v).into_owned();
            let b64 = URL_SAFE_NO_PAD.encode(v);
            for candidate in [text, b64] {
                assert!(h.service.authenticate(&candidate).await.is_err());
                assert!(
                    h.service
                        .refresh(&RefreshToken::new(candidate.clone()))
                        .await
                        .is_err()
                );
            }
        }
    }

    /// A database written before sealing existed (plain seed and derivation secret, schema 1):
    /// the first start with a master key migrates and seals both, tokens signed before keep
    /// verifying, and a start without a master key refuses rather than re-keying.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_rows_from_an_earlier_version_are_sealed_on_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
        let seed = [5u8; 32];
        let derivation = [6u8; 32];
        {
            let options = SqlStore::sqlite_connect_options(&url).unwrap();
            let pool = SqlitePool::connect_with(options).await.unwrap();
            sqlx::raw_sql(include_str!("../migrations/sqlite/0001_initial.sql"))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "CREATE TABLE auth_schema_version (version BIGINT NOT NULL PRIMARY KEY, \
                 applied_at BIGINT NOT NULL)",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO auth_schema_version VALUES (1, 0)")
                .execute(&pool)
                .await
                .unwrap();
            for (kid, alg, material) in [
                ("refresh-derivation", "HS256", &derivation),
                ("key-1", "EdDSA", &seed),
            ] {
                sqlx::query(
                    "INSERT INTO auth_signing_keys (kid, algorithm, material, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(kid)
                .bind(alg)
                .bind(&material[..])
                .bind(T0)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }
        let legacy_ring = KeyRing::new(JwtKey::ed25519_from_seed("key-1", seed).unwrap()).unwrap();
        let before = legacy_ring
            .sign(&claims(1, "old-session", seed::MEMBER))
            .unwrap();

        // No master key: refused, and nothing is re-keyed.
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        let refused = assimetria_auth::AuthService::builder(config(), store.clone())
            .build()
            .await;
        assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");

        let h = harness_with(config(), store.clone()).await;
        h.service
            .authenticate(before.expose())
            .await
            .expect("tokens of the plain key keep verifying");
        let stored = store.signing_keys().await.unwrap();
        assert_eq!(stored.len(), 1, "the derivation secret left the key table");
        assert_eq!(stored[0].kid, "key-1");
        assert_ne!(stored[0].material, seed.to_vec());
        assert!(stored[0].material.starts_with(b"AASEAL01"));
        let values = every_stored_value(&pool(&store)).await;
        for v in &values {
            assert!(
                !v.windows(32).any(|w| w == seed || w == derivation),
                "a plain secret is still stored"
            );
        }
        // A restart with the same master key opens the sealed rows.
        let again = harness_with(config(), store.clone()).await;
        again.service.authenticate(before.expose()).await.unwrap();
        // A wrong master key does not.
        let wrong = AuthService::builder(
            AuthConfig::builder()
                .master_key(MasterKey::from_bytes([99; 32]))
                .build()
                .unwrap(),
            store,
        )
        .build()
        .await;
        assert!(matches!(wrong, Err(Error::Config(_))));
    }
}
