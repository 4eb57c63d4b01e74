//! The smallest axum host: its own permission and roles, the seed's auth routes, and one route
//! that only a caller holding the permission reaches (anyone else gets the seed's 401 or 403).
//!
//! ```text
//! cargo run --example minimal_axum --features axum
//! curl -X POST http://127.0.0.1:8080/api/auth/login -H "Content-Type: application/json" \
//!   -d '{"email": "admin@example.com", "password": "change me now"}'
//! curl http://127.0.0.1:8080/api/reports -H "Authorization: Bearer <the token>"
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use assimetria_auth::axum::{AuthLayer, Require};
use assimetria_auth::http::HttpApi;
use assimetria_auth::{AuthConfig, AuthService, MemoryStore, Password};
use axum::{Json, routing::get};
use serde_json::{Value, json};

assimetria_auth::policy! {
    /// This host's access rules: who may read reports.
    mod access {
        permissions {
            /// Read the reports.
            ReportsRead = "reports:read",
        }
        roles {
            /// Reads reports, manages users and API keys.
            ADMIN = "admin", rank 1: [ReportsRead, UsersManage, ApiKeysManage],
            /// Signed up, may read nothing yet.
            GUEST = "guest", rank 0: [],
        }
    }
}

/// Runs only for a caller whose role holds `reports:read`.
async fn reports(Require(caller, ..): Require<access::ReportsRead>) -> Json<Value> {
    Json(json!({"success": true, "reports": [], "caller": caller.subject}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Accounts in memory, for as long as the process lives; see `server.rs` for SQLite.
    let config = AuthConfig::builder().default_role(access::GUEST).build()?;
    let service = AuthService::builder(config, Arc::new(MemoryStore::new()))
        .policy(access::policy())
        .build()
        .await?;
    let password = Password::new("change me now");
    service
        .create_user("admin@example.com", &password, access::ADMIN)
        .await?;

    let api = HttpApi::new(service);
    let app = assimetria_auth::axum::routes() // /api/auth/login, /api/auth/me, /api/api-keys, …
        .route("/api/reports", get(reports))
        .layer(AuthLayer::new(api.clone()))
        .with_state(api);

    let addr = std::env::var("ASSIMETRIA_AUTH_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = app.into_make_service_with_connect_info::<SocketAddr>(); // the rate limits' client
    axum::serve(listener, app).await?;
    Ok(())
}
