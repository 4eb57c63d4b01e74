//! The authentication middleware and its guards, over real TCP. Besides the routes the suite's
//! `serve` mounts for every case, it mounts, behind the adapter's authentication middleware:
//!
//! * `GET /api/guarded`: guarded in one line by the adapter's `require::<TasksWrite>()`, its
//!   handler extracting nothing, answering `{"success": true}`;
//! * `GET /api/signed-in`: guarded by `require_auth()`, its handler reading the principal the
//!   middleware left in the request (axum `Extension<Principal>`, actix `ReqData<Principal>`),
//!   answering `{"success": true, "subject"}`;
//! * under `/stripped`: the seed's routes and `GET /api/whoami` (`AuthUser`, answering like
//!   `/api/signed-in`), behind a middleware that runs after the authentication middleware and
//!   removes the `Authorization` and `Cookie` headers, and behind that a second authentication
//!   middleware. Whatever still authenticates there reuses the first middleware's outcome: it
//!   could not authenticate again if it tried.
//!
//! The adapter's `serve_without_layer` mounts the seed's routes and `/api/tasks` with no
//! authentication middleware at all.

use std::sync::{Mutex, Once};

use assimetria_auth::rbac::seed;
use serde_json::json;

use super::{Server, send};

pub async fn require_layer_guards_a_whole_router(s: &Server) {
    s.user("viewer@example.com", seed::VIEWER).await;
    s.user("member@example.com", seed::MEMBER).await;
    let (viewer, _) = s.login("viewer@example.com").await;
    let (member, _) = s.login("member@example.com").await;

    let r = send(s.http.get(s.url("/api/guarded"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.error_code(), "unauthorized");
    // The very refusal authentication produced: a presented, bad token.
    let r = s.get_bearer("/api/guarded", "not-a-token").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(r.error_code(), "invalid_token");

    let r = s.get_bearer("/api/guarded", &viewer).await;
    assert_eq!(r.status, 403, "a viewer lacks tasks:write");
    assert_eq!(r.error_code(), "forbidden");
    assert!(r.body["message"].as_str().unwrap().contains("tasks:write"));

    let r = s.get_bearer("/api/guarded", &member).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"success": true}));
}

pub async fn require_auth_hands_the_principal_to_handlers(s: &Server) {
    let viewer = s.user("viewer@example.com", seed::VIEWER).await;
    let (token, _) = s.login("viewer@example.com").await;

    let r = send(s.http.get(s.url("/api/signed-in"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "unauthorized");

    let r = s.get_bearer("/api/signed-in", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "subject": viewer.to_string()})
    );
    // The cookie too (a read: the CSRF rule lets it pass).
    let r = send(
        s.http
            .get(s.url("/api/signed-in"))
            .header("cookie", format!("assimetria_jwt={token}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

pub async fn extractors_and_endpoints_reuse_the_middlewares_authentication(s: &Server) {
    let id = s.user("member@example.com", seed::MEMBER).await;
    let (token, _) = s.login("member@example.com").await;
    let cookie = format!("assimetria_jwt={token}");

    // The credential is gone by the time these run; the middleware's principal is not.
    let r = s.get_bearer("/stripped/api/whoami", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subject"], id.to_string());
    let r = s.get_bearer("/stripped/api/auth/me", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["email"], "member@example.com");
    let r = send(
        s.http
            .get(s.url("/stripped/api/auth/me"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // So are its refusals: authenticating again would see no credential at all (a plain
    // `Bearer` challenge, `unauthorized`), not the token that was presented.
    for path in ["/stripped/api/whoami", "/stripped/api/auth/me"] {
        let r = s.get_bearer(path, "not-a-token").await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_code(), "invalid_token", "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    // A cross-origin cookie write is the middleware's 403, not a 401 for a missing cookie.
    let r = send(
        s.http
            .post(s.url("/stripped/api/auth/logout"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "cross_origin");
    // And a logout through the reused principal ends the session.
    let r = s.post_bearer("/stripped/api/auth/logout", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get_bearer("/api/auth/me", &token).await.status, 401);
}

/// The seed's endpoints work without the middleware; an extractor answers a 500 in the seed's
/// shape, and the log names `fix`.
pub async fn without_the_middleware_extractors_answer_500_naming_the_fix(s: &Server, fix: &str) {
    capture_logs();
    s.user("member@example.com", seed::MEMBER).await;
    let (token, _) = s.login("member@example.com").await;
    let r = s.get_bearer("/api/auth/me", &token).await;
    assert_eq!(r.status, 200, "the seed's endpoints need no middleware");

    let r = s.get_bearer("/api/tasks", &token).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.error_code(), "internal_error");
    assert_eq!(r.body["message"], "internal server error");
    let r = send(s.http.get(s.url("/api/tasks"))).await;
    assert_eq!(r.status, 500, "whatever the credential");
    let log = logged();
    assert!(
        log.lines()
            .any(|l| l.contains("no authentication middleware") && l.contains(fix)),
        "the log names the fix `{fix}`:\n{log}"
    );
}

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Every test's log lines, once [`capture_logs`] has run in this test binary.
fn logged() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the process's log (every thread's: the actix server runs on its own) to [`LOG`].
fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init()
            .expect("no other subscriber in this test binary");
    });
}
