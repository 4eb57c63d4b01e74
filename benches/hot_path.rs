//! The request's hot path, measured: access-token verification (this crate against bare
//! `jsonwebtoken::decode` of the same token, in the same group, so the ratio shows in one run)
//! and API-key parsing plus hashing.
//!
//! Run with `cargo bench --bench hot_path`.

use assimetria_auth::rbac::seed;
use std::hint::black_box;
use std::time::Duration;

use assimetria_auth::api_key::{ApiKeyFormat, Environment};
use assimetria_auth::store::TokenHash;
use assimetria_auth::token::{AccessClaims, JwtKey, KeyRing, Validation};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey};

const NOW: i64 = 1_800_000_000;

fn claims() -> AccessClaims {
    AccessClaims {
        sub: "42".into(),
        sid: "Zq3v0mK1c8yq2m0e4Xw9Qg".into(),
        role: seed::MEMBER,
        org: Some("acme".into()),
        iss: "assimetria-auth".into(),
        aud: "assimetria-api".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 86_400,
        jti: "p1Yc7d2Lk0Vt9wS3nB6rHa".into(),
    }
}

fn validation() -> Validation {
    Validation {
        issuer: "assimetria-auth".into(),
        audience: "assimetria-api".into(),
        leeway: Duration::from_secs(30),
    }
}

fn bare_validation(alg: Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&["assimetria-auth"]);
    v.set_audience(&["assimetria-api"]);
    // The bare decoder reads the wall clock; the fixed claims expire in 2027, so skip exp there
    // and keep the work comparable (both still parse every claim).
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v
}

fn verify_group(c: &mut Criterion, name: &str, key: JwtKey, bare_key: DecodingKey, alg: Algorithm) {
    let ring = KeyRing::new(key).unwrap();
    let token = ring.sign(&claims()).unwrap();
    let token = token.expose().to_owned();
    let v = validation();
    let bare_v = bare_validation(alg);
    // Both must accept the token, or the comparison means nothing.
    ring.verify(&token, &v, NOW).unwrap();
    jsonwebtoken::decode::<AccessClaims>(&token, &bare_key, &bare_v).unwrap();

    let mut g = c.benchmark_group(name);
    g.bench_function("assimetria_auth", |b| {
        b.iter(|| ring.verify(black_box(&token), &v, NOW).unwrap())
    });
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessClaims>(black_box(&token), &bare_key, &bare_v).unwrap()
        })
    });
    g.finish();
}

fn token_verification(c: &mut Criterion) {
    let secret = [0x5au8; 32];
    verify_group(
        c,
        "verify_hs256",
        JwtKey::hs256("k1", &secret).unwrap(),
        DecodingKey::from_secret(&secret).unwrap(),
        Algorithm::HS256,
    );
    let key = JwtKey::ed25519_from_seed("k1", [0x11u8; 32]).unwrap();
    let public = key.ed25519_public_bytes().unwrap();
    verify_group(
        c,
        "verify_eddsa",
        key,
        DecodingKey::from_ed_der(&public),
        Algorithm::EdDSA,
    );
}

fn api_keys(c: &mut Criterion) {
    let format = ApiKeyFormat::new("osk").unwrap();
    let minted = format.mint(Environment::Live).unwrap();
    let key = minted.key.expose().to_owned();
    let mut typo = key.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let mut g = c.benchmark_group("api_key");
    g.bench_function("parse_and_hash", |b| {
        b.iter(|| {
            let parsed = format.parse(black_box(&key)).unwrap();
            (parsed, TokenHash::of(black_box(&key)))
        })
    });
    g.bench_function("reject_typo_offline", |b| {
        b.iter(|| format.parse(black_box(&typo)).is_err())
    });
    g.finish();
}

/// The whole JWT path a request takes through the service: key lookup, signature, claims, the
/// revocation set, and the Principal, against bare decoding of the same token.
fn service_authenticate(c: &mut Criterion) {
    use std::sync::Arc;

    use assimetria_auth::Password;
    use assimetria_auth::store::memory::MemoryStore;
    use assimetria_auth::{AuthConfig, AuthService};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secret = [0x5au8; 32];
    let (service, token) = rt.block_on(async {
        let service = AuthService::builder(AuthConfig::default(), Arc::new(MemoryStore::new()))
            .key_ring(KeyRing::new(JwtKey::hs256("k1", &secret).unwrap()).unwrap())
            .build()
            .await
            .unwrap();
        let password = Password::new("correct horse battery");
        service
            .register("bench@example.com", &password, None)
            .await
            .unwrap();
        let login = service
            .login("bench@example.com", &password, None)
            .await
            .unwrap();
        (service, login.access_token.expose().to_owned())
    });
    let key = DecodingKey::from_secret(&secret).unwrap();
    let mut v = bare_validation(Algorithm::HS256);
    v.validate_exp = true;
    let mut g = c.benchmark_group("authenticate_hs256");
    g.bench_function("assimetria_auth_service", |b| {
        b.iter(|| service.authenticate_jwt(black_box(&token)).unwrap())
    });
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<AccessClaims>(black_box(&token), &key, &v).unwrap())
    });
    g.finish();
}

criterion_group!(benches, token_verification, api_keys, service_authenticate);
criterion_main!(benches);
