//! The OpenAPI document against the server it describes: a conversation over real TCP (axum
//! adapter) that reaches every endpoint's success reply and its refusals, each reply checked
//! against the document of the server's own configuration: its status is documented for that
//! operation, its required headers are there, its body validates against the schema.
//!
//! The JSON Schema check (`openapi_schema`) knows the keywords the document uses and refuses any
//! other (a keyword it skipped would be a check that silently passes).
#![cfg(all(feature = "openapi", feature = "axum"))]

mod harness;
mod openapi_schema;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use assimetria_auth::http::HttpApi;
use assimetria_auth::rbac::seed;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, AuthService, Password};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use harness::{PASSWORD, RecordingMailer};
use openapi_schema::validate;

/// A running server, its document, and every (operation, status) a checked reply covered.
struct Server {
    base: String,
    doc: Value,
    http: reqwest::Client,
    service: AuthService,
    mailer: Arc<RecordingMailer>,
    covered: Mutex<BTreeSet<(String, u16)>>,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn start(config: AuthConfig) -> Server {
    let mailer = Arc::new(RecordingMailer::default());
    let mut config = config;
    config.master_keys.push(harness::test_master_key());
    let service = AuthService::builder(config, Arc::new(MemoryStore::new()))
        .mailer(mailer.clone())
        .build()
        .await
        .unwrap();
    let api = HttpApi::new(service.clone());
    let doc = assimetria_auth::http::openapi::document(&api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = assimetria_auth::axum::router(api);
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        doc,
        http: reqwest::Client::new(),
        service,
        mailer,
        covered: Mutex::new(BTreeSet::new()),
    }
}

impl Server {
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends the request to the operation `method template` and checks the reply against the
    /// document; returns it.
    async fn check(&self, template: &str, req: RequestBuilder) -> Reply {
        let (client, req) = req.build_split();
        let req = req.unwrap();
        let method = req.method().as_str().to_ascii_lowercase();
        let res = client.execute(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let op = &self.doc["paths"][template][&method];
        assert!(op.is_object(), "{method} {template} is not documented");
        let mut response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template}: {status} is not documented: {}",
            String::from_utf8_lossy(&bytes)
        );
        if let Some(r) = response["$ref"].as_str() {
            response = self.doc.pointer(&r[1..]).unwrap();
        }
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if header["required"] == true {
                let value = value.unwrap_or_else(|| panic!("{method} {template}: no {name}"));
                validate(&self.doc, &header["schema"], &Value::from(value), name).unwrap();
            }
        }
        let body = if method == "head" {
            assert!(bytes.is_empty(), "HEAD has no body");
            assert!(response.get("content").is_none());
            Value::Null
        } else {
            let content_type = headers.get("content-type").unwrap().to_str().unwrap();
            let schema = &response["content"][content_type]["schema"];
            assert!(
                schema.is_object(),
                "{method} {template} {status}: {content_type}"
            );
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            let at = format!("{method} {template} {status}");
            validate(&self.doc, schema, &body, &at).unwrap_or_else(|e| panic!("{e}"));
            body
        };
        let key = format!("{method} {template}");
        self.covered.lock().unwrap().insert((key, status));
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.check(path, self.req(Method::POST, path).json(&body))
            .await
    }

    async fn login(&self, email: &str) -> Value {
        let r = self
            .post(
                "/api/auth/login",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200);
        r.body
    }

    /// The success status of every operation of the document, covered or not.
    fn uncovered_successes(&self) -> Vec<String> {
        let covered = self.covered.lock().unwrap();
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                let key = format!("{method} {path}");
                let success = op["responses"].as_object().unwrap().keys();
                let success = success.filter(|s| s.starts_with('2'));
                for s in success {
                    if !covered.contains(&(key.clone(), s.parse().unwrap())) {
                        missing.push(format!("{key} {s}"));
                    }
                }
            }
        }
        missing
    }
}

fn bearer(req: RequestBuilder, token: &Value) -> RequestBuilder {
    req.bearer_auth(token.as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoints_replies_validate_against_the_document() {
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .email_verification(true)
        .build()
        .unwrap();
    let s = start(config).await;
    let admin_id = s
        .service
        .create_user("admin@example.com", &Password::new(PASSWORD), seed::ADMIN)
        .await
        .unwrap()
        .id;
    let admin = s.login("admin@example.com").await["token"].clone();
    let get = |path: &str| s.req(Method::GET, path);

    // Sign-up, sign-in, and their refusals.
    let reg = json!({"email": "ada@example.com", "password": PASSWORD});
    let signed_up = s.post("/api/auth/register", reg.clone()).await;
    assert_eq!(signed_up.status, 201);
    assert_eq!(s.post("/api/auth/register", reg).await.status, 409);
    let bad = json!({"email": "not an email", "password": PASSWORD});
    assert_eq!(s.post("/api/auth/register", bad).await.status, 422);
    let not_json = s.req(Method::POST, "/api/auth/register").body("{}");
    assert_eq!(s.check("/api/auth/register", not_json).await.status, 400);
    let huge = json!({"email": "x".repeat(70_000), "password": PASSWORD});
    assert_eq!(s.post("/api/auth/register", huge).await.status, 413);
    let wrong = json!({"email": "ada@example.com", "password": "wrong password"});
    let refused = s.post("/api/auth/login", wrong).await;
    assert_eq!(
        (refused.status, refused.body["error"].clone()),
        (401, json!("invalid_credentials"))
    );
    let ada = s.login("ada@example.com").await;
    let token = ada["token"].clone();

    // The current user, by bearer, cookie and HEAD; without a credential.
    assert_eq!(
        s.check("/api/auth/me", bearer(get("/api/auth/me"), &token))
            .await
            .status,
        200
    );
    let cookie = format!("assimetria_jwt={}", token.as_str().unwrap());
    let by_cookie = get("/api/auth/me").header("cookie", &cookie);
    assert_eq!(s.check("/api/auth/me", by_cookie).await.status, 200);
    let head = bearer(s.req(Method::HEAD, "/api/auth/me"), &token);
    assert_eq!(s.check("/api/auth/me", head).await.status, 200);
    assert_eq!(
        s.check("/api/auth/me", get("/api/auth/me")).await.status,
        401
    );
    let head = s.req(Method::HEAD, "/api/auth/me");
    assert_eq!(s.check("/api/auth/me", head).await.status, 401);

    // Refresh, and a spent token.
    let refresh = json!({"refresh_token": ada["refresh_token"]});
    assert_eq!(
        s.post("/api/auth/refresh", refresh.clone()).await.status,
        200
    );
    assert_eq!(
        s.post("/api/auth/refresh", refresh).await.status,
        200,
        "grace"
    );
    let unknown = json!({"refresh_token": "unknown"});
    assert_eq!(s.post("/api/auth/refresh", unknown).await.status, 401);
    assert_eq!(s.post("/api/auth/refresh", json!({})).await.status, 422);

    // Sessions.
    s.login("ada@example.com").await; // a second session to end
    let list = s
        .check(
            "/api/auth/sessions",
            bearer(get("/api/auth/sessions"), &token),
        )
        .await;
    assert_eq!(list.status, 200);
    let others: Vec<&Value> = list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["current"] == false)
        .collect();
    let head = bearer(s.req(Method::HEAD, "/api/auth/sessions"), &token);
    assert_eq!(s.check("/api/auth/sessions", head).await.status, 200);
    let id = others[0]["id"].as_str().unwrap().to_owned();
    let end = |id: &str| {
        bearer(
            s.req(Method::DELETE, &format!("/api/auth/sessions/{id}")),
            &token,
        )
    };
    assert_eq!(
        s.check("/api/auth/sessions/{id}", end(&id)).await.status,
        200
    );
    assert_eq!(
        s.check("/api/auth/sessions/{id}", end("nope")).await.status,
        404
    );

    // Verification mail and its token.
    let resend = bearer(s.req(Method::POST, "/api/auth/resend-verification"), &token);
    assert_eq!(
        s.check("/api/auth/resend-verification", resend)
            .await
            .status,
        200
    );
    let (_, verification) = s.mailer.wait_for_verification(1).await;
    let verify = json!({"token": verification});
    assert_eq!(s.post("/api/auth/verify-email", verify).await.status, 200);
    let verify = json!({"token": "spent"});
    assert_eq!(s.post("/api/auth/verify-email", verify).await.status, 400);

    // Password change, forgotten password and reset.
    let change = |current: &str| {
        let body = json!({"current_password": current, "new_password": PASSWORD});
        bearer(s.req(Method::POST, "/api/auth/change-password"), &token).json(&body)
    };
    assert_eq!(
        s.check("/api/auth/change-password", change("wrong one"))
            .await
            .status,
        403
    );
    assert_eq!(
        s.check("/api/auth/change-password", change(PASSWORD))
            .await
            .status,
        200
    );
    let forgot = json!({"email": "ada@example.com"});
    assert_eq!(
        s.post("/api/auth/forgot-password", forgot).await.status,
        200
    );
    let (_, reset) = s.mailer.wait_for(1).await;
    let body = json!({"token": reset, "password": PASSWORD});
    assert_eq!(
        s.post("/api/auth/reset-password", body.clone())
            .await
            .status,
        200
    );
    assert_eq!(s.post("/api/auth/reset-password", body).await.status, 400);
    let short = json!({"token": "t", "password": "short"});
    assert_eq!(s.post("/api/auth/reset-password", short).await.status, 422);

    // API keys: a viewer may not, an admin may; the key authenticates; API keys have no session.
    let viewer = s.login("ada@example.com").await["token"].clone();
    let new_key =
        |t: &Value, body: Value| bearer(s.req(Method::POST, "/api/api-keys"), t).json(&body);
    let key_body = json!({"name": "ci", "environment": "test", "role": "member"});
    assert_eq!(
        s.check("/api/api-keys", new_key(&viewer, key_body.clone()))
            .await
            .status,
        403
    );
    let created = s.check("/api/api-keys", new_key(&admin, key_body)).await;
    assert_eq!(created.status, 201);
    let key = created.body["key"].clone();
    assert_eq!(
        s.check("/api/auth/me", bearer(get("/api/auth/me"), &key))
            .await
            .status,
        200
    );
    let logout_key = bearer(s.req(Method::POST, "/api/auth/logout"), &key);
    assert_eq!(s.check("/api/auth/logout", logout_key).await.status, 422);
    let bad_env = json!({"name": "ci", "environment": "prod"});
    assert_eq!(
        s.check("/api/api-keys", new_key(&admin, bad_env))
            .await
            .status,
        422
    );
    assert_eq!(
        s.check("/api/api-keys", bearer(get("/api/api-keys"), &admin))
            .await
            .status,
        200
    );
    assert_eq!(
        s.check(
            "/api/api-keys",
            bearer(s.req(Method::HEAD, "/api/api-keys"), &admin)
        )
        .await
        .status,
        200
    );
    let revoke = |id: &Value| {
        bearer(
            s.req(Method::DELETE, &format!("/api/api-keys/{id}")),
            &admin,
        )
    };
    let key_id = created.body["api_key"]["id"].clone();
    assert_eq!(
        s.check("/api/api-keys/{id}", revoke(&key_id)).await.status,
        200
    );
    assert_eq!(
        s.check("/api/api-keys/{id}", revoke(&json!(999)))
            .await
            .status,
        404
    );
    let revoked = s
        .check("/api/api-keys", bearer(get("/api/api-keys"), &admin))
        .await;
    assert!(revoked.body["api_keys"][0]["revoked_at"].is_string());
    let refused = s
        .check("/api/auth/me", bearer(get("/api/auth/me"), &key))
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.headers.get("www-authenticate").is_some());

    // Users.
    assert_eq!(
        s.check("/api/users", bearer(get("/api/users"), &admin))
            .await
            .status,
        200
    );
    assert_eq!(
        s.check(
            "/api/users",
            bearer(s.req(Method::HEAD, "/api/users"), &admin)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.check("/api/users", bearer(get("/api/users"), &viewer))
            .await
            .status,
        403
    );
    let add = |body: Value| bearer(s.req(Method::POST, "/api/users"), &admin).json(&body);
    let grace = json!({"email": "grace@example.com", "password": PASSWORD, "role": "member"});
    let added = s.check("/api/users", add(grace.clone())).await;
    assert_eq!(added.status, 201);
    assert_eq!(s.check("/api/users", add(grace)).await.status, 409);
    let both = json!({"email": "h@example.com", "password": PASSWORD, "password_hash": "$2b$"});
    assert_eq!(s.check("/api/users", add(both)).await.status, 422);
    let set_role = |id: &Value, role: &str| {
        let req = s.req(Method::PATCH, &format!("/api/users/{id}"));
        bearer(req, &admin).json(&json!({"role": role}))
    };
    let grace_id = added.body["user"]["id"].clone();
    assert_eq!(
        s.check("/api/users/{id}", set_role(&grace_id, "viewer"))
            .await
            .status,
        200
    );
    assert_eq!(
        s.check("/api/users/{id}", set_role(&json!(999), "viewer"))
            .await
            .status,
        404
    );
    assert_eq!(
        s.check("/api/users/{id}", set_role(&grace_id, "owner"))
            .await
            .status,
        422
    );
    assert_ne!(grace_id, json!(admin_id));

    // A cookie write from another origin.
    let cross = s
        .req(Method::POST, "/api/auth/logout")
        .header("cookie", &cookie);
    let cross = cross.header("origin", "https://evil.example");
    assert_eq!(s.check("/api/auth/logout", cross).await.status, 403);

    // The public keys.
    let jwks = s
        .check("/.well-known/jwks.json", get("/.well-known/jwks.json"))
        .await;
    assert!([200, 404].contains(&jwks.status));
    let head = s.req(Method::HEAD, "/.well-known/jwks.json");
    assert_eq!(
        s.check("/.well-known/jwks.json", head).await.status,
        jwks.status
    );

    // Logout: a scope it does not know, then for real.
    // (The reset above ended every session of the account but the one after it.)
    let logout = |q: &str| {
        bearer(
            s.req(Method::POST, &format!("/api/auth/logout{q}")),
            &viewer,
        )
    };
    assert_eq!(
        s.check("/api/auth/logout", logout("?scope=everything"))
            .await
            .status,
        422
    );
    let out = s.check("/api/auth/logout", logout("?scope=local")).await;
    assert_eq!(out.status, 200);
    assert!(out.headers.get("set-cookie").is_some());
    assert_eq!(s.check("/api/auth/logout", logout("")).await.status, 401);

    let mut missing = s.uncovered_successes();
    missing.retain(|m| !(m.contains("jwks") && jwks.status == 404));
    assert!(
        missing.is_empty(),
        "success replies never checked: {missing:?}"
    );
    let covered = s.covered.lock().unwrap().len();
    assert!(covered >= 49, "{covered} (operation, status) pairs checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_and_cookie_deployments_answer_as_their_documents_say() {
    // Rate limits on (the defaults: a few logins per account): 429 with Retry-After.
    let limited = start(AuthConfig::builder().build().unwrap()).await;
    let wrong = json!({"email": "nobody@example.com", "password": "wrong password"});
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let r = limited.post("/api/auth/login", wrong.clone()).await;
        statuses.push(r.status);
        if r.status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    // The refresh token in its cookie, and sign-up that needs a verified address.
    let config = AuthConfig::builder()
        .rate_limiting(false)
        .refresh_cookie(true)
        .require_verified_email(true)
        .build()
        .unwrap();
    let s = start(config).await;
    let reg = json!({"email": "ada@example.com", "password": PASSWORD});
    let signed_up = s.post("/api/auth/register", reg).await;
    assert_eq!(signed_up.status, 201);
    assert!(signed_up.body.get("token").is_none(), "nobody is signed in");
    let unverified = json!({"email": "ada@example.com", "password": PASSWORD});
    assert_eq!(s.post("/api/auth/login", unverified).await.status, 403);
    let (_, verification) = s.mailer.wait_for_verification(1).await;
    let verify = json!({"token": verification});
    assert_eq!(s.post("/api/auth/verify-email", verify).await.status, 200);
    let login = s.req(Method::POST, "/api/auth/login");
    let login = login.json(&json!({"email": "ada@example.com", "password": PASSWORD}));
    let login = s.check("/api/auth/login", login).await;
    assert_eq!(login.status, 200);
    assert!(login.body.get("refresh_token").is_none());
    let refresh_cookie = login
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("assimetria_refresh="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let refresh = s
        .req(Method::POST, "/api/auth/refresh")
        .header("cookie", &refresh_cookie);
    let same_origin = refresh.header("sec-fetch-site", "same-origin");
    assert_eq!(s.check("/api/auth/refresh", same_origin).await.status, 200);
    let cross = s
        .req(Method::POST, "/api/auth/refresh")
        .header("cookie", "assimetria_refresh=x");
    let cross = cross.header("origin", "https://evil.example");
    assert_eq!(s.check("/api/auth/refresh", cross).await.status, 403);
}
