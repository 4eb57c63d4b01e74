//! Heap allocations per call on the hot path, beside the primitive floor's: one HS256
//! verification (token cache off), the same token again (a cache hit), an API key again (a key
//! cache hit), and garbage. Counted with an instrumented global allocator, one call at a time on
//! one thread.
//!
//! Run with `cargo bench --bench allocations`; `tests/allocations.rs` holds the same counts to
//! their limits.

#[path = "support/mod.rs"]
mod support;

use std::alloc::System;

use assimetria_auth::api_key::Environment;
use assimetria_auth::rbac::seed;
use hmac::{Hmac, KeyInit as _};
use sha2::Sha256;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations of one call on each path.
#[derive(Debug)]
pub(crate) struct Counts {
    /// The HS256 floor (base64 buffers, owned claims).
    pub(crate) floor: usize,
    /// `authenticate`, HS256, token cache off.
    pub(crate) verify: usize,
    /// `authenticate`, HS256, the same token again.
    pub(crate) cached: usize,
    /// `authenticate`, an API key seen before.
    pub(crate) api_key_cached: usize,
    /// `authenticate` of token-sized garbage.
    pub(crate) garbage: usize,
}

/// Allocations made by `f`, on this thread's watch (run nothing else meanwhile).
fn allocations<R>(f: impl FnOnce() -> R) -> usize {
    let region = Region::new(GLOBAL);
    let out = f();
    let count = region.change().allocations;
    drop(out);
    count
}

/// Measures every path once (after one warm-up call each).
pub(crate) fn measure() -> Counts {
    let rt = runtime();
    let (uncached, cached) = hs256_services(&rt);
    let token = access_token(&rt, &uncached, "count@example.com");
    let (_, admin) = signed_in(&rt, &cached, "admin@example.com", seed::ADMIN);
    let key = rt
        .block_on(cached.create_api_key(&admin, "count", Environment::Live, Some(seed::MEMBER)))
        .unwrap()
        .key
        .expose()
        .to_owned();
    let mac = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();
    let garbage = "A".repeat(token.len());
    // Warm-up: first calls fill caches and lazily built state.
    floor_hs256(&token, &mac);
    ready(uncached.authenticate(&token)).unwrap();
    ready(cached.authenticate(&token)).unwrap();
    rt.block_on(cached.authenticate(&key)).unwrap();
    let _ = ready(cached.authenticate(&garbage));
    Counts {
        floor: allocations(|| floor_hs256(&token, &mac)),
        verify: allocations(|| ready(uncached.authenticate(&token)).unwrap()),
        cached: allocations(|| ready(cached.authenticate(&token)).unwrap()),
        api_key_cached: allocations(|| ready(cached.authenticate(&key)).unwrap()),
        garbage: allocations(|| ready(cached.authenticate(&garbage)).is_err()),
    }
}

#[allow(dead_code)]
fn main() {
    let c = measure();
    println!("| path | allocations |");
    println!("|---|---|");
    println!("| HS256 floor | {} |", c.floor);
    println!("| authenticate, HS256 (token cache off) | {} |", c.verify);
    println!("| authenticate, the same token again | {} |", c.cached);
    println!("| authenticate, an API key again | {} |", c.api_key_cached);
    println!("| authenticate, garbage | {} |", c.garbage);
}
