//! The account routes over real TCP: sessions, logout scopes, change-password, email
//! verification, `POST /api/users`, the refresh cookie and required verification.

use std::time::Duration;

use assimetria_auth::AuthConfig;
use assimetria_auth::rbac::seed;
use serde_json::{Value, json};

use super::{PASSWORD, Resp, Server, keys, send};

/// An OpenBSD bcrypt test vector: the password `U*U` at cost 5.
pub const BCRYPT_U_STAR_U: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

impl Server {
    async fn login_with_agent(&self, email: &str, agent: &str) -> (String, String) {
        let r = send(
            self.http
                .post(self.url("/api/auth/login"))
                .header("user-agent", agent)
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    async fn post_json_bearer(&self, path: &str, token: &str, body: Value) -> Resp {
        send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    async fn delete_bearer(&self, path: &str, token: &str) -> Resp {
        send(self.http.delete(self.url(path)).bearer_auth(token)).await
    }
}

fn set_cookies(r: &Resp) -> Vec<String> {
    r.header_all("set-cookie")
}

pub async fn sessions_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    s.user("other@example.com", seed::MEMBER).await;
    let (laptop, _) = s.login_with_agent("user@example.com", "Laptop/1.0").await;
    // Listed oldest first.
    s.clock.advance(Duration::from_secs(1));
    let (phone, _) = s.login_with_agent("user@example.com", "Phone/2.0").await;
    let (other, _) = s.login("other@example.com").await;

    let r = s.get_bearer("/api/auth/sessions", &phone).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["sessions", "success"]);
    let sessions = r.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        keys(&sessions[0]),
        [
            "created_at",
            "current",
            "id",
            "ip",
            "last_used_at",
            "user_agent"
        ]
    );
    assert_eq!(sessions[0]["user_agent"], "Laptop/1.0");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(sessions[1]["user_agent"], "Phone/2.0");
    assert_eq!(sessions[1]["current"], true);
    let laptop_sid = sessions[0]["id"].as_str().unwrap().to_owned();

    // Someone else's session: 404, and it lives on.
    let theirs = s.get_bearer("/api/auth/sessions", &other).await;
    let other_sid = theirs.body["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .delete_bearer(&format!("/api/auth/sessions/{other_sid}"), &phone)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    assert_eq!(s.get_bearer("/api/auth/me", &other).await.status, 200);

    // One's own other session: ended at once.
    let r = s
        .delete_bearer(&format!("/api/auth/sessions/{laptop_sid}"), &phone)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"success": true}));
    assert_eq!(s.get_bearer("/api/auth/me", &laptop).await.status, 401);
    assert_eq!(s.get_bearer("/api/auth/me", &phone).await.status, 200);

    for r in [
        send(s.http.get(s.url("/api/auth/sessions"))).await,
        send(
            s.http
                .delete(s.url(&format!("/api/auth/sessions/{laptop_sid}"))),
        )
        .await,
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code(), "unauthorized");
    }
}

pub async fn logout_scopes_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let (a, _) = s.login("user@example.com").await;
    let (b, _) = s.login("user@example.com").await;
    let r = s.post_bearer("/api/auth/logout?scope=others", &b).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie").is_none(),
        "the caller stays signed in"
    );
    assert_eq!(s.get_bearer("/api/auth/me", &a).await.status, 401);
    assert_eq!(s.get_bearer("/api/auth/me", &b).await.status, 200);

    let (c, _) = s.login("user@example.com").await;
    let r = s.post_bearer("/api/auth/logout?scope=nowhere", &c).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "validation_error");
    assert_eq!(s.get_bearer("/api/auth/me", &c).await.status, 200);

    let r = s.post_bearer("/api/auth/logout?scope=global", &c).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.get_bearer("/api/auth/me", &b).await.status, 401);
    assert_eq!(s.get_bearer("/api/auth/me", &c).await.status, 401);
}

pub async fn change_password_contract(s: &Server) {
    s.user("user@example.com", seed::ADMIN).await;
    let (laptop, _) = s.login("user@example.com").await;
    let (phone, _) = s.login("user@example.com").await;
    let path = "/api/auth/change-password";
    let wrong = s
        .post_json_bearer(
            path,
            &laptop,
            json!({"current_password": "not it at all", "new_password": "a new password 1"}),
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let weak = s
        .post_json_bearer(
            path,
            &laptop,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.status, 422);
    assert_eq!(weak.error_code(), "validation_error");
    let r = send(s.http.post(s.url(path)).json(&json!({}))).await;
    assert_eq!(r.status, 401);

    // An API key cannot change its creator's password.
    let key = s
        .post_json_bearer(
            "/api/api-keys",
            &laptop,
            json!({"name": "ci", "environment": "live"}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_owned();
    let r = s
        .post_json_bearer(
            path,
            &key,
            json!({"current_password": PASSWORD, "new_password": "a new password 1"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(s.get_bearer("/api/auth/me", &phone).await.status, 200);

    let ok = s
        .post_json_bearer(
            path,
            &laptop,
            json!({"current_password": PASSWORD, "new_password": "a new password 1"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["success"], true);
    assert_eq!(s.get_bearer("/api/auth/me", &laptop).await.status, 200);
    assert_eq!(s.get_bearer("/api/auth/me", &phone).await.status, 401);
    let old = s.attempt_login("user@example.com", PASSWORD).await;
    assert_eq!(old.status, 401);
}

pub fn verifying_config() -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .email_verification(true)
        .build()
        .unwrap()
}

pub async fn verify_email_contract(s: &Server) {
    let r = s
        .post(
            "/api/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["user"]["email_verified"], false);
    let access = r.body["token"].as_str().unwrap().to_owned();
    let (to, token) = s.mailer.wait_for_verification(1).await;
    assert_eq!(to, "new@example.com");

    let made_up = s
        .post("/api/auth/verify-email", json!({"token": "x".repeat(43)}))
        .await;
    assert_eq!(made_up.status, 400);
    assert_eq!(made_up.error_code(), "invalid_verification_token");
    let r = s
        .post("/api/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], true);
    let me = s.get_bearer("/api/auth/me", &access).await;
    assert_eq!(me.body["user"]["email_verified"], true);
    let reused = s
        .post("/api/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.error_code(), "invalid_verification_token");

    let r = s
        .post_bearer("/api/auth/resend-verification", &access)
        .await;
    assert_eq!(r.status, 200);
    let r = send(s.http.post(s.url("/api/auth/resend-verification"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "unauthorized");
}

pub async fn create_user_contract(s: &Server) {
    s.user("admin@example.com", seed::ADMIN).await;
    s.user("viewer@example.com", seed::VIEWER).await;
    let (admin, _) = s.login("admin@example.com").await;
    let (viewer, _) = s.login("viewer@example.com").await;

    let r = s
        .post_json_bearer(
            "/api/users",
            &admin,
            json!({"email": "Old@Example.com", "password_hash": BCRYPT_U_STAR_U, "role": "member", "email_verified": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(keys(&r.body), ["success", "user"]);
    assert_eq!(r.body["user"]["email"], "old@example.com");
    assert_eq!(r.body["user"]["role"], "member");
    assert_eq!(r.body["user"]["email_verified"], true);
    // The imported hash signs in, and is replaced by argon2id.
    let login = s.attempt_login("old@example.com", "U*U").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let stored = s
        .service
        .store()
        .user_by_email("old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));

    let plain = s
        .post_json_bearer(
            "/api/users",
            &admin,
            json!({"email": "plain@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(plain.status, 201);
    assert_eq!(plain.body["user"]["role"], "viewer");
    assert_eq!(plain.body["user"]["email_verified"], false);

    let taken = s
        .post_json_bearer(
            "/api/users",
            &admin,
            json!({"email": "plain@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(taken.error_code(), "email_taken");

    for (body, code) in [
        (
            json!({"email": "x@example.com", "password_hash": "not a hash"}),
            "invalid_password_hash",
        ),
        (
            json!({"email": "x@example.com", "password_hash": "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}),
            "invalid_password_hash",
        ),
        (
            json!({"email": "x@example.com", "password": PASSWORD, "password_hash": BCRYPT_U_STAR_U}),
            "validation_error",
        ),
        (json!({"email": "x@example.com"}), "validation_error"),
        (
            json!({"email": "x@example.com", "password": PASSWORD, "role": "owner"}),
            "validation_error",
        ),
    ] {
        let r = s.post_json_bearer("/api/users", &admin, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.error_code(), code, "{body}");
    }
    let none = s
        .service
        .store()
        .user_by_email("x@example.com")
        .await
        .unwrap();
    assert!(none.is_none(), "a refused import stores nothing");

    let r = s
        .post_json_bearer(
            "/api/users",
            &viewer,
            json!({"email": "y@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "forbidden");
    let r = send(
        s.http
            .post(s.url("/api/users"))
            .json(&json!({"email": "y@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 401);
}

pub fn refresh_cookie_config() -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .refresh_cookie(true)
        .build()
        .unwrap()
}

fn refresh_cookie_value(r: &Resp) -> String {
    let cookie = set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with("assimetria_refresh="))
        .expect("a refresh cookie");
    let value = cookie["assimetria_refresh=".len()..]
        .split(';')
        .next()
        .unwrap();
    value.to_owned()
}

pub async fn refresh_cookie_contract(s: &Server) {
    s.user("user@example.com", seed::MEMBER).await;
    let r = s.attempt_login("user@example.com", PASSWORD).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        keys(&r.body),
        ["success", "token", "user"],
        "no refresh_token in the body"
    );
    let refresh = refresh_cookie_value(&r);
    assert_eq!(
        set_cookies(&r)[1],
        format!(
            "assimetria_refresh={refresh}; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=2592000"
        )
    );

    // No body token: the cookie, under the CSRF rule.
    let cookie = format!("assimetria_refresh={refresh}");
    let evil = send(
        s.http
            .post(s.url("/api/auth/refresh"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.error_code(), "cross_origin");
    let none = send(
        s.http
            .post(s.url("/api/auth/refresh"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(none.status, 403, "neither Origin nor Sec-Fetch-Site");
    let r = send(
        s.http
            .post(s.url("/api/auth/refresh"))
            .header("cookie", &cookie)
            .header("origin", s.base.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["success", "token"]);
    let next = refresh_cookie_value(&r);
    assert_ne!(next, refresh);
    let access = r.body["token"].as_str().unwrap().to_owned();

    // A body token still works, and no cookie at all is 401.
    let r = s
        .post("/api/auth/refresh", json!({"refresh_token": next}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        s.http
            .post(s.url("/api/auth/refresh"))
            .header("origin", s.base.clone()),
    )
    .await;
    assert_eq!(r.status, 401);

    // Logout clears both cookies.
    let r = s.post_bearer("/api/auth/logout", &access).await;
    assert_eq!(r.status, 200);
    let cleared = set_cookies(&r);
    assert!(cleared.iter().any(|c| c.starts_with("assimetria_jwt=;")));
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("assimetria_refresh=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}

pub fn verified_email_config() -> AuthConfig {
    AuthConfig::builder()
        .rate_limiting(false)
        .require_verified_email(true)
        .build()
        .unwrap()
}

pub async fn required_verification_contract(s: &Server) {
    let r = s
        .post(
            "/api/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        keys(&r.body),
        ["message", "success", "user"],
        "nobody is signed in"
    );
    assert!(r.header("set-cookie").is_none());
    let login = s.attempt_login("new@example.com", PASSWORD).await;
    assert_eq!(login.status, 403);
    assert_eq!(login.error_code(), "email_not_verified");
    let wrong = s.attempt_login("new@example.com", "wrong password").await;
    assert_eq!(wrong.status, 401);
    let (_, token) = s.mailer.wait_for_verification(1).await;
    let r = s
        .post("/api/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(r.status, 200);
    s.clock.advance(Duration::from_secs(1));
    let login = s.attempt_login("new@example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["user"]["email_verified"], true);
}
