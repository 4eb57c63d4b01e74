//! What the service-level targets share: one `AuthService` over `MemoryStore`, built once per
//! fuzzing process on a tokio current-thread runtime, and the check of the seed's error shape.
#![allow(dead_code)]

use std::sync::Arc;

use assimetria_auth::clock::ManualClock;
use assimetria_auth::http::Reply;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::token::KeyRing;
use assimetria_auth::{AuthConfig, AuthService};
use serde_json::Value;

/// The service's (fixed) time: runs and crash reproductions see the same clock.
pub const T0: i64 = 1_800_000_000;

/// A current-thread runtime; `block_on` it for each input. Tasks the service spawns (e.g.
/// forgot-password's mail task) run during later `block_on` calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A service over a fresh `MemoryStore`, rate limiting off (the fuzzer is one client sending
/// thousands of requests a second), no background revocation poller, a manual clock at [`T0`].
/// `ring`: the signing keys (default: a random Ed25519 key nobody outside the service knows).
pub fn service(rt: &tokio::runtime::Runtime, ring: Option<KeyRing>) -> AuthService {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .build()
        .expect("config");
    let mut builder = AuthService::builder(config, Arc::new(MemoryStore::new()))
        .clock(Arc::new(ManualClock::new(T0)))
        .background_revocation_sync(false);
    if let Some(ring) = ring {
        builder = builder.key_ring(ring);
    }
    rt.block_on(builder.build()).expect("service")
}

/// Every reply: status below 500 (a 5xx caused by hostile input is a bug), a JSON body; a
/// non-2xx body is exactly the seed's `{"success": false, "error", "message"}`, a 2xx body has
/// `"success": true`; a 401 carries `WWW-Authenticate`.
pub fn check_reply(reply: &Reply, context: &dyn std::fmt::Debug) {
    let body = String::from_utf8_lossy(&reply.body);
    assert!(
        reply.status < 500,
        "status {} for {context:?}: {body}",
        reply.status
    );
    let value: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}) for {context:?}: {body}"));
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("body is not a JSON object for {context:?}: {body}"));
    if (200..300).contains(&reply.status) {
        assert_eq!(
            obj.get("success"),
            Some(&Value::Bool(true)),
            "2xx without success: true for {context:?}: {body}"
        );
    } else {
        let shape = obj.len() == 3
            && obj.get("success") == Some(&Value::Bool(false))
            && obj.get("error").is_some_and(Value::is_string)
            && obj.get("message").is_some_and(Value::is_string);
        assert!(
            shape,
            "status {} without the seed's error shape for {context:?}: {body}",
            reply.status
        );
    }
    if reply.status == 401 {
        assert!(
            reply.header("www-authenticate").is_some(),
            "401 without WWW-Authenticate for {context:?}"
        );
    }
}
