//! The request's hot path, measured through the public API as a host calls it
//! (`AuthService::authenticate`), each group beside its comparators so that the ratios come from
//! one run on the same machine:
//!
//! | group | measured | against |
//! |---|---|---|
//! | `hs256` | `authenticate` with the token cache off (`verify`), the same token again (`cached`), garbage (`garbage`) | bare `jsonwebtoken::decode`, and the primitive `floor`: base64 + one HMAC with a precomputed key + constant-time compare + serde claims |
//! | `eddsa` | `verify`, `cached` | the `floor`: base64 + `ed25519_dalek` verification + serde claims |
//! | `api_key` | a key through `MemoryStore` with 1 M keys (`memory_cached`, and `memory_uncached` with the key cache off), through `SqlStore` on SQLite in steady state (`sqlite_cached`) | the `floor`: SHA-256 + lookup in a 1 M-entry `HashMap` |
//! | `scaling` | `verify` on 1 and on 2 threads, and a cache hit on 1 and 2 threads | the HS256 `floor` on 1 and 2 threads |
//!
//! Run `cargo bench --bench hot_path`, then `python3 scripts/bench-report.py` for the ratios.
//! Allocation counts are `benches/allocations.rs`.

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assimetria_auth::api_key::{ApiKeyFormat, Environment};
use assimetria_auth::rbac::seed;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::store::{NewApiKey, Store, TokenHash};
use assimetria_auth::token::{AccessClaims, JwtKey, KeyRing};
use assimetria_auth::{AuthConfig, AuthService, CacheConfig, MasterKey, Password, SqlStore};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit as _};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest as _, Sha256};
use support::*;

/// API keys the `api_key` rows cycle through (all fit in the key cache).
const HOT_KEYS: usize = 1024;
/// Keys in the memory store and the floor's map.
const STORED_KEYS: usize = 1_000_000;

fn hs256(c: &mut Criterion) {
    let rt = runtime();
    let (uncached, cached) = hs256_services(&rt);
    // Both services sign with the same key: one token serves both.
    let token = access_token(&rt, &uncached, "bench@example.com");
    ready(cached.authenticate(&token)).unwrap();
    let mac = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();
    let decoding = DecodingKey::from_secret(&SECRET).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_issuer(&["assimetria-auth"]);
    validation.set_audience(&["assimetria-api"]);
    jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).unwrap();
    // Token-sized noise that is not a token.
    let garbage: String = (0..token.len())
        .map(|i| char::from(b'A' + (i * 7 % 26) as u8))
        .collect();

    let mut g = c.benchmark_group("hs256");
    g.bench_function("floor", |b| b.iter(|| floor_hs256(black_box(&token), &mac)));
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessClaims>(black_box(&token), &decoding, &validation).unwrap()
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| ready(uncached.authenticate(black_box(&token))).unwrap())
    });
    g.bench_function("cached", |b| {
        b.iter(|| ready(cached.authenticate(black_box(&token))).unwrap())
    });
    g.bench_function("garbage", |b| {
        b.iter(|| ready(cached.authenticate(black_box(&garbage))).is_err())
    });
    g.finish();
}

fn eddsa(c: &mut Criterion) {
    let rt = runtime();
    let key = JwtKey::ed25519_from_seed("k1", SEED).unwrap();
    let public = key.ed25519_public_bytes().unwrap();
    let uncached = service(&rt, key.clone(), no_token_cache());
    let cached = service(&rt, key, CacheConfig::default());
    let token = access_token(&rt, &uncached, "bench@example.com");
    ready(cached.authenticate(&token)).unwrap();
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();

    let mut g = c.benchmark_group("eddsa");
    g.bench_function("floor", |b| {
        b.iter(|| floor_eddsa(black_box(&token), &verifying))
    });
    g.bench_function("verify", |b| {
        b.iter(|| ready(uncached.authenticate(black_box(&token))).unwrap())
    });
    g.bench_function("cached", |b| {
        b.iter(|| ready(cached.authenticate(black_box(&token))).unwrap())
    });
    g.finish();
}

/// `count` stored keys owned by a new admin of `service`: `HOT_KEYS` real ones (returned) and
/// fillers.
fn stored_keys(
    rt: &tokio::runtime::Runtime,
    service: &AuthService,
    store: &Arc<dyn Store>,
    count: usize,
) -> Vec<String> {
    let format = ApiKeyFormat::new("osk").unwrap();
    rt.block_on(async {
        let admin = service
            .create_user(
                "admin@example.com",
                &Password::new("correct horse battery"),
                seed::ADMIN,
            )
            .await
            .unwrap();
        let mut hot = Vec::with_capacity(HOT_KEYS);
        for i in 0..count {
            let (hash, plaintext) = if i < HOT_KEYS {
                let minted = format.mint(Environment::Live).unwrap();
                (minted.hash, Some(minted.key.expose().to_owned()))
            } else {
                (TokenHash::of(&format!("filler-{i}")), None)
            };
            store
                .create_api_key(NewApiKey {
                    name: format!("key {i}"),
                    hash,
                    prefix: "osk_live_bnch".into(),
                    environment: Environment::Live,
                    role: seed::MEMBER,
                    org: None,
                    created_by: admin.id,
                    created_at: 1_800_000_000,
                })
                .await
                .unwrap();
            hot.extend(plaintext);
        }
        hot
    })
}

/// A service over `store` with `caches`.
fn service_over(
    rt: &tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    caches: CacheConfig,
) -> AuthService {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .caches(caches)
        .master_key(MasterKey::from_bytes([42; 32]))
        .build()
        .unwrap();
    rt.block_on(
        AuthService::builder(config, store)
            .key_ring(KeyRing::new(JwtKey::hs256("k1", &SECRET).unwrap()).unwrap())
            .build(),
    )
    .unwrap()
}

/// What the `api_key` rows need: built only if one of them runs (it takes a while).
struct KeyBench {
    cached: AuthService,
    uncached: AuthService,
    /// The keys the rows cycle through, on the memory store.
    hot: Vec<String>,
    /// The floor's map: as many entries as the store, keyed by the keys' hashes.
    floor: std::collections::HashMap<[u8; 32], usize>,
    on_sqlite: AuthService,
    sqlite_hot: Vec<String>,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

/// A key cache with room for the hot keys: 16 slots per key, so no group of four overflows and
/// the rows measure the steady state, not evictions.
fn hot_key_cache() -> CacheConfig {
    CacheConfig {
        api_keys: 16 * HOT_KEYS,
        ..CacheConfig::default()
    }
}

fn key_bench() -> KeyBench {
    let rt = runtime();
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let cached = service_over(&rt, Arc::clone(&memory), hot_key_cache());
    let hot = stored_keys(&rt, &cached, &memory, STORED_KEYS);
    let uncached = service_over(
        &rt,
        Arc::clone(&memory),
        CacheConfig {
            api_keys: 0,
            ..CacheConfig::default()
        },
    );
    let mut floor = std::collections::HashMap::with_capacity(STORED_KEYS);
    for (i, key) in hot.iter().enumerate() {
        floor.insert(Sha256::digest(key.as_bytes()).into(), i);
    }
    for i in hot.len()..STORED_KEYS {
        floor.insert(Sha256::digest(format!("filler-{i}").as_bytes()).into(), i);
    }

    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let sqlite: Arc<dyn Store> = Arc::new(rt.block_on(SqlStore::connect(&url)).unwrap());
    let on_sqlite = service_over(&rt, Arc::clone(&sqlite), hot_key_cache());
    let sqlite_hot = stored_keys(&rt, &on_sqlite, &sqlite, HOT_KEYS);
    // Steady state: every hot key has been seen once.
    rt.block_on(async {
        for key in hot.iter() {
            cached.authenticate(key).await.unwrap();
        }
        for key in sqlite_hot.iter() {
            on_sqlite.authenticate(key).await.unwrap();
        }
    });
    KeyBench {
        cached,
        uncached,
        hot,
        floor,
        on_sqlite,
        sqlite_hot,
        _dir: dir,
        rt,
    }
}

fn api_keys(c: &mut Criterion) {
    let mut setup: Option<KeyBench> = None;
    let mut g = c.benchmark_group("api_key");
    let mut n = 0usize;
    let mut cycle = |len: usize| {
        n = (n + 1) % len;
        n
    };
    g.bench_function("floor", |b| {
        let s = setup.get_or_insert_with(key_bench);
        b.iter(|| {
            let key = black_box(&s.hot[cycle(s.hot.len())]);
            s.floor
                .get(&<[u8; 32]>::from(Sha256::digest(key.as_bytes())))
        })
    });
    g.bench_function("memory_cached", |b| {
        let s = setup.get_or_insert_with(key_bench);
        b.iter(|| {
            settle(
                &s.rt,
                s.cached.authenticate(black_box(&s.hot[cycle(s.hot.len())])),
            )
            .unwrap()
        })
    });
    g.bench_function("memory_uncached", |b| {
        let s = setup.get_or_insert_with(key_bench);
        b.iter(|| {
            ready(
                s.uncached
                    .authenticate(black_box(&s.hot[cycle(s.hot.len())])),
            )
            .unwrap()
        })
    });
    g.bench_function("sqlite_cached", |b| {
        let s = setup.get_or_insert_with(key_bench);
        let keys = &s.sqlite_hot;
        b.iter(|| {
            ready(
                s.on_sqlite
                    .authenticate(black_box(&keys[cycle(keys.len())])),
            )
            .unwrap()
        })
    });
    g.finish();
}

/// Runs `work` `iters` times on each of `threads` threads at once; the wall time.
fn on_threads(threads: usize, iters: u64, work: &(impl Fn(usize) + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for _ in 0..iters {
                    work(t);
                }
            });
        }
    });
    start.elapsed()
}

fn scaling(c: &mut Criterion) {
    let rt = runtime();
    let (uncached, cached) = hs256_services(&rt);
    // One user per thread, as different clients would be.
    let tokens = [
        access_token(&rt, &uncached, "one@example.com"),
        access_token(&rt, &uncached, "two@example.com"),
    ];
    let mac = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();

    let mut g = c.benchmark_group("scaling");
    for threads in [1, 2] {
        g.bench_function(format!("floor_{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &|t| {
                    black_box(floor_hs256(&tokens[t], &mac));
                })
            })
        });
        g.bench_function(format!("verify_{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &|t| {
                    black_box(ready(uncached.authenticate(&tokens[t])).unwrap());
                })
            })
        });
        g.bench_function(format!("cached_{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &|t| {
                    black_box(ready(cached.authenticate(&tokens[t])).unwrap());
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = hs256, eddsa, api_keys, scaling
}
criterion_main!(benches);
