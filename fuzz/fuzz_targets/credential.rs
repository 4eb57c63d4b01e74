//! The credential path from raw header strings to a verdict: `http::extract_credential`, the
//! API-key classifier (`ApiKeyFormat::looks_like_key` / `parse`), `AuthService::authenticate_jwt`,
//! `AuthService::authenticate`, `http::check_csrf`, and `HttpApi::authenticate` end to end.
//!
//! Must never panic. Besides, it checks:
//! * the credential found is a piece of the header it came from (or empty), a bearer value is
//!   trimmed;
//!   no `Authorization` header means the cookie (or nothing), never a bearer credential;
//! * a value that parses as an API key is also classified as one (else it would take the JWT path);
//! * nothing authenticates: the service signs with a random Ed25519 key and its store is empty,
//!   so an accepted credential would be a forgery;
//! * `HttpApi::authenticate` answers 401 or 403 in the seed's error shape.
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
use assimetria_auth::http::{self, CredentialSource, HttpApi, RequestMeta};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

struct Fixture {
    rt: Runtime,
    service: AuthService,
    api: HttpApi,
    format: ApiKeyFormat,
    cookie_name: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = common::runtime();
        let service = common::service(&rt, None);
        Fixture {
            api: HttpApi::new(service.clone()),
            format: ApiKeyFormat::new(&service.config().api_key_prefix).expect("format"),
            cookie_name: service.config().cookie.name.clone(),
            service,
            rt,
        }
    })
}

/// Whether `part` lies inside `whole` (the extractor must not invent or copy credentials).
fn is_within(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
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

    let found = http::extract_credential(&meta, &f.cookie_name);
    match (found, meta.authorization, meta.cookie) {
        (Some((value, CredentialSource::Bearer)), Some(auth), _) => {
            // Another scheme yields the empty credential (refused later), not a piece of the header.
            assert!(
                value.is_empty() || is_within(value, auth),
                "bearer value not from the header"
            );
            assert_eq!(value, value.trim(), "bearer value not trimmed");
        }
        (Some((value, CredentialSource::Cookie)), None, Some(cookie)) => {
            assert!(is_within(value, cookie), "cookie value not from the header");
        }
        (None, None, _) => {}
        (found, auth, cookie) => {
            panic!("credential {found:?} from authorization {auth:?} and cookie {cookie:?}")
        }
    }

    if let Some((value, source)) = found {
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
        let csrf = http::check_csrf(&meta, source, &[]);
        if source == CredentialSource::Bearer || meta.method == "GET" {
            assert!(
                csrf.is_ok(),
                "CSRF rule refused a bearer or GET request: {meta:?}"
            );
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
        }
    }
});
