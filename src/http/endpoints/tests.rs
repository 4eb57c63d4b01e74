//! The dispatch's order of checks and its refusals, on the endpoint table.

use std::cell::Cell;
use std::future::{Ready, ready};

use super::*;
use crate::http::ROUTES;
use crate::rbac::seed;
use crate::secret::Password;

type Headers<'a> = [(&'a str, &'a str)];
/// Headers, what the body source yields, the status and body expected.
type Case<'a> = (
    &'a Headers<'a>,
    Result<&'static [u8], BodyError>,
    u16,
    &'a str,
);

use crate::http::test_api as api;

fn head<'a>(method: &'a str, headers: &'a Headers<'a>) -> RequestHead<'a, Headers<'a>> {
    RequestHead {
        method,
        authority: None,
        headers,
        peer: None,
        id: None,
        query: None,
    }
}

fn route(path: &str) -> &'static Route {
    ROUTES.iter().find(|r| r.path == path).unwrap()
}

/// A body that notes whether it was read.
fn body<'a>(
    read: &'a Cell<bool>,
    result: Result<&'static [u8], BodyError>,
) -> impl FnOnce(usize) -> Ready<Result<&'static [u8], BodyError>> + 'a {
    move |_| {
        read.set(true);
        ready(result)
    }
}

fn refusal(r: &Reply) -> (u16, &str) {
    (r.status, std::str::from_utf8(&r.body).unwrap())
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_before_anything_else() {
    let (api, read) = (api().await, Cell::new(false));
    let r = api
        .serve(
            route("/api/api-keys"),
            &head("PUT", &[]),
            body(&read, Ok(b"")),
        )
        .await;
    assert_eq!(
        refusal(&r),
        (
            405,
            r#"{"success":false,"error":"method_not_allowed","message":"method not allowed"}"#
        )
    );
    assert_eq!(r.header("allow"), Some("POST,GET,HEAD"));
    let r = api
        .serve(
            route("/api/auth/login"),
            &head("GET", &[]),
            body(&read, Ok(b"")),
        )
        .await;
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(!read.get());
}

#[tokio::test]
async fn authentication_is_decided_before_the_body_is_read() {
    let (api, read) = (api().await, Cell::new(false));
    let oversized: &Headers = &[("content-length", "100000000")];
    let cross_site: &Headers = &[
        ("content-length", "100000000"),
        ("cookie", "assimetria_jwt=abc"),
        ("origin", "https://evil.example"),
    ];
    for &(_, endpoint) in ROUTES.iter().flat_map(|r| r.methods) {
        let r = api
            .handle(endpoint, &head("POST", oversized), body(&read, Ok(b"")))
            .await;
        let expected = if endpoint.authenticated() {
            401
        } else if endpoint == Endpoint::Jwks {
            200 // no body, no credential: the default key ring's public keys
        } else {
            413
        };
        assert_eq!(r.status, expected, "{endpoint:?}");
        if endpoint.authenticated() {
            let r = api
                .handle(endpoint, &head("POST", cross_site), body(&read, Ok(b"")))
                .await;
            assert_eq!(r.status, 403, "{endpoint:?}");
        }
    }
    assert!(!read.get(), "a declared oversized body is never read");
}

#[tokio::test]
async fn bodies_are_refused_in_the_seed_shape() {
    let api = api().await;
    let read = Cell::new(false);
    let json: &Headers = &[("content-type", "application/json")];
    let cases: [Case; 5] = [
        (
            json,
            Err(BodyError::TooLarge),
            413,
            r#"{"success":false,"error":"payload_too_large","message":"request body too large"}"#,
        ),
        (
            json,
            Err(BodyError::Unreadable),
            400,
            r#"{"success":false,"error":"bad_request","message":"malformed request: the request body could not be read"}"#,
        ),
        (
            &[("content-type", "text/plain")],
            Ok(b"{}"),
            400,
            r#"{"success":false,"error":"bad_request","message":"malformed request: expected Content-Type: application/json"}"#,
        ),
        (
            json,
            Ok(b"{\"email\": "),
            400,
            r#"{"success":false,"error":"bad_request","message":"malformed request: the body is not valid JSON"}"#,
        ),
        (
            json,
            Ok(b"[1, 2, 3]"),
            422,
            r#"{"success":false,"error":"validation_error","message":"the JSON body is missing a field or has a field of the wrong type"}"#,
        ),
    ];
    for (headers, result, status, bytes) in cases {
        let r = api
            .handle(Endpoint::Login, &head("POST", headers), body(&read, result))
            .await;
        assert_eq!(refusal(&r), (status, bytes));
        assert!(r.headers.is_empty(), "{:?}", r.headers);
    }
}

#[tokio::test]
async fn set_role_reads_the_body_then_the_id_then_the_json() {
    let api = api().await;
    let password = Password::new("correct horse battery");
    let service = api.service();
    service
        .create_user("admin@example.com", &password, seed::ADMIN)
        .await
        .unwrap();
    let login = service
        .login("admin@example.com", &password, None)
        .await
        .unwrap();
    let bearer = format!("Bearer {}", login.access_token.expose());
    let headers: &Headers = &[
        ("authorization", &bearer),
        ("content-type", "application/json"),
    ];
    let read = Cell::new(false);
    let set_role = |id, result| {
        let head = RequestHead {
            id,
            ..head("PATCH", headers)
        };
        let api = api.clone();
        let read_body = body(&read, result);
        async move { api.handle(Endpoint::SetRole, &head, read_body).await.status }
    };
    assert_eq!(set_role(Some("x"), Err(BodyError::TooLarge)).await, 413);
    assert_eq!(set_role(Some("x"), Ok(b"{")).await, 404);
    assert_eq!(set_role(None, Ok(b"{")).await, 404);
    assert_eq!(set_role(Some("999"), Ok(b"{")).await, 400);
    assert_eq!(
        set_role(Some("999"), Ok(b"{\"role\": \"admin\"}")).await,
        404
    );
    assert!(read.get());
}
