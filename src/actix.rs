//! The actix-web adapter (feature `actix`): extractors and the seed's routes.
//!
//! Like the axum adapter it only translates; every decision is [`HttpApi`]'s, so both serve the
//! same wire contract (the same contract suite runs against both). Register an
//! `actix_web::web::Data<HttpApi>` as app data, then:
//!
//! * [`AuthUser`] extracts the authenticated [`Principal`] (401 in the seed's shape otherwise);
//! * [`Require<P>`] also checks a permission named by a marker from [`permission`] (403);
//! * [`configure`] registers the seed's routes and a JSON 404 for unknown paths.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use assimetria_auth::actix::{Require, configure, permission};
//! use assimetria_auth::http::HttpApi;
//!
//! async fn create_task(Require(principal, ..): Require<permission::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//!
//! # async fn run(service: assimetria_auth::AuthService) -> std::io::Result<()> {
//! let api = web::Data::new(HttpApi::new(service));
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(api.clone())
//!         .service(web::resource("/api/tasks").route(web::post().to(create_task)))
//!         .configure(configure)
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError};

pub use crate::rbac::{RequiredPermission, permission};

use crate::error::{ConfigError, Error};
use crate::http::{HttpApi, Reply, RequestMeta, client_address};
use crate::principal::Principal;

fn to_response(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
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

/// A refused request: the [`Reply`] to send, carried as an actix error.
#[derive(Debug)]
pub struct Rejection(pub Reply);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request refused with status {}", self.0.status)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        to_response(self.0.clone())
    }
}

/// The [`HttpApi`] registered as `web::Data<HttpApi>`; a 500 (and a log line) if the host forgot.
fn api(req: &HttpRequest) -> Result<HttpApi, Rejection> {
    req.app_data::<web::Data<HttpApi>>()
        .map(|data| data.get_ref().clone())
        .ok_or_else(|| {
            Rejection(Reply::error(
                &Error::Config(ConfigError::MissingHttpApi),
                false,
            ))
        })
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn request_meta(req: &HttpRequest) -> RequestMeta<'_> {
    RequestMeta {
        method: req.method().as_str(),
        authorization: header_str(req, header::AUTHORIZATION),
        cookie: header_str(req, header::COOKIE),
        origin: header_str(req, header::ORIGIN),
        sec_fetch_site: req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
        host: header_str(req, header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str())),
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

/// The authenticated principal. Rejects with 401 (or 403 for a cross-origin cookie write).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequest for AuthUser {
    type Error = Rejection;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let api = api(&req)?;
            api.authenticate(&request_meta(&req))
                .await
                .map(AuthUser)
                .map_err(Rejection)
        })
    }
}

/// The authenticated principal, holding permission `P`. Rejects with 401, or 403 when the role
/// lacks `P` (the message names the permission).
#[derive(Debug, Clone)]
pub struct Require<P>(pub Principal, pub PhantomData<P>);

impl<P: RequiredPermission> FromRequest for Require<P> {
    type Error = Rejection;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let api = api(&req)?;
            api.authorize(&request_meta(&req), P::PERMISSION)
                .await
                .map(|p| Require(p, PhantomData))
                .map_err(Rejection)
        })
    }
}

/// A request body read up to the configured limit (413 beyond it), with its `Content-Type`.
pub type LimitedBody = crate::http::LimitedBody<Bytes>;

impl FromRequest for LimitedBody {
    type Error = Rejection;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = web::Payload::from_request(&req, payload);
        Box::pin(async move {
            let api = api(&req)?;
            let too_large = || Rejection(api.payload_too_large());
            let limit = api.body_limit();
            let declared =
                header_str(&req, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let payload = payload.await.map_err(|_| too_large())?;
            let bytes = match payload.to_bytes_limited(limit).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(_)) => {
                    return Err(Rejection(Reply::error(
                        &Error::MalformedRequest("the request body could not be read".into()),
                        false,
                    )));
                }
                Err(_) => return Err(too_large()),
            };
            let config = api.service().config();
            let forwarded = req.headers().get_all(config.forwarded_header.name());
            Ok(Self {
                content_type: header_str(&req, header::CONTENT_TYPE).map(str::to_owned),
                bytes,
                client: client_address(req.peer_addr().map(|a| a.ip()), forwarded, config),
            })
        })
    }
}

fn data(api: &web::Data<HttpApi>) -> &HttpApi {
    api.get_ref()
}

/// The `{id}` path segment (an unparsable one answers 404 downstream).
fn path_id(req: &HttpRequest) -> &str {
    req.match_info().get("id").unwrap_or_default()
}

async fn login(api: web::Data<HttpApi>, body: LimitedBody) -> Reply {
    data(&api)
        .login(body.content_type(), &body.bytes, body.client)
        .await
}

async fn register(api: web::Data<HttpApi>, body: LimitedBody) -> Reply {
    data(&api)
        .register(body.content_type(), &body.bytes, body.client)
        .await
}

async fn refresh(api: web::Data<HttpApi>, body: LimitedBody) -> Reply {
    data(&api).refresh(body.content_type(), &body.bytes).await
}

async fn logout(api: web::Data<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    data(&api).logout(&p).await
}

async fn forgot_password(api: web::Data<HttpApi>, body: LimitedBody) -> Reply {
    data(&api)
        .forgot_password(body.content_type(), &body.bytes, body.client)
        .await
}

async fn reset_password(api: web::Data<HttpApi>, body: LimitedBody) -> Reply {
    data(&api)
        .reset_password(body.content_type(), &body.bytes)
        .await
}

async fn me(api: web::Data<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    data(&api).me(&p).await
}

async fn create_api_key(
    api: web::Data<HttpApi>,
    AuthUser(p): AuthUser,
    body: LimitedBody,
) -> Reply {
    data(&api)
        .create_api_key(&p, body.content_type(), &body.bytes)
        .await
}

async fn list_api_keys(api: web::Data<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    data(&api).list_api_keys(&p).await
}

async fn revoke_api_key(req: HttpRequest, api: web::Data<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    data(&api).revoke_api_key(&p, path_id(&req)).await
}

async fn list_users(api: web::Data<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    data(&api).list_users(&p).await
}

async fn set_role(
    req: HttpRequest,
    api: web::Data<HttpApi>,
    AuthUser(p): AuthUser,
    body: LimitedBody,
) -> Reply {
    data(&api)
        .set_role(&p, path_id(&req), body.content_type(), &body.bytes)
        .await
}

async fn jwks(api: web::Data<HttpApi>) -> Reply {
    data(&api).jwks()
}

/// The reply for unknown routes, in the seed's error shape.
pub async fn not_found(api: web::Data<HttpApi>) -> Reply {
    data(&api).not_found()
}

/// The reply for a known path with the wrong method, in the seed's error shape.
pub async fn method_not_allowed(api: web::Data<HttpApi>) -> Reply {
    data(&api).method_not_allowed()
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Registers the seed's routes, with wrong methods and unknown paths answering in the seed's
/// error shape. Needs `web::Data<HttpApi>` as app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/login").route(web::post().to(login)))
        .service(resource("/api/auth/register").route(web::post().to(register)))
        .service(resource("/api/auth/refresh").route(web::post().to(refresh)))
        .service(resource("/api/auth/logout").route(web::post().to(logout)))
        .service(resource("/api/auth/forgot-password").route(web::post().to(forgot_password)))
        .service(resource("/api/auth/reset-password").route(web::post().to(reset_password)))
        .service(resource("/api/auth/me").route(web::get().to(me)))
        .service(
            resource("/api/api-keys")
                .route(web::post().to(create_api_key))
                .route(web::get().to(list_api_keys)),
        )
        .service(resource("/api/api-keys/{id}").route(web::delete().to(revoke_api_key)))
        .service(resource("/api/users").route(web::get().to(list_users)))
        .service(resource("/api/users/{id}").route(web::patch().to(set_role)))
        .service(resource("/.well-known/jwks.json").route(web::get().to(jwks)))
        .default_service(web::to(not_found));
}
