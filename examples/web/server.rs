//! The example server on axum: the seed's HTTP API on an embedded SQLite file (or PostgreSQL),
//! plus small demo resources that show the permission matrix at work.
//!
//! ```text
//! cargo run --example server --features axum
//! ```
//!
//! How a host uses the crate, in four steps (`server_actix.rs` is the same server on actix-web):
//!
//! 1. build an `AuthService` (here from the environment: `example_support::Settings`, shared
//!    by both servers, reads the variables below);
//! 2. mount the seed's routes, `assimetria_auth::axum::routes()`, beside its own, and add
//!    `AuthLayer`, which authenticates each request once;
//! 3. guard its own handlers with the `Require<permission>` extractor: the handler runs only
//!    for a caller holding that permission, and any other gets the seed's 401 or 403;
//! 4. answer with its own types: `Json`, `(StatusCode, Json)`, and its own error type.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ASSIMETRIA_AUTH_ADDR` | `127.0.0.1:8080` | listen address |
//! | `ASSIMETRIA_AUTH_DATABASE_URL` | `sqlite://assimetria-auth.db?mode=rwc` | `sqlite://…` or `postgres://…` (with the `postgres` feature) |
//! | `ASSIMETRIA_AUTH_ADMIN_EMAIL`, `ASSIMETRIA_AUTH_ADMIN_PASSWORD` | unset | create this admin at start if absent |
//! | `ASSIMETRIA_AUTH_OUTBOX` | unset: print to stdout | file the development mailer appends JSON lines to |
//! | `ASSIMETRIA_AUTH_PUBLIC_URL` | `http://<addr>` | base of the reset link in mails |
//! | `ASSIMETRIA_AUTH_REFRESH_GRACE_SECS` | `10` | refresh grace window (0 disables) |
//! | `ASSIMETRIA_AUTH_RATE_LIMIT` | `on` | `off` disables the login / forgot-password limiter |
//! | `ASSIMETRIA_AUTH_COOKIE_SECURE` | `true` | `false` drops the cookie's `Secure` attribute (plain-HTTP development on a non-localhost host) |
//! | `ASSIMETRIA_AUTH_ALLOWED_ORIGINS` | unset | comma-separated origins allowed to send cookie-authenticated writes and to read the answers (CORS, with credentials) |
//! | `ASSIMETRIA_AUTH_MASTER_KEY` | unset | comma-separated base64 master keys (32 bytes each; the first seals, all open). Unset on SQLite: a key file beside the database (`<db>.master-key`, mode 0600) is created once and read at every start; unset on PostgreSQL: the server refuses to start |
//! | `ASSIMETRIA_AUTH_TRUSTED_PROXIES` | unset: forwarding headers ignored | comma-separated networks of your reverse proxies (`10.0.0.0/8, 2001:db8::/32`; a bare address is a `/32` or `/128`); only their connections have the forwarding header read for the client address the rate limits count |
//! | `ASSIMETRIA_AUTH_FORWARDED_HEADER` | `x-forwarded-for` | `x-forwarded-for` or `forwarded` (RFC 7239): the one header your proxies set (the other passes through them as the client wrote it) |
//! | `ASSIMETRIA_AUTH_REDIS_URL` | unset: each instance counts in its own memory | `redis://[:password@]host[:port][/db]`: every instance counts the rate limits in this Redis, so N instances admit the limit once, not N times (needs the `redis` feature; the server refuses to start without it). Redis unreachable: each instance counts locally until it is back |
//! | `RUST_LOG` | `info` | log filter: a level, or `target=level` pairs |
//!
//! Demo resources: `/api/tasks`, `/api/agents`, `/api/products` (GET needs read, POST needs
//! write; what a test key creates is kept apart from live data; each keeps its newest
//! 1,000 items per environment), `/api/settings` (GET and PUT, admin), and `GET /health`;
//! `GET /openapi.json` is the OpenAPI 3.1 document of every route (public).
//!
//! With `--features axum,metrics`: `GET /metrics`, the crate's metrics in the Prometheus text
//! format (`example_support::metrics`). It is not authenticated: keep it off the public
//! internet. Without the feature there is no such route (a 404 like any unknown path).

use std::net::SocketAddr;
use std::sync::Arc;

use assimetria_auth::axum::{AuthLayer, LimitedBody, Require, method_not_allowed, seed};
use assimetria_auth::http::HttpApi;
use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use example_support::{BoxError, DemoData, DemoError, Metrics, Resource, Settings};
use serde_json::{Value, json};

/// The router's state: the crate's `HttpApi` (which the seed's routes and the `Require`
/// extractor find through `FromRef`) and the host's own data.
#[derive(Clone)]
struct AppState {
    api: HttpApi,
    data: Arc<DemoData>,
}

impl FromRef<AppState> for HttpApi {
    fn from_ref(state: &AppState) -> HttpApi {
        state.api.clone()
    }
}

/// This server's own refusals, answered in the seed's error shape. (The extractors refuse on
/// their own, in the same shape: 401, 403, 413.)
#[derive(Debug)]
enum AppError {
    /// A demo route refused the request body.
    Demo(DemoError),
}

impl From<DemoError> for AppError {
    fn from(e: DemoError) -> Self {
        AppError::Demo(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let AppError::Demo(e) = self;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(e.body())).into_response()
    }
}

/// `{"success": true, "item": …}` with `201 Created`.
fn created(item: Value) -> (StatusCode, Json<Value>) {
    let body = json!({"success": true, "item": item});
    (StatusCode::CREATED, Json(body))
}

async fn list_tasks(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::TasksRead>,
) -> Json<Value> {
    let tasks = s.data.list(Resource::Tasks, caller.environment());
    Json(json!({"success": true, "tasks": tasks}))
}

async fn create_task(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::TasksWrite>,
    body: LimitedBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let item = s.data.add(
        Resource::Tasks,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn list_agents(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::AgentsRead>,
) -> Json<Value> {
    let agents = s.data.list(Resource::Agents, caller.environment());
    Json(json!({"success": true, "agents": agents}))
}

async fn create_agent(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::AgentsWrite>,
    body: LimitedBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let item = s.data.add(
        Resource::Agents,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn list_products(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::ProductsRead>,
) -> Json<Value> {
    let products = s.data.list(Resource::Products, caller.environment());
    Json(json!({"success": true, "products": products}))
}

async fn create_product(
    State(s): State<AppState>,
    Require(caller, ..): Require<seed::ProductsWrite>,
    body: LimitedBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let item = s.data.add(
        Resource::Products,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn get_settings(State(s): State<AppState>, _: Require<seed::SettingsManage>) -> Json<Value> {
    Json(json!({"success": true, "settings": s.data.settings()}))
}

async fn put_settings(
    State(s): State<AppState>,
    _: Require<seed::SettingsManage>,
    body: LimitedBody,
) -> Result<Json<Value>, AppError> {
    let settings = s.data.put_settings(&body.bytes)?;
    Ok(Json(json!({"success": true, "settings": settings})))
}

async fn health() -> Json<Value> {
    Json(json!({"success": true, "status": "ok"}))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    example_support::init_logging()?;
    let metrics = Metrics::install()?;
    let settings = Settings::from_env()?;
    let service = settings.start().await?;

    let api = HttpApi::new(service);
    // Built once: the document follows the configuration, which does not change while serving.
    let document = Bytes::from(example_support::openapi::document(&api).to_string());
    let openapi = ([(header::CONTENT_TYPE, "application/json")], document);
    let state = AppState {
        api: api.clone(),
        data: Arc::new(DemoData::default()),
    };
    let app: Router<AppState> = assimetria_auth::axum::routes()
        .route("/api/tasks", get(list_tasks).post(create_task))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/products", get(list_products).post(create_product))
        .route("/api/settings", get(get_settings).put(put_settings))
        .route("/health", get(health))
        .route("/openapi.json", get(move || async move { openapi }));
    // Only with the `metrics` feature.
    let app = match metrics {
        Some(metrics) => app.route(
            "/metrics",
            get(move || async move {
                let content_type = [(header::CONTENT_TYPE, example_support::metrics::CONTENT_TYPE)];
                (content_type, metrics.render())
            }),
        ),
        None => app,
    };
    let app: Router = app
        // A wrong method on the routes above answers in the seed's error shape too (axum applies
        // this to the routes added before it; `routes()` set it for the seed's own).
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(AuthLayer::new(api.clone()));
    let app = match assimetria_auth::axum::cors(&api) {
        Some(cors) => app.layer(cors),
        None => app,
    };

    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening (axum)");
    // With the peer's address, which the rate limits count.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(example_support::shutdown_signal())
        .await?;
    // The requests have finished: stop the background tasks and write what they left pending
    // (mail in flight, API keys' last use, the audit sink).
    api.service().shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}
