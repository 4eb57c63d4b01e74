//! What the benchmarks (and the allocation test) share: the primitive floors the crate is
//! measured against, and services set up as a host would.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;

use assimetria_auth::rbac::seed;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::token::{JwtKey, KeyRing};
use assimetria_auth::{AuthConfig, AuthService, CacheConfig, Password, Principal, Role};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha2::Sha256;

pub(crate) const SECRET: [u8; 32] = [0x5a; 32];
pub(crate) const SEED: [u8; 32] = [0x11; 32];

/// Polls a future that completes without waiting (a cache hit, the memory store) once.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the measured path waited"),
    }
}

/// Like [`ready`], but a future that does wait (a store read on a cache miss) is finished on
/// `rt`: the steady-state rows count the occasional miss instead of failing on it.
pub(crate) fn settle<F: Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    let _context = rt.enter();
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => rt.block_on(future),
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the floors read: the claims, owned, as a hand-written verifier would keep them.
#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorClaims<'a> {
    sub: String,
    sid: String,
    role: String,
    #[serde(default)]
    org: Option<String>,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: &'a str,
}

pub(crate) fn floor_claims(payload: &[u8]) -> (String, String, String, Option<String>) {
    let c: FloorClaims<'_> = serde_json::from_slice(payload).unwrap();
    assert!(c.iss == "assimetria-auth" && c.aud == "assimetria-api" && c.exp > c.nbf);
    (c.sub, c.sid, c.role, c.org)
}

/// The HS256 floor: base64, one HMAC from a precomputed key, a constant-time compare, serde.
pub(crate) fn floor_hs256(
    token: &str,
    mac: &Hmac<Sha256>,
) -> (String, String, String, Option<String>) {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let payload = signing_input.split_once('.').unwrap().1;
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let mut mac = mac.clone();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature).unwrap();
    floor_claims(&URL_SAFE_NO_PAD.decode(payload).unwrap())
}

/// The Ed25519 floor: base64, one `ed25519_dalek` verification, serde.
pub(crate) fn floor_eddsa(
    token: &str,
    key: &ed25519_dalek::VerifyingKey,
) -> (String, String, String, Option<String>) {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let payload = signing_input.split_once('.').unwrap().1;
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
    ed25519_dalek::Verifier::verify(key, signing_input.as_bytes(), &signature).unwrap();
    floor_claims(&URL_SAFE_NO_PAD.decode(payload).unwrap())
}

/// A service on a memory store with the host's `key`, and `caches`.
pub(crate) fn service(
    rt: &tokio::runtime::Runtime,
    key: JwtKey,
    caches: CacheConfig,
) -> AuthService {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .caches(caches)
        .build()
        .unwrap();
    rt.block_on(
        AuthService::builder(config, Arc::new(MemoryStore::new()))
            .key_ring(KeyRing::new(key).unwrap())
            .build(),
    )
    .unwrap()
}

/// An access token of a new signed-in member of `service`.
pub(crate) fn access_token(
    rt: &tokio::runtime::Runtime,
    service: &AuthService,
    email: &str,
) -> String {
    signed_in(rt, service, email, seed::MEMBER).0
}

/// A new user with `role`, signed in: their access token and principal.
pub(crate) fn signed_in(
    rt: &tokio::runtime::Runtime,
    service: &AuthService,
    email: &str,
    role: Role,
) -> (String, Arc<Principal>) {
    rt.block_on(async {
        let password = Password::new("correct horse battery");
        service.create_user(email, &password, role).await.unwrap();
        let login = service.login(email, &password, None).await.unwrap();
        let token = login.access_token.expose().to_owned();
        let principal = service.authenticate(&token).await.unwrap();
        (token, principal)
    })
}

/// Two services signing with the same HS256 key: one with the token cache off, one with the
/// defaults (a token of either verifies on both).
pub(crate) fn hs256_services(rt: &tokio::runtime::Runtime) -> (AuthService, AuthService) {
    let key = JwtKey::hs256("k1", &SECRET).unwrap();
    (
        service(rt, key.clone(), no_token_cache()),
        service(rt, key, CacheConfig::default()),
    )
}

pub(crate) fn no_token_cache() -> CacheConfig {
    CacheConfig {
        tokens: 0,
        ..CacheConfig::default()
    }
}
