//! [`RedisRateLimiter`]: the fixed windows of [`MemoryRateLimiter`], counted in one Redis that
//! every instance of a deployment shares.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ConnectionAddr, RedisError, Script};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{MemoryRateLimiter, RateLimiter};
use crate::config::RateLimit;
use crate::error::{ConfigError, Error};

/// One attempt, atomically: `KEYS[1]` is the counter, `ARGV[1]` the attempts a window admits,
/// `ARGV[2]` the window in milliseconds. Returns 0 when the attempt is admitted (and counted),
/// else the milliseconds until the window ends (at least 1); a refused attempt is not counted.
/// The first attempt of a window creates the counter with the window as its expiry, so counters
/// expire on their own and the window is measured by Redis's clock alone.
const HIT_SCRIPT: &str = r"
local max = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1])) or 0
if count >= max then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    -- A counter without expiry (written by hand) must not refuse forever.
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    left = tonumber(ARGV[2])
  end
  if left < 1 then left = 1 end
  return left
end
if count == 0 then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
else
  redis.call('INCR', KEYS[1])
end
return 0
";

/// The shortest key secret [`RedisRateLimiterBuilder::key_secret`] accepts, in bytes.
const MIN_KEY_SECRET: usize = 16;

/// The longest backoff [`RedisRateLimiterBuilder::backoff`] accepts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What [`RedisRateLimiter`] does while Redis cannot be reached (refused connection, an error,
/// or no answer within the timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenUnavailable {
    /// Count in a [`MemoryRateLimiter`] of this process (the default): each instance then limits
    /// on its own, as without Redis, until Redis answers again.
    #[default]
    CountLocally,
    /// Refuse every rate-limited request (fail closed), with a `Retry-After` of the backoff
    /// (whole seconds, at least one).
    Refuse,
    /// Admit every rate-limited request unchecked (fail open).
    Allow,
}

/// Builds a [`RedisRateLimiter`]; see [`RedisRateLimiter::builder`].
pub struct RedisRateLimiterBuilder {
    url: String,
    prefix: String,
    key_secret: Option<Zeroizing<Vec<u8>>>,
    timeout: Duration,
    backoff: Duration,
    when_unavailable: WhenUnavailable,
}

impl RedisRateLimiterBuilder {
    /// The prefix of every key the limiter writes (default `assimetria-auth:rl:`): give each
    /// deployment that shares a Redis its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one attempt waits for Redis, connecting included (default 250 ms, at least
    /// 1 ms); past it the attempt is handled as [`WhenUnavailable`] says.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long Redis is left alone after a failure before one attempt tries it again (default
    /// 5 s, at most an hour); meanwhile attempts are handled as [`WhenUnavailable`] says without
    /// waiting.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff.min(MAX_BACKOFF);
        self
    }

    /// A secret every instance of the deployment shares (at least 16 bytes; 32 random bytes are
    /// right), under which counters are named by HMAC-SHA-256 instead of plain SHA-256.
    ///
    /// Without it, a key is the SHA-256 of `login:account:<email>`: no email is stored in clear,
    /// but whoever can read Redis can test a list of guessed emails (or every IPv4 address)
    /// against the keys and learn who is being targeted. With it, the keys reveal nothing to
    /// someone without the secret. A shorter secret is ignored with an error from
    /// [`build`](Self::build) ([`ConfigError::InvalidRedisKeySecret`]).
    pub fn key_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.key_secret = Some(Zeroizing::new(secret.into()));
        self
    }

    /// What to do while Redis cannot be reached (default [`WhenUnavailable::CountLocally`]).
    pub fn when_unavailable(mut self, mode: WhenUnavailable) -> Self {
        self.when_unavailable = mode;
        self
    }

    /// Parses the URL and tries Redis once, within the timeout. A URL that does not parse is
    /// [`ConfigError::InvalidRedisUrl`]; an unreachable Redis is not an error: the limiter
    /// starts as [`WhenUnavailable`] says, logs a warning, and tries again after the backoff.
    ///
    /// Call it inside a tokio runtime: the connection lives on it.
    pub async fn build(self) -> Result<RedisRateLimiter, Error> {
        let key_mac = match &self.key_secret {
            Some(secret) if secret.len() >= MIN_KEY_SECRET => Some(
                Hmac::<Sha256>::new_from_slice(secret)
                    .map_err(|_| ConfigError::InvalidRedisKeySecret)?,
            ),
            Some(_) => return Err(ConfigError::InvalidRedisKeySecret.into()),
            None => None,
        };
        let client = Client::open(self.url.as_str()).map_err(|_| ConfigError::InvalidRedisUrl)?;
        let address = redact(&client);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // No retries inside the manager: a failed connection fails the attempt at once, and
            // the limiter's own backoff decides when Redis is tried again.
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|_| ConfigError::InvalidRedisUrl)?;
        let limiter = RedisRateLimiter {
            connection,
            script: Script::new(HIT_SCRIPT),
            prefix: self.prefix,
            key_mac,
            timeout: self.timeout,
            backoff: self.backoff,
            when_unavailable: self.when_unavailable,
            local: MemoryRateLimiter::new(),
            health: Mutex::new(Health::Up),
            address,
        };
        // Loads the script too, so that the first attempt pays one round trip.
        let mut connection = limiter.connection.clone();
        let loaded = tokio::time::timeout(
            limiter.timeout,
            limiter.script.prepare_invoke().load_async(&mut connection),
        )
        .await;
        match loaded {
            Ok(Ok(_)) => tracing::debug!(redis = %limiter.address, "Redis rate limiter connected"),
            Ok(Err(e)) => limiter.went_down(&Failure::Redis(e)),
            Err(_) => limiter.went_down(&Failure::Timeout(limiter.timeout)),
        }
        Ok(limiter)
    }
}

impl fmt::Debug for RedisRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = Client::open(self.url.as_str())
            .map_or_else(|_| "<invalid URL>".to_owned(), |client| redact(&client));
        f.debug_struct("RedisRateLimiterBuilder")
            .field("address", &address)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("when_unavailable", &self.when_unavailable)
            .finish()
    }
}

/// Fixed-window counters in Redis, shared by every instance of a deployment: with N instances
/// behind a load balancer, a login limit of 10 per account admits 10 guesses in all, not 10N.
///
/// The windows are [`MemoryRateLimiter`]'s: a window starts at the key's first attempt and lasts
/// `limit.window` (whole seconds, at least one); `limit.max` attempts are admitted; further ones
/// are refused with the time left in the window (rounded up to whole seconds, at least one) and
/// are not counted. Each attempt is one Lua script run (EVALSHA; the script is loaded at start
/// and again whenever Redis has lost it), so it is atomic per key and one round trip.
///
/// **Clock.** Windows are measured by Redis's clock (each counter expires with its window), so
/// instances whose clocks disagree still agree on every window; the `now` argument of
/// [`RateLimiter::hit`] is not used, except by the local fallback.
///
/// **Keys.** A key is the prefix followed by the unpadded base64url HMAC-SHA-256 of the limiter
/// key (`login:account:<email>`, `login:client:<address>`) under a secret the deployment's
/// instances share ([`RedisRateLimiterBuilder::key_secret`]), or its plain SHA-256 without one:
/// no email or address reaches Redis in clear, every key has the same bounded length, and with
/// the secret nobody who reads Redis can test guessed emails against the keys. Counters expire with their window; nothing
/// needs cleaning.
///
/// **When Redis is unreachable** each attempt waits at most the timeout (250 ms by default), then
/// is handled as [`WhenUnavailable`] says (counted locally by default). One warning is logged
/// when Redis becomes unreachable and one info line when it answers again, never one per
/// request; after a failure Redis is left alone for the backoff (5 s by default), after which a
/// single attempt tries it again while the others keep to the fallback. A Redis that is down at
/// start is not an error: the limiter starts in its fallback.
///
/// Its [`Debug`](fmt::Debug) output and log lines name Redis by its address with any password
/// replaced by `***`. Plain TCP only: the `redis` feature does not build TLS (`rediss://`).
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use assimetria_auth::rate_limit::{RedisRateLimiter, WhenUnavailable};
/// use assimetria_auth::{AuthConfig, AuthService, Error, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let limiter = RedisRateLimiter::builder("redis://:password@10.0.0.5:6379/0")
///     .key_prefix("shop-auth:rl:")
///     .timeout(Duration::from_millis(250))
///     .when_unavailable(WhenUnavailable::CountLocally)
///     .build()
///     .await?;
/// let auth = AuthService::builder(AuthConfig::default(), Arc::new(MemoryStore::new()))
///     .rate_limiter(Arc::new(limiter))
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    /// HMAC-SHA-256 under the deployment's key secret, when one is set.
    key_mac: Option<Hmac<Sha256>>,
    timeout: Duration,
    backoff: Duration,
    when_unavailable: WhenUnavailable,
    local: MemoryRateLimiter,
    health: Mutex<Health>,
    address: String,
}

/// Whether Redis answered the last attempt; when it did not, when to try it again.
#[derive(Debug, Clone, Copy)]
enum Health {
    Up,
    Down { retry_at: Instant },
}

/// Why an attempt could not be counted in Redis.
enum Failure {
    Redis(RedisError),
    Timeout(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Redis(e) => write!(f, "{e}"),
            Failure::Timeout(t) => write!(f, "no answer within {t:?}"),
        }
    }
}

impl RedisRateLimiter {
    /// A builder for the Redis at `url` (`redis://[user:password@]host[:port][/db]` or
    /// `redis+unix:///path`), with the defaults: key prefix `assimetria-auth:rl:`, a 250 ms
    /// timeout, a 5 s backoff, and [`WhenUnavailable::CountLocally`].
    pub fn builder(url: impl Into<String>) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            url: url.into(),
            prefix: "assimetria-auth:rl:".to_owned(),
            key_secret: None,
            timeout: Duration::from_millis(250),
            backoff: Duration::from_secs(5),
            when_unavailable: WhenUnavailable::CountLocally,
        }
    }

    /// Redis's address as logs show it: the URL without its password (`redis://***@host:6379/0`).
    pub fn redacted_url(&self) -> &str {
        &self.address
    }

    /// The Redis key that counts `key`: the prefix and the base64url HMAC-SHA-256 of `key` under
    /// the [key secret](RedisRateLimiterBuilder::key_secret), or its plain SHA-256 without one.
    pub fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 43);
        out.push_str(&self.prefix);
        match &self.key_mac {
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(key.as_bytes());
                URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut out);
            }
            None => URL_SAFE_NO_PAD.encode_string(Sha256::digest(key.as_bytes()), &mut out),
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this attempt should ask Redis: always while it answers; once it stopped, only one
    /// attempt per backoff (which pushes the next try a backoff further).
    fn should_ask(&self) -> bool {
        let mut health = self.lock();
        match *health {
            Health::Up => true,
            Health::Down { retry_at } => {
                let now = Instant::now();
                if now < retry_at {
                    return false;
                }
                *health = Health::Down {
                    retry_at: now + self.backoff,
                };
                true
            }
        }
    }

    /// Redis failed: leave it alone for the backoff, and warn if it was answering until now.
    fn went_down(&self, failure: &Failure) {
        let was_up = {
            let mut health = self.lock();
            let was_up = matches!(*health, Health::Up);
            *health = Health::Down {
                retry_at: Instant::now() + self.backoff,
            };
            was_up
        };
        if was_up {
            let fallback = match self.when_unavailable {
                WhenUnavailable::CountLocally => "counting attempts in this instance only",
                WhenUnavailable::Refuse => "refusing rate-limited requests",
                WhenUnavailable::Allow => "admitting rate-limited requests unchecked",
            };
            tracing::warn!(
                redis = %self.address,
                error = %failure,
                "Redis rate limiter unreachable; {fallback} until it answers again"
            );
        }
    }

    /// Redis answered: say so if it had not been answering.
    fn is_up(&self) {
        let was_down = {
            let mut health = self.lock();
            std::mem::replace(&mut *health, Health::Up)
        };
        if matches!(was_down, Health::Down { .. }) {
            tracing::info!(redis = %self.address, "Redis rate limiter reachable again");
        }
    }

    /// One attempt in Redis, within the timeout.
    async fn ask(&self, key: &str, limit: RateLimit) -> Result<Result<(), Duration>, Failure> {
        let window_ms = window_ms(limit);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.redis_key(key))
            .arg(limit.max)
            .arg(window_ms);
        let mut connection = self.connection.clone();
        let attempt = async {
            match invocation.invoke_async::<i64>(&mut connection).await {
                // A refused connection (the manager's last attempt, made while Redis was down)
                // never reached Redis, and it has just started a fresh one: try that once.
                Err(e) if e.is_connection_refusal() => {
                    invocation.invoke_async(&mut connection).await
                }
                other => other,
            }
        };
        let answer = tokio::time::timeout(self.timeout, attempt).await;
        match answer {
            Err(_) => Err(Failure::Timeout(self.timeout)),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Ok(Ok(left_ms)) if left_ms <= 0 => Ok(Ok(())),
            Ok(Ok(left_ms)) => Ok(Err(retry_after(left_ms))),
        }
    }

    /// An attempt while Redis cannot be reached.
    async fn unavailable(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration> {
        match self.when_unavailable {
            WhenUnavailable::CountLocally => self.local.hit(key, limit, now).await,
            WhenUnavailable::Refuse => {
                let rounded_up =
                    self.backoff.as_secs() + u64::from(self.backoff.subsec_nanos() > 0);
                Err(Duration::from_secs(rounded_up.max(1)))
            }
            WhenUnavailable::Allow => Ok(()),
        }
    }
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("when_unavailable", &self.when_unavailable)
            .field("available", &matches!(*self.lock(), Health::Up))
            .finish()
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    /// Counts the attempt in Redis; `now` is used only while counting locally (see
    /// [`WhenUnavailable::CountLocally`]): Redis's clock measures the windows.
    async fn hit(&self, key: &str, limit: RateLimit, now: i64) -> Result<(), Duration> {
        if !self.should_ask() {
            return self.unavailable(key, limit, now).await;
        }
        match self.ask(key, limit).await {
            Ok(result) => {
                self.is_up();
                result
            }
            Err(failure) => {
                self.went_down(&failure);
                self.unavailable(key, limit, now).await
            }
        }
    }
}

/// The window in milliseconds: whole seconds, at least one, as [`MemoryRateLimiter`] counts.
fn window_ms(limit: RateLimit) -> u64 {
    limit.window.as_secs().clamp(1, u64::MAX / 1000) * 1000
}

/// `Retry-After` for a window with `left_ms` to go: whole seconds, rounded up, at least one.
fn retry_after(left_ms: i64) -> Duration {
    let ms = u64::try_from(left_ms).unwrap_or(1);
    Duration::from_secs(ms.div_ceil(1000).max(1))
}

/// The client's address as a URL without its password.
fn redact(client: &Client) -> String {
    let info = client.get_connection_info();
    let settings = info.redis_settings();
    let user = settings.username().unwrap_or("");
    let credentials = match (user, settings.password().is_some()) {
        ("", false) => String::new(),
        ("", true) => "***@".to_owned(),
        (user, false) => format!("{user}@"),
        (user, true) => format!("{user}:***@"),
    };
    match info.addr() {
        ConnectionAddr::Unix(path) => format!("redis+unix://{credentials}{}", path.display()),
        ConnectionAddr::Tcp(host, port) => {
            format!("redis://{credentials}{host}:{port}/{}", settings.db())
        }
        other => format!("redis://{credentials}{other}/{}", settings.db()),
    }
}

#[cfg(test)]
mod tests;
