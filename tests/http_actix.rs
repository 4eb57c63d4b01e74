//! The HTTP contract suite against the actix-web adapter, over real TCP: the very suite the axum
//! adapter passes.
#![cfg(feature = "actix")]

mod harness;
#[macro_use]
mod contract;

use assimetria_auth::rbac::seed;
use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use assimetria_auth::actix::{Require, configure};
use assimetria_auth::http::HttpApi;

async fn read_tasks(_: Require<seed::TasksRead>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"success": true, "tasks": []}))
}

async fn write_task(_: Require<seed::TasksWrite>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({"success": true}))
}

/// Serves on its own thread with its own actix system, as a host's `main` would.
async fn serve(api: HttpApi) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = web::Data::new(api);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .service(
                        web::resource("/api/tasks")
                            .route(web::get().to(read_tasks))
                            .route(web::post().to(write_task)),
                    )
                    .configure(configure)
            })
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
}

contract_suite!(serve);
