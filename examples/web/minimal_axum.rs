//! The smallest axum host: the seed's auth routes, and one route of its own that only a caller
//! holding a permission reaches (anyone else gets the seed's 401 or 403).
//!
//! ```text
//! cargo run --example minimal_axum --features axum
//! curl -X POST http://127.0.0.1:8080/api/auth/login -H "Content-Type: application/json" \
//!   -d '{"email": "admin@example.com", "password": "change me now"}'
//! curl http://127.0.0.1:8080/api/tasks -H "Authorization: Bearer <the token>"
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use assimetria_auth::axum::{AuthLayer, Require, seed};
use assimetria_auth::http::HttpApi;
use assimetria_auth::{AuthConfig, AuthService, MemoryStore, Password};
use axum::{Json, routing::get};
use serde_json::{Value, json};

/// Runs only for a caller whose role holds `TasksRead`.
async fn tasks(Require(caller, ..): Require<seed::TasksRead>) -> Json<Value> {
    Json(json!({"success": true, "tasks": [], "caller": caller.subject}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Accounts in memory, for as long as the process lives; see `server.rs` for SQLite.
    let store = Arc::new(MemoryStore::new());
    let service = AuthService::builder(AuthConfig::default(), store)
        .build()
        .await?;
    let password = Password::new("change me now");
    service
        .create_user("admin@example.com", &password, seed::ADMIN)
        .await?;

    let api = HttpApi::new(service);
    let app = assimetria_auth::axum::routes() // /api/auth/login, /api/auth/me, /api/api-keys, …
        .route("/api/tasks", get(tasks))
        .layer(AuthLayer::new(api.clone()))
        .with_state(api);

    let addr = std::env::var("ASSIMETRIA_AUTH_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = app.into_make_service_with_connect_info::<SocketAddr>(); // the rate limits' client
    axum::serve(listener, app).await?;
    Ok(())
}
