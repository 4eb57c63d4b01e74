use super::*;

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(retry_after(1), Duration::from_secs(1));
    assert_eq!(retry_after(999), Duration::from_secs(1));
    assert_eq!(retry_after(1000), Duration::from_secs(1));
    assert_eq!(retry_after(1001), Duration::from_secs(2));
    assert_eq!(retry_after(49_950), Duration::from_secs(50));
    assert_eq!(retry_after(-5), Duration::from_secs(1));
}

#[test]
fn windows_are_whole_seconds_of_at_least_one() {
    let ms = |d| window_ms(RateLimit::new(1, d));
    assert_eq!(ms(Duration::from_secs(60)), 60_000);
    assert_eq!(ms(Duration::from_millis(1500)), 1000);
    assert_eq!(ms(Duration::ZERO), 1000);
    assert_eq!(ms(Duration::MAX), u64::MAX / 1000 * 1000);
}

#[test]
fn urls_lose_their_password() {
    let redacted = |url: &str| redact(&Client::open(url).unwrap());
    assert_eq!(
        redacted("redis://:s3cret@10.0.0.5:6380/2"),
        "redis://***@10.0.0.5:6380/2"
    );
    assert_eq!(
        redacted("redis://app:s3cret@cache.internal"),
        "redis://app:***@cache.internal:6379/0"
    );
    assert_eq!(
        redacted("redis://127.0.0.1:6379"),
        "redis://127.0.0.1:6379/0"
    );
    assert_eq!(
        redacted("redis+unix:///run/redis.sock?pass=s3cret"),
        "redis+unix://***@/run/redis.sock"
    );
}

#[tokio::test]
async fn keys_are_hashed_and_bounded() {
    let limiter = RedisRateLimiter::builder("redis://127.0.0.1:1")
        .key_prefix("p:")
        .timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let email = "login:account:ada@example.com";
    let key = limiter.redis_key(email);
    assert!(key.starts_with("p:"));
    assert_eq!(key.len(), 2 + 43);
    assert!(!key.contains("ada") && !key.contains('@'), "{key}");
    assert_eq!(key, limiter.redis_key(email), "stable");
    assert_ne!(key, limiter.redis_key("login:account:bob@example.com"));
    assert_eq!(limiter.redis_key(&"x".repeat(60_000)).len(), 2 + 43);
}

#[tokio::test]
async fn a_key_secret_names_counters_so_that_guesses_cannot_be_tested() {
    let build = |secret: Option<&[u8]>| {
        let mut builder = RedisRateLimiter::builder("redis://127.0.0.1:1")
            .key_prefix("p:")
            .timeout(Duration::from_millis(50));
        if let Some(secret) = secret {
            builder = builder.key_secret(secret);
        }
        builder.build()
    };
    let email = "login:account:ada@example.com";
    let plain = build(None).await.unwrap();
    let guessed = format!("p:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(email)));
    assert_eq!(
        plain.redis_key(email),
        guessed,
        "without a secret, a guess matches"
    );
    let keyed = build(Some(&[7; 32])).await.unwrap();
    let key = keyed.redis_key(email);
    assert_ne!(key, guessed, "with one, it does not");
    assert_eq!(key.len(), 2 + 43);
    // Every instance with the same secret names the counter alike; another secret does not.
    assert_eq!(build(Some(&[7; 32])).await.unwrap().redis_key(email), key);
    assert_ne!(build(Some(&[8; 32])).await.unwrap().redis_key(email), key);
    assert!(matches!(
        build(Some(&[7; 15])).await,
        Err(Error::Config(ConfigError::InvalidRedisKeySecret))
    ));
}

#[tokio::test]
async fn extreme_settings_do_not_panic() {
    let limiter = RedisRateLimiter::builder("redis://127.0.0.1:1")
        .timeout(Duration::ZERO)
        .backoff(Duration::MAX)
        .when_unavailable(WhenUnavailable::Refuse)
        .build()
        .await
        .unwrap();
    let limit = RateLimit::new(u32::MAX, Duration::MAX);
    assert_eq!(
        limiter.hit("k", limit, i64::MIN).await,
        Err(MAX_BACKOFF),
        "refused for the (capped) backoff"
    );
    assert!(limiter.hit("k", limit, i64::MAX).await.is_err());
}

#[tokio::test]
async fn bad_urls_are_errors_that_do_not_repeat_them() {
    for url in [
        "",
        "not a url",
        "http://127.0.0.1:6379",
        "redis://:s3cret@[::1",
    ] {
        let err = RedisRateLimiter::builder(url).build().await.unwrap_err();
        assert!(
            matches!(err, Error::Config(ConfigError::InvalidRedisUrl)),
            "{url}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }
}
