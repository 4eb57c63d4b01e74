//! The smallest actix-web host: the seed's auth routes, and one route of its own that only a
//! caller holding a permission reaches (anyone else gets the seed's 401 or 403).
//!
//! ```text
//! cargo run --example minimal_actix --features actix
//! curl -X POST http://127.0.0.1:8080/api/auth/login -H "Content-Type: application/json" \
//!   -d '{"email": "admin@example.com", "password": "change me now"}'
//! curl http://127.0.0.1:8080/api/tasks -H "Authorization: Bearer <the token>"
//! ```

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use assimetria_auth::actix::{Authenticate, Require, configure, seed};
use assimetria_auth::http::HttpApi;
use assimetria_auth::{AuthConfig, AuthService, MemoryStore, Password};
use serde_json::json;

/// Runs only for a caller whose role holds `TasksRead`.
async fn tasks(Require(caller, ..): Require<seed::TasksRead>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "tasks": [], "caller": caller.subject}))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Accounts in memory, for as long as the process lives; see `server_actix.rs` for SQLite.
    let store = Arc::new(MemoryStore::new());
    let service = AuthService::builder(AuthConfig::default(), store)
        .build()
        .await?;
    let password = Password::new("change me now");
    service
        .create_user("admin@example.com", &password, seed::ADMIN)
        .await?;

    let api = HttpApi::new(service);
    let addr = std::env::var("ASSIMETRIA_AUTH_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(api.clone()))
            .route("/api/tasks", web::get().to(tasks))
            .configure(configure) // /api/auth/login, /api/auth/me, /api/api-keys, …
            .wrap(Authenticate::new(api.clone()))
    })
    .bind(addr)?
    .run()
    .await?;
    Ok(())
}
