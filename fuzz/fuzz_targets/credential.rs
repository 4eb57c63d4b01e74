//! The credential path from raw header strings to a verdict, through the public API: the API-key
//! classifier (`ApiKeyFormat::looks_like_key` / `parse`), `AuthService::authenticate_jwt`,
//! `AuthService::authenticate`, and `HttpApi::authenticate` end to end (which finds the credential
//! and applies the CSRF rule; the finder's own properties, now that it is private, are a proptest
//! in `src/http/request.rs`).
//!
//! Must never panic. Besides, it checks:
//! * a value that parses as an API key is also classified as one (else it would take the JWT path);
//! * nothing authenticates: the service signs with a random Ed25519 key and its store is empty,
//!   so an accepted credential would be a forgery;
//! * `HttpApi::authenticate` answers 401 or 403 in the seed's error shape, and 403 only as the
//!   CSRF refusal of a cookie-authenticated write (never for a bearer or a `GET`).
//!
//! # Input
//!
//! Byte 0 is a set of flags: bit 0 `Authorization` present, bit 1 `Cookie`, bit 2 `Origin`,
//! bit 3 `Sec-Fetch-Site`, bit 4 `Host`, bits 5-6 the method (`GET`, `POST`, `DELETE`, `PATCH`).
//! The rest, as UTF-8 (lossy), split on `\n`, gives the present headers in that order.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use assimetria_auth::AuthService;
use assimetria_auth::api_key::ApiKeyFormat;
use assimetria_auth::http::{HttpApi, RequestMeta};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

struct Fixture {
    rt: Runtime,
    service: AuthService,
    api: HttpApi,
    format: ApiKeyFormat,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = common::runtime();
        let service = common::service(&rt, None);
        Fixture {
            api: HttpApi::new(service.clone()),
            format: ApiKeyFormat::new(&service.config().api_key_prefix).expect("format"),
            service,
            rt,
        }
    })
}

/// The values a header could carry as a credential: the whole `Authorization` value and what
/// follows its scheme, and every cookie value.
fn candidates<'a>(meta: &RequestMeta<'a>) -> Vec<&'a str> {
    let mut out = Vec::new();
    if let Some(auth) = meta.authorization {
        out.push(auth.trim());
        if let Some((_, rest)) = auth.trim().split_once(' ') {
            out.push(rest.trim());
        }
    }
    for pair in meta.cookie.unwrap_or("").split(';') {
        if let Some((_, value)) = pair.trim().split_once('=') {
            out.push(value.trim_matches('"'));
        }
    }
    out
}

const METHODS: [&str; 4] = ["GET", "POST", "DELETE", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\n');
    let mut take = |bit: u8| {
        if flags & (1 << bit) != 0 {
            Some(fields.next().unwrap_or(""))
        } else {
            None
        }
    };
    let meta = RequestMeta {
        authorization: take(0),
        cookie: take(1),
        origin: take(2),
        sec_fetch_site: take(3),
        host: take(4),
        method: METHODS[usize::from((flags >> 5) & 3)],
    };
    let f = fixture();

    for value in candidates(&meta) {
        let looks = f.format.looks_like_key(value);
        if f.format.parse(value).is_ok() {
            assert!(
                looks,
                "{value:?} parses as an API key but is not routed as one"
            );
        }
        if let Ok(p) = f.service.authenticate_jwt(value) {
            panic!("forged access token accepted: {value:?} -> {p:?}");
        }
        if let Ok(p) = f.rt.block_on(f.service.authenticate(value)) {
            panic!("forged credential accepted: {value:?} -> {p:?}");
        }
    }

    match f.rt.block_on(f.api.authenticate(&meta)) {
        Ok(p) => panic!("HttpApi::authenticate accepted {meta:?} -> {p:?}"),
        Err(reply) => {
            assert!(
                matches!(reply.status, 401 | 403),
                "status {} for {meta:?}",
                reply.status
            );
            common::check_reply(&reply, &meta);
            if reply.status == 403 {
                let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
                assert_eq!(body["error"], "cross_origin", "403 for {meta:?}");
                assert!(
                    meta.authorization.is_none() && meta.method != "GET",
                    "CSRF rule refused a bearer or GET request: {meta:?}"
                );
            }
        }
    }
});
