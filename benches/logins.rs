//! What a failed login costs, by the kind of account it names: an unknown email (one dummy
//! argon2id), an account with this service's argon2id hash, and accounts imported with another
//! system's hash (bcrypt at cost 4 and 10, PBKDF2-SHA256 at 600,000 iterations) before their
//! first login replaced it. Read the rows as ratios to `unknown_email`: an imported account must
//! never answer faster than a missing one (the login pads it with the dummy's work), so every
//! row is at least 1.
//!
//! `cargo bench --bench logins`

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::rbac::seed;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, AuthService, Password, PasswordInput};
use criterion::{Criterion, criterion_group, criterion_main};

fn service(rt: &tokio::runtime::Runtime) -> AuthService {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .hash_concurrency(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let auth = AuthService::builder(config, Arc::new(MemoryStore::new()))
            .background_revocation_sync(false)
            .build()
            .await
            .unwrap();
        let plain = PasswordInput::Plain(Password::new("correct horse battery"));
        auth.import_user("argon2id@example.com", plain, seed::VIEWER)
            .await
            .unwrap();
        for (email, cost) in [("bcrypt4@example.com", 4), ("bcrypt10@example.com", 10)] {
            let hash = bcrypt::hash_with_salt("correct horse battery", cost, [7; 16])
                .unwrap()
                .to_string();
            let input = PasswordInput::Hash(hash);
            auth.import_user(email, input, seed::VIEWER).await.unwrap();
        }
        let pbkdf2 = pbkdf2_phc("correct horse battery", 600_000);
        let input = PasswordInput::Hash(pbkdf2);
        auth.import_user("pbkdf2@example.com", input, seed::VIEWER)
            .await
            .unwrap();
        auth
    })
}

/// A PHC PBKDF2-SHA256 string, as RustCrypto's `pbkdf2` writes it.
fn pbkdf2_phc(password: &str, rounds: u32) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let salt = b"benchmark-salt-16";
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, rounds, &mut out);
    format!(
        "$pbkdf2-sha256$i={rounds},l=32${}${}",
        b64.encode(salt),
        b64.encode(out)
    )
}

fn failed_logins(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let auth = service(&rt);
    let wrong = Password::new("not the password at all");
    let mut group = c.benchmark_group("failed_login");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    for (name, email) in [
        ("unknown_email", "nobody@example.com"),
        ("argon2id", "argon2id@example.com"),
        ("imported_bcrypt_cost4", "bcrypt4@example.com"),
        ("imported_bcrypt_cost10", "bcrypt10@example.com"),
        ("imported_pbkdf2_600k", "pbkdf2@example.com"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = rt.block_on(auth.login(email, &wrong, None));
                assert!(out.is_err());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, failed_logins);
criterion_main!(benches);
