//! The example server on actix-web: the same server as `server.rs` (axum), answering every route
//! alike (`tests/equivalence.rs` checks it): the seed's HTTP API on an embedded SQLite file (or
//! PostgreSQL), the same demo resources, the same environment variables (see `server.rs`), the
//! same master key file and outbox mailer, and a graceful shutdown on Ctrl-C or `SIGTERM`.
//!
//! ```text
//! cargo run --example server_actix --features actix
//! ```
//!
//! The host's side, as on axum: register `web::Data<HttpApi>`, mount the seed's routes with
//! `.configure(assimetria_auth::actix::configure)`, wrap the app in `Authenticate` (each request
//! is authenticated once), guard its own handlers with the
//! `Require<permission>` extractor, and answer with its own types (`HttpResponse`, and an error
//! type implementing `ResponseError`).
//!
//! With `--features actix,metrics`: `GET /metrics` (see `server.rs`; not authenticated, keep it
//! off the public internet).

use std::fmt;

use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpResponse, HttpServer, Responder, ResponseError, Route, guard, web};
use assimetria_auth::actix::{Authenticate, LimitedBody, Require, configure, cors, seed};
use assimetria_auth::http::HttpApi;
use example_support::{BoxError, DemoData, DemoError, Metrics, Resource, Settings};
use serde_json::{Value, json};

/// This server's own refusals, answered in the seed's error shape. (The extractors refuse on
/// their own, in the same shape: 401, 403.)
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

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AppError::Demo(e) = self;
        e.fmt(f)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        let AppError::Demo(e) = self;
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let AppError::Demo(e) = self;
        HttpResponse::build(self.status_code()).json(e.body())
    }
}

/// `{"success": true, "item": …}` with `201 Created`.
fn created(item: Value) -> HttpResponse {
    HttpResponse::Created().json(json!({"success": true, "item": item}))
}

async fn list_tasks(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::TasksRead>,
) -> HttpResponse {
    let tasks = data.list(Resource::Tasks, caller.environment());
    HttpResponse::Ok().json(json!({"success": true, "tasks": tasks}))
}

async fn create_task(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::TasksWrite>,
    body: LimitedBody,
) -> Result<HttpResponse, AppError> {
    let item = data.add(
        Resource::Tasks,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn list_agents(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::AgentsRead>,
) -> HttpResponse {
    let agents = data.list(Resource::Agents, caller.environment());
    HttpResponse::Ok().json(json!({"success": true, "agents": agents}))
}

async fn create_agent(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::AgentsWrite>,
    body: LimitedBody,
) -> Result<HttpResponse, AppError> {
    let item = data.add(
        Resource::Agents,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn list_products(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::ProductsRead>,
) -> HttpResponse {
    let products = data.list(Resource::Products, caller.environment());
    HttpResponse::Ok().json(json!({"success": true, "products": products}))
}

async fn create_product(
    data: web::Data<DemoData>,
    Require(caller, ..): Require<seed::ProductsWrite>,
    body: LimitedBody,
) -> Result<HttpResponse, AppError> {
    let item = data.add(
        Resource::Products,
        caller.environment(),
        &caller.subject,
        &body.bytes,
    )?;
    Ok(created(item))
}

async fn get_settings(data: web::Data<DemoData>, _: Require<seed::SettingsManage>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "settings": data.settings()}))
}

async fn put_settings(
    data: web::Data<DemoData>,
    _: Require<seed::SettingsManage>,
    body: LimitedBody,
) -> Result<HttpResponse, AppError> {
    let settings = data.put_settings(&body.bytes)?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "settings": settings})))
}

/// The OpenAPI document, serialized once at start.
struct OpenApiJson(web::Bytes);

async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "status": "ok"}))
}

/// `GET`, and `HEAD` (the same answer without its body), as axum's `get` routes both.
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Any other method on one of this server's paths: the seed's 405, with `Allow` naming the
/// methods the path takes (axum writes that header itself).
fn wrong_method(allow: &'static str) -> Route {
    web::to(move |api: web::Data<HttpApi>| async move {
        let reply = api.method_not_allowed();
        reply.customize().insert_header((header::ALLOW, allow))
    })
}

/// The demo resources and `/health`.
fn demo_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/tasks")
            .route(read().to(list_tasks))
            .route(web::post().to(create_task))
            .default_service(wrong_method("GET,HEAD,POST")),
    )
    .service(
        web::resource("/api/agents")
            .route(read().to(list_agents))
            .route(web::post().to(create_agent))
            .default_service(wrong_method("GET,HEAD,POST")),
    )
    .service(
        web::resource("/api/products")
            .route(read().to(list_products))
            .route(web::post().to(create_product))
            .default_service(wrong_method("GET,HEAD,POST")),
    )
    .service(
        web::resource("/api/settings")
            .route(read().to(get_settings))
            .route(web::put().to(put_settings))
            .default_service(wrong_method("GET,HEAD,PUT")),
    )
    .service(
        web::resource("/health")
            .route(read().to(health))
            .default_service(wrong_method("GET,HEAD")),
    )
    .service(
        web::resource("/openapi.json")
            .route(read().to(openapi_json))
            .default_service(wrong_method("GET,HEAD")),
    );
}

/// `GET /metrics`, only with the `metrics` feature (`metrics` is `None` without it).
fn metrics_route(cfg: &mut web::ServiceConfig, metrics: Option<Metrics>) {
    let Some(metrics) = metrics else { return };
    let render = move || {
        let body = metrics.render();
        async move {
            HttpResponse::Ok()
                .content_type(example_support::metrics::CONTENT_TYPE)
                .body(body)
        }
    };
    cfg.service(
        web::resource("/metrics")
            .route(read().to(render))
            .default_service(wrong_method("GET,HEAD")),
    );
}

#[actix_web::main]
async fn main() -> Result<(), BoxError> {
    example_support::init_logging()?;
    let metrics = Metrics::install()?;
    let settings = Settings::from_env()?;
    let service = settings.start().await?;

    let api = HttpApi::new(service.clone());
    let data = web::Data::new(DemoData::default());
    let document = example_support::openapi::document(&api).to_string();
    let document = web::Data::new(OpenApiJson(document.into()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(api.clone()))
            .app_data(data.clone())
            .app_data(document.clone())
            .configure(demo_routes)
            .configure(|cfg| metrics_route(cfg, metrics.clone()))
            .configure(configure)
            .wrap(Authenticate::new(api.clone()))
            .wrap(cors(&api))
    })
    // Stop taking connections on Ctrl-C or SIGTERM and let the requests in flight finish, as
    // the axum server does (actix's own SIGINT handling would drop them).
    .shutdown_signal(example_support::shutdown_signal())
    .bind(settings.addr)?;
    tracing::info!(addr = ?server.addrs(), "listening (actix-web)");
    server.run().await?;
    // The requests have finished: stop the background tasks and write what they left pending
    // (mail in flight, API keys' last use, the audit sink).
    service.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}
