//! `RedisRateLimiter`: the login limit shared by several instances through one Redis, its
//! atomicity under concurrency, its keys, and what it does when Redis is unreachable.
//!
//! Redis rule (as for PostgreSQL in `tests/stores/mod.rs`): the tests that need a Redis read
//! `TEST_REDIS_URL`; without it they print that they did not run, and why, and pass; with it set
//! they run, and an unreachable server fails them. Each test writes under a key prefix of its
//! own, so tests running in parallel (or two runs on one Redis) never share a counter. The tests
//! of an unreachable Redis need none: they aim at a closed port or at a server that never
//! answers.

mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use assimetria_auth::config::RateLimit;
use assimetria_auth::error::ConfigError;
use assimetria_auth::rate_limit::{RateLimiter, RedisRateLimiter, WhenUnavailable};
use assimetria_auth::rbac::seed;
use assimetria_auth::{AuthConfig, AuthService, Error, MemoryStore, Password};
use redis::AsyncCommands as _;

use harness::{PASSWORD, test_master_key};

const REDIS_URL_VAR: &str = "TEST_REDIS_URL";
const EMAIL: &str = "ada@example.com";

/// The Redis URL from `TEST_REDIS_URL` after a PING; `None` (after saying so) without it.
async fn redis_url(test: &str) -> Option<String> {
    let Some(url) = std::env::var(REDIS_URL_VAR).ok().filter(|u| !u.is_empty()) else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "NOT RUN: Redis test `{test}` did not run because {REDIS_URL_VAR} is not set \
             (e.g. {REDIS_URL_VAR}=redis://127.0.0.1:6379)"
        );
        return None;
    };
    let mut conn = connect(&url).await;
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{REDIS_URL_VAR} is set but Redis does not answer: {e}"));
    assert_eq!(pong, "PONG");
    Some(url)
}

/// A plain connection, for looking at what the limiter wrote.
async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url)
        .unwrap_or_else(|e| panic!("{REDIS_URL_VAR} is not a Redis URL: {e}"));
    tokio::time::timeout(
        Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|_| panic!("{REDIS_URL_VAR} is set but Redis does not answer"))
    .unwrap_or_else(|e| panic!("{REDIS_URL_VAR} is set but Redis is unreachable: {e}"))
}

/// A key prefix no other test (nor another run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "assimetria-auth-test:{test}:{}:{nanos}:",
        std::process::id()
    )
}

/// Every key under `prefix`.
async fn keys_under(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
    keys.sort();
    keys
}

async fn limiter(url: &str, prefix: &str) -> RedisRateLimiter {
    RedisRateLimiter::builder(url)
        .key_prefix(prefix)
        .build()
        .await
        .expect("limiter builds")
}

/// A service over `store` counting its attempts in `limiter`, with the default limits (10
/// logins per account per minute).
async fn instance(store: &Arc<MemoryStore>, limiter: Arc<dyn RateLimiter>) -> AuthService {
    let config = AuthConfig::builder()
        .master_keys(vec![test_master_key()])
        .build()
        .expect("valid config");
    AuthService::builder(config, Arc::clone(store) as _)
        .rate_limiter(limiter)
        .build()
        .await
        .expect("service builds")
}

async fn wrong_login(service: &AuthService) -> Result<(), Error> {
    service
        .login(EMAIL, &Password::new("wrong password!"), None)
        .await
        .map(drop)
}

fn per_minute(max: u32) -> RateLimit {
    RateLimit::new(max, Duration::from_secs(60))
}

// ---------------------------------------------------------------------------------------------
// Against a real Redis

/// Failed logins for one account spread over two instances are refused at the eleventh, on
/// either instance (with a memory limiter each would still admit it: each has seen five or six).
#[tokio::test]
async fn two_instances_share_the_login_limit() {
    let Some(url) = redis_url("two_instances_share_the_login_limit").await else {
        return;
    };
    let prefix = unique_prefix("two_instances");
    let store = Arc::new(MemoryStore::new());
    let a = instance(&store, Arc::new(limiter(&url, &prefix).await)).await;
    let b = instance(&store, Arc::new(limiter(&url, &prefix).await)).await;
    a.create_user(EMAIL, &Password::new(PASSWORD), seed::MEMBER)
        .await
        .expect("create user");

    for i in 0..10 {
        let service = if i % 2 == 0 { &a } else { &b };
        assert!(
            matches!(wrong_login(service).await, Err(Error::InvalidCredentials)),
            "attempt {} is admitted",
            i + 1
        );
    }
    for (name, service) in [("A", &a), ("B", &b)] {
        match wrong_login(service).await {
            Err(Error::RateLimited { retry_after }) => assert!(
                (Duration::from_secs(1)..=Duration::from_secs(60)).contains(&retry_after),
                "Retry-After within the window: {retry_after:?}"
            ),
            other => panic!("the 11th attempt on {name} was not refused: {other:?}"),
        }
    }
    // The right password is refused too: the limit counts attempts, not failures.
    let right = b.login(EMAIL, &Password::new(PASSWORD), None).await;
    assert!(matches!(right, Err(Error::RateLimited { .. })), "{right:?}");

    // One counter: it holds the ten admitted attempts, expires within the window, and its name
    // holds no email.
    let mut conn = connect(&url).await;
    let keys = keys_under(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert!(!key.contains('@') && !key.contains("ada"), "{key}");
    assert_eq!(key.len(), prefix.len() + 43, "{key}");
    let count: u32 = conn.get(key).await.unwrap();
    assert_eq!(count, 10, "refused attempts are not counted");
    let ttl: i64 = conn.pttl(key).await.unwrap();
    assert!(0 < ttl && ttl <= 60_000, "TTL within the window: {ttl} ms");
}

/// Refused attempts are not counted; another key is not affected.
#[tokio::test]
async fn refused_attempts_are_not_counted() {
    let Some(url) = redis_url("refused_attempts_are_not_counted").await else {
        return;
    };
    let prefix = unique_prefix("refused");
    let l = limiter(&url, &prefix).await;
    for _ in 0..3 {
        l.hit("k", per_minute(3), 0).await.expect("admitted");
    }
    for _ in 0..5 {
        let wait = l.hit("k", per_minute(3), 0).await.expect_err("refused");
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60));
    }
    l.hit("other", per_minute(3), 0)
        .await
        .expect("another key has its own window");
    let mut conn = connect(&url).await;
    let count: u32 = conn.get(l.redis_key("k")).await.unwrap();
    assert_eq!(count, 3);
    assert_eq!(keys_under(&mut conn, &prefix).await.len(), 2);
}

/// Windows are Redis's: attempts stamped with wildly different `now` values share one window
/// (a limiter going by `now` would open a new one for each), and when the counter expires the
/// next attempt opens a new window with its own expiry.
#[tokio::test]
async fn windows_follow_redis_not_the_callers_clock() {
    let Some(url) = redis_url("windows_follow_redis_not_the_callers_clock").await else {
        return;
    };
    let prefix = unique_prefix("clock");
    let l = limiter(&url, &prefix).await;
    l.hit("k", per_minute(2), 0).await.expect("admitted");
    l.hit("k", per_minute(2), 1_000_000_000_000)
        .await
        .expect("admitted");
    assert!(l.hit("k", per_minute(2), -5).await.is_err(), "same window");

    // Expire the counter (as Redis does at the window's end).
    let mut conn = connect(&url).await;
    let key = l.redis_key("k");
    let _: bool = conn.pexpire(&key, 1).await.unwrap();
    while conn.exists::<_, bool>(&key).await.unwrap() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    l.hit("k", per_minute(2), -5).await.expect("a new window");
    let ttl: i64 = conn.pttl(&key).await.unwrap();
    assert!(
        1_000 < ttl && ttl <= 60_000,
        "the new window expires: {ttl} ms"
    );
    let count: u32 = conn.get(&key).await.unwrap();
    assert_eq!(count, 1);
}

/// Many concurrent attempts on one key admit exactly `max` (the script is atomic).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_admit_exactly_max() {
    let Some(url) = redis_url("concurrent_attempts_admit_exactly_max").await else {
        return;
    };
    let prefix = unique_prefix("concurrent");
    // Two limiters (two instances) on one Redis, 200 attempts between them.
    let a = Arc::new(limiter(&url, &prefix).await);
    let b = Arc::new(limiter(&url, &prefix).await);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { l.hit("hot", per_minute(10), 0).await.is_ok() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 10);
    let count: u32 = connect(&url).await.get(a.redis_key("hot")).await.unwrap();
    assert_eq!(count, 10);
}

/// `max == 0` refuses every attempt, with the whole window as `Retry-After`, and writes nothing.
#[tokio::test]
async fn a_zero_limit_refuses_everything() {
    let Some(url) = redis_url("a_zero_limit_refuses_everything").await else {
        return;
    };
    let prefix = unique_prefix("zero");
    let l = limiter(&url, &prefix).await;
    assert_eq!(
        l.hit("k", per_minute(0), 0).await,
        Err(Duration::from_secs(60))
    );
    assert!(
        keys_under(&mut connect(&url).await, &prefix)
            .await
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Without Redis

/// Log lines written on this thread, captured while the guard lives.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines_with(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A local port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Redis down (at start and throughout): logins are still limited, in this instance, and one
/// warning says so, naming the server without its password.
#[tokio::test]
async fn unreachable_redis_counts_locally_and_warns_once() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let url = format!("redis://:s3cret@127.0.0.1:{}", closed_port().await);
    let l = RedisRateLimiter::builder(url)
        .build()
        .await
        .expect("a Redis that is down is not an error at start");
    assert!(!format!("{l:?}").contains("s3cret"), "{l:?}");
    let service = instance(&Arc::new(MemoryStore::new()), Arc::new(l)).await;
    service
        .create_user(EMAIL, &Password::new(PASSWORD), seed::MEMBER)
        .await
        .unwrap();
    for i in 0..10 {
        assert!(
            matches!(wrong_login(&service).await, Err(Error::InvalidCredentials)),
            "attempt {} is admitted",
            i + 1
        );
    }
    let refused = wrong_login(&service).await;
    assert!(
        matches!(refused, Err(Error::RateLimited { .. })),
        "{refused:?}"
    );

    let text = logs.text();
    assert_eq!(
        logs.lines_with("Redis rate limiter unreachable"),
        1,
        "{text}"
    );
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("redis://***@127.0.0.1:"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // (The audit sink's own lines name the account; the limiter's never do.)
    for line in text.lines().filter(|l| l.contains("rate_limit")) {
        assert!(!line.contains(EMAIL) && !line.contains("ada"), "{line}");
    }
}

/// A TCP proxy to Redis that can be cut: every open connection is closed and new ones are
/// closed at once, until it is restored.
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(redis_url: &str) -> Proxy {
        let info = redis::Client::open(redis_url).unwrap();
        let upstream = info.get_connection_info().addr().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = tokio::sync::watch::channel(true);
        let watch = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = watch.subscribe();
                if !*cut.borrow() {
                    continue; // dropped: closed at once
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|up| !up) => {}
                    }
                });
            }
        });
        Proxy { port, up }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Redis goes away and comes back: one warning when it goes, one info line when it is back (not
/// one per attempt), counting meanwhile in the instance, and in Redis again afterwards.
#[tokio::test]
async fn an_outage_is_logged_once_each_way() {
    let Some(url) = redis_url("an_outage_is_logged_once_each_way").await else {
        return;
    };
    let proxy = Proxy::start(&url).await;
    let prefix = unique_prefix("outage");
    let logs = Logs::default();
    let _guard = logs.capture();
    let l = RedisRateLimiter::builder(proxy.url())
        .key_prefix(&prefix)
        .backoff(Duration::ZERO) // every attempt tries Redis: the worst case for log noise
        .build()
        .await
        .unwrap();
    let limit = per_minute(1000);
    let mut conn = connect(&url).await;
    for _ in 0..2 {
        l.hit("k", limit, 0).await.unwrap();
    }
    let counted: u32 = conn.get(l.redis_key("k")).await.unwrap();
    assert_eq!(counted, 2);
    assert_eq!(logs.lines_with("Redis rate limiter"), 0, "{}", logs.text());

    proxy.set_up(false);
    for _ in 0..5 {
        l.hit("k", limit, 0).await.expect("counted locally");
    }
    let counted: u32 = conn.get(l.redis_key("k")).await.unwrap();
    assert_eq!(counted, 2, "nothing reached Redis during the outage");

    proxy.set_up(true);
    let mut tries = 0;
    while logs.lines_with("Redis rate limiter reachable again") == 0 {
        tries += 1;
        assert!(tries < 500, "Redis never counted as back: {}", logs.text());
        l.hit("k", limit, 0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    l.hit("k", limit, 0).await.unwrap();
    let counted: u32 = conn.get(l.redis_key("k")).await.unwrap();
    assert!(counted >= 4, "counting in Redis again: {counted}");
    assert_eq!(
        logs.lines_with("Redis rate limiter unreachable"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(
        logs.lines_with("Redis rate limiter reachable again"),
        1,
        "{}",
        logs.text()
    );
}

/// Fail-closed refuses while Redis is down; fail-open admits everything.
#[tokio::test]
async fn refuse_and_allow_modes() {
    let url = format!("redis://127.0.0.1:{}", closed_port().await);
    let refuse = RedisRateLimiter::builder(&url)
        .when_unavailable(WhenUnavailable::Refuse)
        .build()
        .await
        .unwrap();
    assert_eq!(
        refuse.hit("k", per_minute(10), 0).await,
        Err(Duration::from_secs(5)),
        "refused, Retry-After the backoff"
    );
    let allow = RedisRateLimiter::builder(&url)
        .when_unavailable(WhenUnavailable::Allow)
        .build()
        .await
        .unwrap();
    for _ in 0..20 {
        allow.hit("k", per_minute(1), 0).await.expect("admitted");
    }
    // The default counts locally: the second attempt of a limit of one is refused.
    let local = RedisRateLimiter::builder(&url).build().await.unwrap();
    local.hit("k", per_minute(1), 0).await.expect("admitted");
    assert!(local.hit("k", per_minute(1), 0).await.is_err());
}

/// A Redis that accepts connections and never answers costs each attempt at most the timeout,
/// and the limiter falls back (the outer timeout only stops a hang from stalling the suite).
#[tokio::test]
async fn a_silent_redis_falls_back_after_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            holder.lock().unwrap().push(socket); // never read, never answered
        }
    });
    let logs = Logs::default();
    let _guard = logs.capture();
    let run = async {
        let l = RedisRateLimiter::builder(format!("redis://127.0.0.1:{port}"))
            .timeout(Duration::from_millis(100))
            .build()
            .await
            .unwrap();
        l.hit("k", per_minute(1), 0).await.expect("admitted");
        assert!(l.hit("k", per_minute(1), 0).await.is_err());
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no attempt waits for a silent Redis");
    assert_eq!(
        logs.lines_with("Redis rate limiter unreachable"),
        1,
        "{}",
        logs.text()
    );
}

/// Bad URLs are errors at construction, before any connection.
#[tokio::test]
async fn a_bad_url_is_an_error() {
    for url in [
        "",
        "localhost:6379",
        "http://127.0.0.1:6379",
        "redis://[::1",
    ] {
        let built = RedisRateLimiter::builder(url).build().await;
        assert!(
            matches!(built, Err(Error::Config(ConfigError::InvalidRedisUrl))),
            "{url}: {built:?}"
        );
    }
    // The control: a well-formed URL builds, whether or not anything listens there.
    let port = closed_port().await;
    RedisRateLimiter::builder(format!("redis://127.0.0.1:{port}/3"))
        .build()
        .await
        .expect("a well-formed URL");
}
