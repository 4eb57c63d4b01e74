//! The HTTP contract suite against the axum adapter, over real TCP.
#![cfg(feature = "axum")]

mod harness;
#[macro_use]
mod contract;

use std::net::SocketAddr;

use assimetria_auth::Principal;
use assimetria_auth::axum::{AuthLayer, AuthUser, Require, require, require_auth, seed};
use assimetria_auth::http::HttpApi;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::routing::get;
use axum::{Extension, Json, Router, middleware};
use serde_json::{Value, json};

async fn read_tasks(_: Require<seed::TasksRead>) -> Json<Value> {
    Json(json!({"success": true, "tasks": []}))
}

async fn write_task(_: Require<seed::TasksWrite>) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"success": true})))
}

async fn guarded() -> Json<Value> {
    Json(json!({"success": true}))
}

async fn signed_in(Extension(p): Extension<Principal>) -> Json<Value> {
    Json(json!({"success": true, "subject": p.subject}))
}

async fn whoami(AuthUser(p): AuthUser) -> Json<Value> {
    Json(json!({"success": true, "subject": p.subject}))
}

/// Runs after `AuthLayer`: whatever authenticates behind it can only reuse the layer's outcome.
async fn strip_credentials(mut req: Request) -> Request {
    req.headers_mut().remove(header::AUTHORIZATION);
    req.headers_mut().remove(header::COOKIE);
    req
}

async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn serve(api: HttpApi) -> SocketAddr {
    let guarded = Router::new()
        .route("/api/guarded", get(guarded))
        .route_layer(require::<seed::TasksWrite>());
    let signed_in = Router::new()
        .route("/api/signed-in", get(signed_in))
        .route_layer(require_auth());
    // A second `AuthLayer` behind the stripping keeps the first one's outcome.
    let stripped = Router::new()
        .route("/api/whoami", get(whoami))
        .merge(assimetria_auth::axum::routes())
        .layer(AuthLayer::new(api.clone()))
        .layer(middleware::map_request(strip_credentials));
    let app = assimetria_auth::axum::routes()
        .route("/api/tasks", get(read_tasks).post(write_task))
        .merge(guarded)
        .merge(signed_in)
        .nest("/stripped", stripped)
        .with_state(api.clone())
        .layer(AuthLayer::new(api.clone()));
    match assimetria_auth::axum::cors(&api) {
        Some(cors) => listen(app.layer(cors)).await,
        None => listen(app).await,
    }
}

async fn serve_without_layer(api: HttpApi) -> SocketAddr {
    let app = assimetria_auth::axum::routes()
        .route("/api/tasks", get(read_tasks).post(write_task))
        .with_state(api);
    listen(app).await
}

contract_suite!(
    serve,
    serve_without_layer,
    "`assimetria_auth::axum::AuthLayer::new(api)`"
);

/// `router(api)` alone serves the seed's routes behind `AuthLayer` and, with allowed origins,
/// CORS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_applies_the_layer_and_cors() {
    use contract::cors::{ALLOWED, cors_config, header, preflight};
    let router = |api| listen(assimetria_auth::axum::router(api));
    let s = contract::start(router, cors_config()).await;
    let (status, h) = preflight(&s, "/api/auth/me", ALLOWED, "GET").await;
    assert!(status.is_success(), "{status}");
    assert_eq!(header(&h, "access-control-allow-origin"), Some(ALLOWED));

    s.user("member@example.com", seed::MEMBER).await;
    let (token, _) = s.login("member@example.com").await;
    let me = s.http.get(s.url("/api/auth/me")).bearer_auth(&token);
    let me = contract::send(me.header("origin", ALLOWED)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.header("access-control-allow-origin"), Some(ALLOWED));
}
