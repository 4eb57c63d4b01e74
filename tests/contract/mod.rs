//! The HTTP contract suite: the seed's wire contract, asserted over real TCP with a real HTTP
//! client. Adapter-neutral: an adapter's test file provides `serve(api) -> SocketAddr` (which must
//! also mount `/api/tasks`, GET needing `tasks:read` and POST needing `tasks:write`, answering
//! `{"success": true}`, the routes [`middleware`] describes, all behind the adapter's
//! authentication middleware and its CORS for the allowed origins), `serve_without_layer(api)`
//! (the seed's routes and `/api/tasks` without the middleware) and the text its missing-middleware
//! log names as the fix, and invokes [`contract_suite!`].
#![allow(dead_code, unreachable_pub)]

use assimetria_auth::rbac::seed;
pub mod account;
pub mod cors;
pub mod middleware;

pub use account::{
    change_password_contract, create_user_contract, logout_scopes_contract, sessions_contract,
};

pub use cors::{cors_for_allowed_origins, no_cors_without_allowed_origins};
pub use middleware::{
    extractors_and_endpoints_reuse_the_middlewares_authentication,
    require_auth_hands_the_principal_to_handlers, require_layer_guards_a_whole_router,
    without_the_middleware_extractors_answer_500_naming_the_fix,
};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::Password;
use assimetria_auth::clock::ManualClock;
use assimetria_auth::config::{ForwardedHeader, RateLimit, RateLimits};
use assimetria_auth::http::HttpApi;
use assimetria_auth::rbac::Role;
use assimetria_auth::store::Store;
use assimetria_auth::{AuthConfig, AuthService};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RecordingMailer, T0};

pub const PASSWORD: &str = "correct horse battery";

pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub service: AuthService,
    pub clock: Arc<ManualClock>,
    pub mailer: Arc<RecordingMailer>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The store the suite runs on: a real SQLite file when the feature is on, else in memory.
async fn test_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    #[cfg(feature = "sqlite")]
    {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
        Arc::new(
            assimetria_auth::store::sql::SqlStore::connect(&url)
                .await
                .unwrap(),
        )
    }
    #[cfg(not(feature = "sqlite"))]
    {
        let _ = dir;
        Arc::new(assimetria_auth::store::memory::MemoryStore::new())
    }
}

pub async fn start<F, Fut>(serve: F, config: AuthConfig) -> Server
where
    F: FnOnce(HttpApi) -> Fut,
    Fut: Future<Output = SocketAddr>,
{
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mailer = Arc::new(RecordingMailer::default());
    let service = AuthService::builder(config, test_store(&dir).await)
        .clock(clock.clone())
        .mailer(mailer.clone())
        .build()
        .await
        .unwrap();
    let addr = serve(HttpApi::new(service.clone())).await;
    Server {
        base: format!("http://{addr}"),
        addr,
        service,
        clock,
        mailer,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

pub fn default_config() -> AuthConfig {
    AuthConfig::builder().rate_limiting(false).build().unwrap()
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// Asserts the seed's error shape and returns the code.
    pub fn error_code(&self) -> String {
        assert_eq!(self.body["success"], false, "{}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        let keys: Vec<&String> = self.body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys.len(),
            3,
            "error body has exactly success/error/message: {}",
            self.body
        );
        self.body["error"].as_str().unwrap().to_owned()
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Resp {
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !bytes.is_empty() {
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "every reply is JSON"
        );
    }
    Resp {
        status,
        headers,
        body,
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> Resp {
        send(self.http.post(self.url(path)).bearer_auth(token)).await
    }

    pub async fn user(&self, email: &str, role: Role) -> i64 {
        self.service
            .create_user(email, &Password::new(PASSWORD), role)
            .await
            .unwrap()
            .id
    }

    /// `POST /api/auth/login` with `email` and `password`, whatever the answer.
    pub async fn attempt_login(&self, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password});
        self.post("/api/auth/login", body).await
    }

    /// Logs in over HTTP; returns (access token, refresh token).
    pub async fn login(&self, email: &str) -> (String, String) {
        let r = self
            .post(
                "/api/auth/login",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

pub async fn login_contract(s: &Server) {
    let id = s.user("user@example.com", seed::ADMIN).await;
    let r = s
        .post(
            "/api/auth/login",
            json!({"email": "user@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body), ["refresh_token", "success", "token", "user"]);
    assert_eq!(r.body["success"], true);
    assert_eq!(
        r.body["user"],
        json!({"id": id, "email": "user@example.com", "role": "admin", "email_verified": false})
    );
    let token = r.body["token"].as_str().unwrap();
    assert!(token.starts_with("eyJ"));
    assert_eq!(
        r.header("set-cookie").unwrap(),
        format!("assimetria_jwt={token}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=86400")
    );
    // The token works as a bearer and as the cookie.
    let me = s.get_bearer("/api/auth/me", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(keys(&me.body), ["success", "user"]);
    assert_eq!(me.body["user"]["email"], "user@example.com");
    let me = send(
        s.http
            .get(s.url("/api/auth/me"))
            .header("cookie", format!("assimetria_jwt={token}")),
    )
    .await;
    assert_eq!(me.status, 200);
}

pub async fn login_failures_look_alike(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let wrong = s
        .post(
            "/api/auth/login",
            json!({"email": "user@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown = s
        .post(
            "/api/auth/login",
            json!({"email": "ghost@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    assert_eq!(wrong.error_code(), "invalid_credentials");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.header("set-cookie").is_none());
}

pub async fn register_contract(s: &Server) {
    let r = s
        .post(
            "/api/auth/register",
            json!({"email": "New@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(keys(&r.body), ["refresh_token", "success", "token", "user"]);
    assert_eq!(r.body["user"]["email"], "new@example.com");
    assert_eq!(r.body["user"]["role"], "viewer");
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("assimetria_jwt=")
    );

    let dup = s
        .post(
            "/api/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error_code(), "email_taken");

    let weak = s
        .post(
            "/api/auth/register",
            json!({"email": "b@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, 422);
    assert_eq!(weak.error_code(), "validation_error");

    let missing = s
        .post("/api/auth/register", json!({"email": "c@example.com"}))
        .await;
    assert_eq!(missing.status, 422);
    missing.error_code();
}

pub async fn malformed_bodies(s: &Server) {
    for path in [
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
    ] {
        let r = send(
            s.http
                .post(s.url(path))
                .header("content-type", "application/json")
                .body("{\"email\": "),
        )
        .await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.error_code(), "bad_request");

        let r = send(
            s.http
                .post(s.url(path))
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
        assert_eq!(r.status, 400, "{path} needs a JSON content type");

        let r = send(
            s.http
                .post(s.url(path))
                .header("content-type", "application/json")
                .body("[1, 2, 3]"),
        )
        .await;
        assert_eq!(r.status, 422, "{path}");
        r.error_code();
    }
}

/// Sends a raw HTTP/1.1 request whose body is `body_len` bytes of JSON-ish filler, writing the
/// body from another task (the server may answer and close before reading it all), and returns
/// the status line and the response body. `chunked` sends no Content-Length.
async fn raw_big_post(
    addr: SocketAddr,
    path: &str,
    body_len: usize,
    chunked: bool,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = if chunked {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
    } else {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
        )
    };
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            let ok = if chunked {
                let mut framed = format!("{n:x}\r\n").into_bytes();
                framed.extend_from_slice(&chunk[..n]);
                framed.extend_from_slice(b"\r\n");
                wr.write_all(&framed).await
            } else {
                wr.write_all(&chunk[..n]).await
            };
            if ok.is_err() {
                return;
            }
            sent += n;
        }
        if chunked {
            let _ = wr.write_all(b"0\r\n\r\n").await;
        }
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = tokio::time::timeout_at(deadline, rd.read(&mut tmp))
            .await
            .expect("the server answers an oversized body promptly")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub async fn oversized_body_is_413(s: &Server) {
    for path in ["/api/auth/login", "/api/auth/register"] {
        for chunked in [false, true] {
            let (status, body) = raw_big_post(s.addr, path, 8 * 1024 * 1024, chunked).await;
            assert_eq!(status, 413, "{path} chunked={chunked}");
            assert_eq!(body["success"], false);
            assert_eq!(body["error"], "payload_too_large");
        }
    }
    // Just over the 64 KiB default limit is refused too; nothing was created.
    let (status, _) = raw_big_post(s.addr, "/api/auth/register", 64 * 1024 + 1, false).await;
    assert_eq!(status, 413);
    assert!(s.service.store().list_users(None).await.unwrap().is_empty());
}

pub async fn refresh_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let (access, refresh) = s.login("user@example.com").await;
    let r = s
        .post("/api/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body), ["refresh_token", "success", "token"]);
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    assert_eq!(
        s.get_bearer("/api/auth/me", r.body["token"].as_str().unwrap())
            .await
            .status,
        200
    );

    // A refresh token is not an access token.
    let r = s.get_bearer("/api/auth/me", &new_refresh).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(r.error_code(), "invalid_token");

    // Reuse after the grace window: 401 and the whole family is gone.
    s.clock.advance(Duration::from_secs(11));
    let r = s
        .post("/api/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "refresh_token_reused");
    let r = s
        .post("/api/auth/refresh", json!({"refresh_token": new_refresh}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(s.get_bearer("/api/auth/me", &access).await.status, 401);

    let r = s
        .post("/api/auth/refresh", json!({"refresh_token": "nonsense"}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_refresh_token");
}

pub async fn logout_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let (access, _) = s.login("user@example.com").await;
    let r = send(s.http.post(s.url("/api/auth/logout")).bearer_auth(&access)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"success": true}));
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("assimetria_jwt=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    let r = s.get_bearer("/api/auth/me", &access).await;
    assert_eq!(r.status, 401);

    let r = send(s.http.post(s.url("/api/auth/logout"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.error_code(), "unauthorized");
}

pub async fn forgot_and_reset_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let (access, _) = s.login("user@example.com").await;
    let existing = s
        .post(
            "/api/auth/forgot-password",
            json!({"email": "user@example.com"}),
        )
        .await;
    let missing = s
        .post(
            "/api/auth/forgot-password",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(existing.status, 200);
    assert_eq!(existing.body, missing.body);
    assert_eq!(existing.body["success"], true);
    assert!(existing.body["message"].is_string());

    let (_, token) = s.mailer.wait_for(1).await;
    let r = s
        .post(
            "/api/auth/reset-password",
            json!({"token": token, "password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["success"], true);
    assert_eq!(s.get_bearer("/api/auth/me", &access).await.status, 401);
    let r = s
        .post(
            "/api/auth/login",
            json!({"email": "user@example.com", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let again = s
        .post(
            "/api/auth/reset-password",
            json!({"token": token, "password": "another new password"}),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.error_code(), "invalid_reset_token");
}

pub async fn forged_expired_and_none_tokens(s: &Server) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    s.user("user@example.com", seed::VIEWER).await;
    let (access, _) = s.login("user@example.com").await;
    let parts: Vec<&str> = access.split('.').collect();

    // Forged: an admin role pasted into the payload.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    // alg: none with the same claims.
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    header["alg"] = json!("none");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        forged_payload
    );
    for bad in [forged.as_str(), none.as_str(), "not-a-token", "a.b.c"] {
        let r = s.get_bearer("/api/auth/me", bad).await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(r.error_code(), "invalid_token");
        let r = send(s.http.get(s.url("/api/users")).bearer_auth(bad)).await;
        assert_eq!(r.status, 401);
    }
    // Expired, by the server's clock.
    s.clock.advance(Duration::from_secs(86_400 + 60));
    let r = s.get_bearer("/api/auth/me", &access).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_token");
}

pub async fn permissions_are_enforced(s: &Server) {
    s.user("viewer@example.com", seed::VIEWER).await;
    s.user("member@example.com", seed::MEMBER).await;
    let (viewer, _) = s.login("viewer@example.com").await;
    let (member, _) = s.login("member@example.com").await;
    assert_eq!(s.get_bearer("/api/tasks", &viewer).await.status, 200);
    let r = send(
        s.http
            .post(s.url("/api/tasks"))
            .bearer_auth(&viewer)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(r.status, 403, "a viewer's write");
    assert_eq!(r.error_code(), "forbidden");
    assert!(r.body["message"].as_str().unwrap().contains("tasks:write"));
    let r = send(
        s.http
            .post(s.url("/api/tasks"))
            .bearer_auth(&member)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.status);
    // Admin-only routes.
    for (method, path) in [("GET", "/api/users"), ("GET", "/api/api-keys")] {
        let r = send(
            s.http
                .request(method.parse().unwrap(), s.url(path))
                .bearer_auth(&member),
        )
        .await;
        assert_eq!(r.status, 403, "{path}");
        r.error_code();
    }
    let r = send(s.http.get(s.url("/api/tasks"))).await;
    assert_eq!(r.status, 401);
}

pub async fn cross_origin_cookie_writes_are_refused(s: &Server) {
    s.user("member@example.com", seed::MEMBER).await;
    let (token, _) = s.login("member@example.com").await;
    let cookie = format!("assimetria_jwt={token}");
    let evil = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.error_code(), "cross_origin");
    let none = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(none.status, 403, "no Origin and no Sec-Fetch-Site: refused");
    let same = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("origin", s.base.clone())
            .json(&json!({"title": "x"})),
    )
    .await;
    assert!(same.status.is_success(), "{}", same.status);
    let fetch_meta = send(
        s.http
            .post(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"title": "x"})),
    )
    .await;
    assert!(fetch_meta.status.is_success());
    // Bearer requests are not subject to the rule.
    let bearer = send(
        s.http
            .post(s.url("/api/tasks"))
            .bearer_auth(&token)
            .header("origin", "https://evil.example")
            .json(&json!({"title": "x"})),
    )
    .await;
    assert!(bearer.status.is_success());
    // Cookie reads are fine cross-origin (the browser's CORS rules keep the response from the page).
    let read = send(
        s.http
            .get(s.url("/api/tasks"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(read.status, 200);
    // Logout by cookie from another origin is refused too.
    let r = send(
        s.http
            .post(s.url("/api/auth/logout"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get_bearer("/api/auth/me", &token).await.status, 200);
}

pub async fn unknown_route_and_method(s: &Server) {
    let r = send(s.http.get(s.url("/api/nope"))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    let r = send(s.http.get(s.url("/api/auth/login"))).await;
    assert_eq!(r.status, 405);
    r.error_code();
}

pub async fn api_keys_contract(s: &Server) {
    s.user("admin@example.com", seed::ADMIN).await;
    let (admin, _) = s.login("admin@example.com").await;
    let r = send(
        s.http
            .post(s.url("/api/api-keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": "CI", "environment": "live", "role": "member"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(keys(&r.body), ["api_key", "key", "success"]);
    let key = r.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("osk_live_"));
    let info = &r.body["api_key"];
    assert_eq!(
        keys(info),
        [
            "created_at",
            "environment",
            "id",
            "last_used_at",
            "name",
            "prefix",
            "role"
        ]
    );
    assert_eq!(info["environment"], "live");
    assert_eq!(info["role"], "member");
    assert!(info["last_used_at"].is_null());
    let id = info["id"].as_i64().unwrap();

    // The key works as a bearer credential, with its own role.
    let r = send(
        s.http
            .post(s.url("/api/tasks"))
            .bearer_auth(&key)
            .json(&json!({"title": "from a key"})),
    )
    .await;
    assert!(r.status.is_success());
    let r = s.get_bearer("/api/users", &key).await;
    assert_eq!(r.status, 403);

    // A role the policy does not define is refused, and no key is minted.
    for role in ["root", "Admin", ""] {
        let r = send(
            s.http
                .post(s.url("/api/api-keys"))
                .bearer_auth(&admin)
                .json(&json!({"name": "CI", "environment": "live", "role": role})),
        )
        .await;
        assert_eq!(r.status, 422, "{role:?}");
        assert_eq!(r.error_code(), "validation_error");
    }

    // Listing shows no secret.
    let r = s.get_bearer("/api/api-keys", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["api_keys"].as_array().unwrap().len(), 1);
    assert!(!r.body.to_string().contains(&key[9..]));

    let r = send(
        s.http
            .post(s.url("/api/api-keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": "bad", "environment": "prod"})),
    )
    .await;
    assert_eq!(r.status, 422);

    // Revocation is immediate.
    let r = send(
        s.http
            .delete(s.url(&format!("/api/api-keys/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"success": true}));
    let r = s.get_bearer("/api/tasks", &key).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_api_key");
    let r = send(
        s.http
            .delete(s.url("/api/api-keys/99999"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(r.status, 404);
    // A typo'd key is refused.
    let r = s
        .get_bearer(
            "/api/tasks",
            "osk_live_0000000000000000000000000000000000000",
        )
        .await;
    assert_eq!(r.status, 401);
}

pub async fn users_contract(s: &Server) {
    s.user("admin@example.com", seed::ADMIN).await;
    let member_id = s.user("member@example.com", seed::MEMBER).await;
    let (admin, _) = s.login("admin@example.com").await;
    let (member, _) = s.login("member@example.com").await;
    let r = s.get_bearer("/api/users", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 2);
    let r = send(
        s.http
            .patch(s.url(&format!("/api/users/{member_id}")))
            .bearer_auth(&admin)
            .json(&json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["role"], "viewer");
    // The member's old token, carrying the old role, is dead at once.
    assert_eq!(s.get_bearer("/api/auth/me", &member).await.status, 401);
    let r = send(
        s.http
            .patch(s.url(&format!("/api/users/{member_id}")))
            .bearer_auth(&admin)
            .json(&json!({"role": "root"})),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "validation_error");
    assert_eq!(r.body["message"], "unknown role");
    // The refused change changed nothing.
    let r = s.get_bearer("/api/users", &admin).await;
    let users = r.body["users"].as_array().unwrap();
    assert!(
        users
            .iter()
            .any(|u| u["id"] == member_id && u["role"] == "viewer")
    );
}

pub async fn jwks_contract(s: &Server) {
    let r = send(s.http.get(s.url("/.well-known/jwks.json"))).await;
    assert_eq!(r.status, 200);
    let keys = r.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert!(keys[0].get("d").is_none(), "no private part");
}

pub async fn rate_limit_contract(s: &Server) {
    let mut last = None;
    for _ in 0..11 {
        last = Some(
            s.post(
                "/api/auth/login",
                json!({"email": "victim@example.com", "password": "guess guess"}),
            )
            .await,
        );
    }
    let r = last.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
}

/// Rate limiting with a login limit of 2 a minute per client address (accounts effectively
/// unlimited), behind the `trusted` proxy networks, reading `header`.
pub fn client_limit_config(trusted: &[&str], header: ForwardedHeader) -> AuthConfig {
    let mut limits = RateLimits::default();
    limits.login_per_client = RateLimit::new(2, Duration::from_secs(60));
    limits.login_per_account = RateLimit::new(1000, Duration::from_secs(60));
    AuthConfig::builder()
        .rate_limits(limits)
        .trusted_proxies(trusted.iter().map(|n| n.parse().unwrap()).collect())
        .forwarded_header(header)
        .build()
        .unwrap()
}

/// A failed login for a fresh unknown email, with the given `(header, value)` lines; returns
/// the status (401 for a counted attempt, 429 once the client's limit is reached).
async fn login_with(s: &Server, headers: &[(&str, &[u8])]) -> StatusCode {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut req = s
        .http
        .post(s.url("/api/auth/login"))
        .json(&json!({"email": format!("ghost{n}@example.com"), "password": "guess guess"}));
    for (name, value) in headers {
        // `header` appends: repeated names are separate header lines.
        req = req.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let r = send(req).await;
    assert!(
        r.status == 401 || r.status == 429,
        "{headers:?}: {} {}",
        r.status,
        r.body
    );
    if r.status == 429 {
        assert_eq!(r.error_code(), "rate_limited");
    }
    r.status
}

fn xff(value: &str) -> (&'static str, &[u8]) {
    ("x-forwarded-for", value.as_bytes())
}

/// Default config: nobody is a trusted proxy, so forwarded addresses are the client's own claim
/// and do not open new buckets.
pub async fn spoofed_forwarded_for_is_ignored(s: &Server) {
    assert_eq!(login_with(s, &[xff("198.51.100.1")]).await, 401);
    assert_eq!(login_with(s, &[xff("198.51.100.2")]).await, 401);
    assert_eq!(login_with(s, &[xff("198.51.100.3")]).await, 429);
    let forwarded: &[u8] = b"for=198.51.100.4";
    assert_eq!(login_with(s, &[("forwarded", forwarded)]).await, 429);
}

/// 127.0.0.1 trusted: each forwarded address is its own client; garbage falls back to the peer.
pub async fn trusted_proxy_forwards_the_client(s: &Server) {
    // Distinct forwarded clients: separate buckets, no 429 where the untrusted case had one.
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(login_with(s, &[xff(client)]).await, 401, "{client}");
    }
    // The same forwarded client is limited, whatever it claims to the left of it.
    assert_eq!(login_with(s, &[xff("203.0.113.50")]).await, 401);
    assert_eq!(login_with(s, &[xff("6.6.6.6, 203.0.113.50")]).await, 401);
    assert_eq!(
        login_with(s, &[xff("[::ffff:203.0.113.50]:4711")]).await,
        429
    );
    // Bad values never fail the request: the walk stops at the trusted peer, one bucket.
    let long = "1.2.3.4, ".repeat(2000);
    let bad: [&[u8]; 7] = [
        b"unknown",
        b"_hidden",
        b"[::1",
        b"1.2.3.4:99999",
        b"\xff\xfe garbage",
        b",,, ,",
        long.as_bytes(),
    ];
    let mut statuses = Vec::new();
    for value in bad {
        statuses.push(login_with(s, &[("x-forwarded-for", value)]).await);
    }
    assert_eq!(statuses.pop().unwrap(), 401, "1.2.3.4's bucket");
    assert_eq!(
        statuses,
        [401, 401, 429, 429, 429, 429],
        "the peer's bucket"
    );
}

/// A chain `client, proxy2` with proxy2 trusted too resolves to `client`.
pub async fn trusted_proxy_chain_resolves_to_the_client(s: &Server) {
    assert_eq!(login_with(s, &[xff("203.0.113.9, 10.0.0.2")]).await, 401);
    // The same chain as two header lines.
    assert_eq!(
        login_with(s, &[xff("203.0.113.9"), xff("10.0.0.2")]).await,
        401
    );
    // 203.0.113.9's bucket is spent: it was the client both times, not proxy2.
    assert_eq!(login_with(s, &[xff("203.0.113.9")]).await, 429);
    assert_eq!(login_with(s, &[xff("203.0.113.10, 10.0.0.2")]).await, 401);
}

/// With `Forwarded` configured, `X-Forwarded-For` is just another header the client sent.
pub async fn configured_forwarded_header_is_the_one_read(s: &Server) {
    let forwarded: &[u8] = br#"for="[2001:db8::1]:4711";proto=http"#;
    assert_eq!(
        login_with(s, &[("forwarded", forwarded), xff("198.51.100.1")]).await,
        401
    );
    assert_eq!(
        login_with(s, &[("forwarded", forwarded), xff("198.51.100.2")]).await,
        401
    );
    assert_eq!(
        login_with(s, &[("forwarded", forwarded), xff("198.51.100.3")]).await,
        429
    );
    // Another forwarded client is another bucket (the peer's would be spent).
    let other: &[u8] = b"for=198.51.100.9";
    assert_eq!(
        login_with(s, &[("forwarded", other), xff("198.51.100.1")]).await,
        401
    );
}

/// Generates one `#[tokio::test]` per contract case for an adapter's `serve` and
/// `serve_without_layer` functions and the fix its missing-middleware log names.
#[macro_export]
macro_rules! contract_suite {
    ($serve:path, $serve_without_layer:path, $fix:expr) => {
        $crate::contract_suite!(@cases $serve;
            login_contract, login_failures_look_alike, register_contract, malformed_bodies,
            oversized_body_is_413, refresh_contract, logout_contract, forgot_and_reset_contract,
            forged_expired_and_none_tokens, permissions_are_enforced,
            cross_origin_cookie_writes_are_refused, unknown_route_and_method, api_keys_contract,
            users_contract, jwks_contract, require_layer_guards_a_whole_router,
            require_auth_hands_the_principal_to_handlers,
            extractors_and_endpoints_reuse_the_middlewares_authentication,
            no_cors_without_allowed_origins, sessions_contract, logout_scopes_contract,
            change_password_contract, create_user_contract);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn verify_email_contract() {
            let s = contract::start($serve, contract::account::verifying_config()).await;
            contract::account::verify_email_contract(&s).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refresh_cookie_contract() {
            let s = contract::start($serve, contract::account::refresh_cookie_config()).await;
            contract::account::refresh_cookie_contract(&s).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn required_verification_contract() {
            let s = contract::start($serve, contract::account::verified_email_config()).await;
            contract::account::required_verification_contract(&s).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cors_for_allowed_origins() {
            let s = contract::start($serve, contract::cors::cors_config()).await;
            contract::cors_for_allowed_origins(&s).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn without_the_middleware_extractors_answer_500_naming_the_fix() {
            let s = contract::start($serve_without_layer, contract::default_config()).await;
            contract::without_the_middleware_extractors_answer_500_naming_the_fix(&s, $fix).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rate_limit_contract() {
            let s = contract::start($serve, assimetria_auth::AuthConfig::default()).await;
            contract::rate_limit_contract(&s).await;
        }

        $crate::contract_suite!(@limited $serve;
            spoofed_forwarded_for_is_ignored: &[], XForwardedFor;
            trusted_proxy_forwards_the_client: &["127.0.0.1/32"], XForwardedFor;
            trusted_proxy_chain_resolves_to_the_client: &["127.0.0.1/32", "10.0.0.0/8"], XForwardedFor;
            configured_forwarded_header_is_the_one_read: &["127.0.0.1/32"], Forwarded);
    };
    (@limited $serve:path; $($case:ident: $trusted:expr, $header:ident);*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let config = contract::client_limit_config(
                $trusted,
                assimetria_auth::config::ForwardedHeader::$header,
            );
            let s = contract::start($serve, config).await;
            contract::$case(&s).await;
        }
    )*};
    (@cases $serve:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let s = contract::start($serve, contract::default_config()).await;
            contract::$case(&s).await;
        }
    )*};
}
