//! How long another instance takes to refuse a logged-out session's access token: pushed
//! (PostgreSQL LISTEN/NOTIFY, timed polling off) against polling alone (every 250 ms, push off).
//!
//! Two services over one PostgreSQL schema, each with its own pool (as two processes). Each
//! trial waits a pause that shifts it against B's poll cycle, signs in on A, has B accept the
//! token (so that B has it cached), then logs out on A and measures from the start of the logout
//! until B refuses the token; B is asked every 0.1 ms from a thread of its own. Prints
//! p50/p90/p99/max in milliseconds.
//!
//! Reads `TEST_DATABASE_URL`; without it, says so and measures nothing.
//! `cargo bench --bench revocation_push --features postgres`

use std::sync::Arc;
use std::time::{Duration, Instant};

use assimetria_auth::rbac::seed;
use assimetria_auth::store::sql::SqlStore;
use assimetria_auth::{AuthConfig, AuthService, MasterKey, Password};
use sqlx::Connection as _;

const PASSWORD: &str = "bench password 1234";

/// How the watching instance learns of revocations.
#[derive(Clone, Copy)]
enum Mode {
    /// The store's feed, timed polling off.
    Push,
    /// Timed polling only (the default 250 ms), push off.
    Poll,
}

fn main() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("revocation_push: TEST_DATABASE_URL is not set; nothing measured");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("bench_push_{}", std::process::id());
    rt.block_on(admin(&url, &format!("CREATE SCHEMA \"{schema}\"")));
    let push = rt.block_on(measure(&url, &schema, Mode::Push, 200));
    report("pushed (LISTEN/NOTIFY), polling off", &push);
    let poll = rt.block_on(measure(&url, &schema, Mode::Poll, 50));
    report("polling every 250 ms, push off", &poll);
    rt.block_on(admin(&url, &format!("DROP SCHEMA \"{schema}\" CASCADE")));
}

/// Runs one statement on a connection of its own (the schema's name is built from digits).
async fn admin(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("statement runs");
    conn.close().await.ok();
}

/// A service over a store of its own on `schema`.
async fn instance(url: &str, schema: &str, mode: Option<Mode>) -> AuthService {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("URL parses");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.options([("search_path", schema)]))
        .await
        .expect("connect");
    let store = SqlStore::from_postgres_pool(pool).await.expect("store");
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .master_keys(vec![MasterKey::from_bytes([42; 32])])
        .build()
        .expect("config");
    let builder = AuthService::builder(config, Arc::new(store));
    let builder = match mode {
        None => builder,
        Some(Mode::Push) => builder.revocation_polling(false),
        Some(Mode::Poll) => builder.revocation_push(false),
    };
    builder.build().await.expect("service")
}

/// `trials` logouts on A; for each, how long B took to refuse the token.
async fn measure(url: &str, schema: &str, mode: Mode, trials: usize) -> Vec<Duration> {
    let a = instance(url, schema, None).await;
    let b = instance(url, schema, Some(mode)).await;
    let email = format!("bench-{}@example.com", matches!(mode, Mode::Push));
    a.create_user(&email, &Password::new(PASSWORD), seed::MEMBER)
        .await
        .expect("user");
    let handle = tokio::runtime::Handle::current();
    let mut latencies = Vec::with_capacity(trials);
    for trial in 0..trials {
        // A pause that moves each logout to another phase of B's poll cycle (97 ms steps, modulo
        // 250 ms), so the polled leg samples the whole interval instead of locking onto one phase.
        tokio::time::sleep(Duration::from_millis((trial as u64 * 97) % 250)).await;
        let login = a
            .login(&email, &Password::new(PASSWORD), None)
            .await
            .expect("login");
        let token = login.access_token.expose().to_owned();
        let principal = a.authenticate(&token).await.expect("A accepts");
        b.authenticate(&token).await.expect("B accepts");
        // B is asked from a thread of its own, so that its checks do not wait for A's logout.
        let (b2, h) = (b.clone(), handle.clone());
        let watcher = std::thread::spawn(move || {
            loop {
                if h.block_on(b2.authenticate(&token)).is_err() {
                    return Instant::now();
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        let start = Instant::now();
        a.logout(&principal).await.expect("logout");
        let refused_at = tokio::task::spawn_blocking(move || watcher.join().expect("watcher"))
            .await
            .expect("join");
        latencies.push(refused_at.saturating_duration_since(start));
    }
    a.shutdown().await.ok();
    b.shutdown().await.ok();
    latencies
}

fn report(what: &str, latencies: &[Duration]) {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "revocation_push: {what}, {} trials: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        ms[ms.len() - 1]
    );
}
