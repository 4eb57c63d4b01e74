//! The actix-web adapter (feature `actix`): extractors and the seed's routes.
//!
//! It only translates; every decision is [`HttpApi`]'s, so it serves the axum adapter's wire
//! contract (one contract suite runs against both). Register a `web::Data<HttpApi>`; then
//! [`AuthUser`] extracts the authenticated [`Principal`](crate::Principal), [`Require<P>`] also
//! checks a permission named by a marker from [`seed`] or a host's [`policy!`](crate::policy), and [`configure`] mounts
//! [`ROUTES`] with a 404 for unknown paths. Refusals are [`Reply`]s in the
//! seed's error shape.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use assimetria_auth::{actix::{Require, configure, seed}, http::HttpApi};
//!
//! async fn create_task(Require(principal, ..): Require<seed::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//! # async fn run(service: assimetria_auth::AuthService) -> std::io::Result<()> {
//! let api = web::Data::new(HttpApi::new(service));
//! HttpServer::new(move || {
//!     let tasks = web::resource("/api/tasks").route(web::post().to(create_task));
//!     App::new().app_data(api.clone()).service(tasks).configure(configure)
//! })
//! .bind("127.0.0.1:8080")?.run().await
//! # }
//! ```

use std::{future::Future, pin::Pin};

use actix_web::body::{self, BoxBody};
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError};

pub use crate::http::{AuthUser, Require};
pub use crate::rbac::{RequiredPermission, seed};

use crate::error::{ConfigError, Error};
use crate::http::{BodyError, Headers, HttpApi, ROUTES, Reply, RequestHead, Route};

fn to_response(reply: Reply) -> HttpResponse {
    let mut res = HttpResponse::build(reply.status_code());
    res.insert_header((header::CONTENT_TYPE, "application/json"));
    for (name, value) in reply.headers {
        res.append_header((name, value));
    }
    res.body(reply.body)
}

impl Responder for Reply {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        to_response(self)
    }
}

/// The extractors' error: the [`Reply`] to send.
pub type Rejection = Reply;

impl ResponseError for Reply {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        to_response(self.clone())
    }
}

/// The [`HttpApi`] registered as `web::Data<HttpApi>`; a 500 (and a log line) if the host forgot.
fn api(req: &HttpRequest) -> Result<HttpApi, Reply> {
    let data: Option<&web::Data<HttpApi>> = req.app_data();
    let missing = || Reply::error(&Error::Config(ConfigError::MissingHttpApi), false);
    data.map(|d| d.get_ref().clone()).ok_or_else(missing)
}

impl Headers for header::HeaderMap {
    fn get_all(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        header::HeaderMap::get_all(self, name).map(header::HeaderValue::as_bytes)
    }
}

/// The request for [`HttpApi`], with the `{id}` segment if the route has one.
fn head(req: &HttpRequest) -> RequestHead<'_, header::HeaderMap> {
    RequestHead {
        method: req.method().as_str(),
        authority: req.uri().authority().map(|a| a.as_str()),
        headers: req.headers(),
        peer: req.peer_addr().map(|a| a.ip()),
        id: req.match_info().get("id"),
    }
}

async fn read(payload: Payload, limit: usize) -> Result<Bytes, BodyError> {
    match body::to_bytes_limited(body::BodyStream::new(payload), limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_) => Err(BodyError::TooLarge),
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, Reply>>>>;

impl FromRequest for AuthUser {
    type Error = Reply;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::extract(&api(&req)?, &head(&req).meta()).await })
    }
}

impl<P: RequiredPermission> FromRequest for Require<P> {
    type Error = Reply;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::extract(&api(&req)?, &head(&req).meta()).await })
    }
}

async fn serve(route: &Route, req: HttpRequest, payload: web::Payload) -> Result<Reply, Reply> {
    let read_body = |limit| read(payload.into_inner(), limit);
    Ok(api(&req)?.serve(route, &head(&req), read_body).await)
}

/// The reply for unknown routes, in the seed's error shape.
pub async fn not_found(api: web::Data<HttpApi>) -> Reply {
    api.not_found()
}

/// The reply for a known path with the wrong method, in the seed's error shape.
pub async fn method_not_allowed(api: web::Data<HttpApi>) -> Reply {
    api.method_not_allowed()
}

/// Registers the seed's routes, with wrong methods and unknown paths answering in the seed's
/// error shape. Needs `web::Data<HttpApi>` as app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for route in ROUTES {
        let handler = move |req, payload| serve(route, req, payload);
        cfg.service(web::resource(route.path).to(handler));
    }
    cfg.default_service(web::to(not_found));
}
