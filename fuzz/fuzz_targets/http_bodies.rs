//! The JSON body parsers behind the endpoints `HttpApi::handle` serves with a body, on the ones
//! that do no argon2 work on input the fuzzer can produce:
//!
//! * `refresh` and `forgot_password` (no argon2 at all; the store holds no user);
//! * `reset_password` (a made-up reset token is refused before any hashing);
//! * `verify_email` (a made-up verification token changes nothing);
//! * `create_api_key`, `create_user` and `set_role` as a viewer (parsed, then refused with 403)
//!   and `set_role` as an admin (parsed, then 404: the store has no users, so nothing changes
//!   between inputs).
//!
//! Left out on purpose: `login` (unknown emails still cost one argon2 hash, by design, so that
//! they time like wrong passwords) and `register` (hashes, and stores a user, on valid input);
//! `create_api_key` and `create_user` as an admin would store a key or a user per valid input and
//! grow the store unboundedly (the imported-hash parser has its own unit tests).
//!
//! Every reply: status below 500 and the seed's body shape (see `common::check_reply`).
//!
//! # Input
//!
//! Byte 0 picks the endpoint (`r` refresh, `p` reset_password, `f` forgot_password, `e`
//! verify_email, `k` create_api_key as viewer, `u` create_user as viewer, `v` set_role as viewer,
//! `a` set_role as admin; other bytes by `byte % 8`). Then, up to the first `\n`, the `Content-Type` value (UTF-8; no `\n` at all
//! means no `Content-Type` header and the whole rest is the body); for `set_role`, the next line
//! is the `{id}` path segment; the rest is the body.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use assimetria_auth::rbac::seed;
use std::future::ready;
use std::sync::OnceLock;

use assimetria_auth::http::{BodyError, Endpoint, HttpApi, RequestHead};
use assimetria_auth::rbac::Role;
use assimetria_auth::token::{AccessClaims, JwtKey, KeyRing};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

struct Fixture {
    rt: Runtime,
    api: HttpApi,
    /// `Authorization` values of a viewer and an admin.
    viewer: String,
    admin: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = common::runtime();
        let key = JwtKey::hs256("fuzz-http", &[0x5a; 32]).expect("key");
        let ring = KeyRing::new(key).expect("ring");
        let service = common::service(&rt, Some(ring.clone()));
        // Bearer tokens the service itself accepts.
        let bearer = |sub: &str, role: Role| {
            let config = service.config();
            let claims = AccessClaims {
                sub: sub.into(),
                sid: format!("fuzz-session-{sub}"),
                role,
                org: None,
                iss: config.issuer.clone(),
                aud: config.audience.clone(),
                iat: common::T0,
                nbf: common::T0,
                exp: common::T0 + 86_400,
                jti: format!("fuzz-{sub}"),
            };
            let token = ring.sign(&claims).expect("sign");
            service.authenticate_jwt(token.expose()).expect("own token");
            format!("Bearer {}", token.expose())
        };
        let viewer = bearer("1000", seed::VIEWER);
        let admin = bearer("1001", seed::ADMIN);
        Fixture {
            api: HttpApi::new(service),
            rt,
            viewer,
            admin,
        }
    })
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Refresh,
    ResetPassword,
    ForgotPassword,
    VerifyEmail,
    CreateApiKeyAsViewer,
    CreateUserAsViewer,
    SetRoleAsViewer,
    SetRoleAsAdmin,
}

impl Case {
    fn from_byte(b: u8) -> Self {
        use Case::*;
        match b {
            b'r' => Refresh,
            b'p' => ResetPassword,
            b'f' => ForgotPassword,
            b'e' => VerifyEmail,
            b'k' => CreateApiKeyAsViewer,
            b'u' => CreateUserAsViewer,
            b'v' => SetRoleAsViewer,
            b'a' => SetRoleAsAdmin,
            _ => [
                Refresh,
                ResetPassword,
                ForgotPassword,
                VerifyEmail,
                CreateApiKeyAsViewer,
                CreateUserAsViewer,
                SetRoleAsViewer,
                SetRoleAsAdmin,
            ][usize::from(b % 8)],
        }
    }
}

/// Splits off the line before the first `\n`.
fn line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let case = Case::from_byte(selector);
    let (content_type, rest) = match line(rest) {
        Some((ct, rest)) => (Some(String::from_utf8_lossy(ct)), rest),
        None => (None, rest),
    };
    let content_type = content_type.as_deref();
    let (id, body) = match case {
        Case::SetRoleAsViewer | Case::SetRoleAsAdmin => match line(rest) {
            Some((id, body)) => (String::from_utf8_lossy(id), body),
            None => ("".into(), rest),
        },
        _ => ("".into(), rest),
    };

    let f = fixture();
    let (endpoint, method, bearer) = match case {
        Case::Refresh => (Endpoint::Refresh, "POST", None),
        Case::ResetPassword => (Endpoint::ResetPassword, "POST", None),
        Case::ForgotPassword => (Endpoint::ForgotPassword, "POST", None),
        Case::VerifyEmail => (Endpoint::VerifyEmail, "POST", None),
        Case::CreateUserAsViewer => (Endpoint::CreateUser, "POST", Some(f.viewer.as_str())),
        Case::CreateApiKeyAsViewer => (Endpoint::CreateApiKey, "POST", Some(f.viewer.as_str())),
        Case::SetRoleAsViewer => (Endpoint::SetRole, "PATCH", Some(f.viewer.as_str())),
        Case::SetRoleAsAdmin => (Endpoint::SetRole, "PATCH", Some(f.admin.as_str())),
    };
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(2);
    if let Some(bearer) = bearer {
        headers.push(("authorization", bearer));
    }
    if let Some(content_type) = content_type {
        headers.push(("content-type", content_type));
    }
    let head = RequestHead {
        method,
        authority: None,
        headers: headers.as_slice(),
        peer: None,
        id: Some(&id),
        query: None,
    };
    let reply = f.rt.block_on(async {
        let read_body = |_limit| ready(Ok::<_, BodyError>(body));
        let reply = f.api.handle(endpoint, &head, read_body).await;
        // Let tasks the endpoint spawned (forgot-password's mail task) run now: a current-thread
        // runtime runs them only while `block_on`'s future is pending, and they would pile up.
        tokio::task::yield_now().await;
        reply
    });
    let context = (case, content_type, &id, String::from_utf8_lossy(body));
    common::check_reply(&reply, &context);
});
