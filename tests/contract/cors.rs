//! CORS for `AuthConfig::allowed_origins`, over real TCP: what a browser on an allowed origin
//! needs (the preflight, then the credentialed write it may read), what any other origin gets,
//! and that nothing changes when no origin is configured.

use assimetria_auth::AuthConfig;
use assimetria_auth::rbac::seed;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Server, send};

/// The origin [`cors_config`] allows.
pub const ALLOWED: &str = "https://admin.example.com";
const OTHER: &str = "https://evil.example";

/// The default test config with [`ALLOWED`] as an allowed origin.
pub fn cors_config() -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .allowed_origins(vec![ALLOWED.to_owned()])
        .build()
        .unwrap()
}

/// A preflight for a credentialed JSON `method` to `path` from `origin`. Not through `send`: a
/// refused preflight's body is the CORS middleware's, not the seed's JSON.
pub async fn preflight(
    s: &Server,
    path: &str,
    origin: &str,
    method: &str,
) -> (StatusCode, HeaderMap) {
    let res = s
        .http
        .request(Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the comma-separated list in header `name` holds `item` (case-insensitively).
fn lists(headers: &HeaderMap, name: &str, item: &str) -> bool {
    let list = header(headers, name).unwrap_or_default();
    list.split(',').any(|i| i.trim().eq_ignore_ascii_case(item))
}

pub async fn cors_for_allowed_origins(s: &Server) {
    s.user("member@example.com", seed::MEMBER).await;
    let (token, _) = s.login("member@example.com").await;
    let cookie = format!("assimetria_jwt={token}");

    // The preflight of a credentialed JSON POST, to a host route and to a seed route.
    for path in ["/api/tasks", "/api/auth/logout"] {
        let (status, h) = preflight(s, path, ALLOWED, "POST").await;
        assert!(status.is_success(), "{path}: {status}");
        assert_eq!(header(&h, "access-control-allow-origin"), Some(ALLOWED));
        assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
        assert!(lists(&h, "access-control-allow-methods", "POST"), "{h:?}");
        assert!(lists(&h, "access-control-allow-methods", "DELETE"), "{h:?}");
        assert!(
            lists(&h, "access-control-allow-headers", "content-type"),
            "{h:?}"
        );
        assert!(
            lists(&h, "access-control-allow-headers", "authorization"),
            "{h:?}"
        );
    }

    // The write itself passes the CSRF rule, and the browser may read its answer.
    let w = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("origin", ALLOWED)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(w.status, 201, "{}", w.body);
    assert_eq!(w.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(w.header("access-control-allow-credentials"), Some("true"));
    assert!(lists(
        &w.headers,
        "access-control-expose-headers",
        "retry-after"
    ));
    // Refusals are readable too (the page learns it must sign in, and why).
    let r = send(s.http.get(s.url("/api/guarded")).header("origin", ALLOWED)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some(ALLOWED));
    assert!(lists(
        &r.headers,
        "access-control-expose-headers",
        "www-authenticate"
    ));

    // Any other origin: no leave to read (tower-http answers its preflight 200 without the
    // header, actix-cors 400), and its cookie write is still the CSRF rule's 403.
    let (_, h) = preflight(s, "/api/tasks", OTHER, "POST").await;
    assert_eq!(header(&h, "access-control-allow-origin"), None, "{h:?}");
    let evil = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("origin", OTHER)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.error_code(), "cross_origin");
    assert_eq!(evil.header("access-control-allow-origin"), None);
}

pub async fn no_cors_without_allowed_origins(s: &Server) {
    // OPTIONS keeps its answer: a seed path's 405 with `Allow`, in the seed's shape.
    let options = send(
        s.http
            .request(Method::OPTIONS, s.url("/api/auth/login"))
            .header("origin", ALLOWED)
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert_eq!(options.status, 405);
    assert_eq!(options.error_code(), "method_not_allowed");
    assert_eq!(options.header("allow"), Some("POST"));
    let me = send(s.http.get(s.url("/api/auth/me")).header("origin", ALLOWED)).await;
    assert_eq!(me.status, 401);
    for r in [&options, &me] {
        let cors: Vec<_> = r
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }
}
