//! The HTTP contract suite against the actix-web adapter, over real TCP: the very suite the axum
//! adapter passes.
#![cfg(feature = "actix")]

mod harness;
#[macro_use]
mod contract;

use std::net::SocketAddr;

use actix_web::dev::{Service, ServiceRequest};
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use assimetria_auth::Principal;
use assimetria_auth::actix::{AuthUser, Authenticate, Require, configure, cors, seed};
use assimetria_auth::actix::{require, require_auth};
use assimetria_auth::http::HttpApi;

async fn read_tasks(_: Require<seed::TasksRead>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"success": true, "tasks": []}))
}

async fn write_task(_: Require<seed::TasksWrite>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({"success": true}))
}

async fn guarded() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"success": true}))
}

async fn signed_in(p: web::ReqData<Principal>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"success": true, "subject": p.subject}))
}

async fn whoami(AuthUser(p): AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"success": true, "subject": p.subject}))
}

fn tasks() -> actix_web::Resource {
    web::resource("/api/tasks")
        .route(web::get().to(read_tasks))
        .route(web::post().to(write_task))
}

/// Serves the app the factory `$app` makes on its own thread with its own actix system, as a
/// host's `main` would; evaluates to the address.
macro_rules! listen {
    ($app:expr) => {{
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new($app)
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run()
                    .await
                    .unwrap();
            });
        });
        addr
    }};
}

async fn serve(api: HttpApi) -> SocketAddr {
    let data = web::Data::new(api.clone());
    listen!(move || {
        let guarded = web::scope("/api/guarded")
            .wrap(require::<seed::TasksWrite>())
            .route("", web::get().to(guarded));
        let signed_in = web::scope("/api/signed-in")
            .wrap(require_auth())
            .route("", web::get().to(signed_in));
        // Runs after `Authenticate`: whatever authenticates in here can only reuse its outcome.
        // A second `Authenticate` behind the stripping keeps the first one's outcome.
        let stripped = web::scope("/stripped")
            .wrap(Authenticate::new(api.clone()))
            .wrap_fn(|mut req: ServiceRequest, service| {
                req.headers_mut().remove(header::AUTHORIZATION);
                req.headers_mut().remove(header::COOKIE);
                service.call(req)
            })
            .route("/api/whoami", web::get().to(whoami))
            .configure(configure);
        App::new()
            .app_data(data.clone())
            .service(tasks())
            .service(guarded)
            .service(signed_in)
            .service(stripped)
            .configure(configure)
            .wrap(Authenticate::new(api.clone()))
            .wrap(cors(&api))
    })
}

async fn serve_without_layer(api: HttpApi) -> SocketAddr {
    let data = web::Data::new(api);
    listen!(move || {
        App::new()
            .app_data(data.clone())
            .service(tasks())
            .configure(configure)
    })
}

contract_suite!(
    serve,
    serve_without_layer,
    "`assimetria_auth::actix::Authenticate::new(api)`"
);
