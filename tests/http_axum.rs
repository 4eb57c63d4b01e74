//! The HTTP contract suite against the axum adapter, over real TCP.
#![cfg(feature = "axum")]

mod harness;
#[macro_use]
mod contract;

use assimetria_auth::rbac::seed;
use std::net::SocketAddr;

use assimetria_auth::axum::Require;
use assimetria_auth::http::HttpApi;
use axum::Json;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

async fn read_tasks(_: Require<seed::TasksRead>) -> Json<Value> {
    Json(json!({"success": true, "tasks": []}))
}

async fn write_task(_: Require<seed::TasksWrite>) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"success": true})))
}

async fn serve(api: HttpApi) -> SocketAddr {
    let app = assimetria_auth::axum::routes()
        .route("/api/tasks", get(read_tasks).post(write_task))
        .with_state(api);
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

contract_suite!(serve);
