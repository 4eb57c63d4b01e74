//! The axum adapter (feature `axum`): extractors and the seed's routes.
//!
//! It only translates: every decision is [`HttpApi`]'s. Put an [`HttpApi`] in your router state
//! (any state `S` with `HttpApi: FromRef<S>`), then:
//!
//! * [`AuthUser`] extracts the authenticated [`Principal`] (401 in the seed's shape otherwise);
//! * [`Require<P>`] also checks a permission, named by a marker from [`permission`] (403);
//! * [`routes`] gives the seed's `/api/auth/*`, `/api/api-keys`, `/api/users` and
//!   `/.well-known/jwks.json` routes to merge into your router; [`router`] is them alone.
//!
//! ```no_run
//! # async fn run(service: assimetria_auth::AuthService) {
//! use assimetria_auth::axum::{Require, permission};
//! use assimetria_auth::http::HttpApi;
//! use axum::routing::post;
//!
//! async fn create_task(Require(principal, ..): Require<permission::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//!
//! let app = assimetria_auth::axum::routes()
//!     .route("/api/tasks", post(create_task))
//!     .with_state(HttpApi::new(service));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await
//! .unwrap();
//! # }
//! ```

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use ::axum::Router;
use ::axum::body::{Body, Bytes, to_bytes};
use ::axum::extract::rejection::PathRejection;
use ::axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Request, State};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{delete, get, patch, post};

use crate::http::{HttpApi, Reply, RequestMeta, client_address};
use crate::principal::Principal;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        res
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn request_meta(parts: &Parts) -> RequestMeta<'_> {
    let h = &parts.headers;
    RequestMeta {
        method: parts.method.as_str(),
        authorization: header_str(h, header::AUTHORIZATION),
        cookie: header_str(h, header::COOKIE),
        origin: header_str(h, header::ORIGIN),
        sec_fetch_site: h.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        host: header_str(h, header::HOST).or_else(|| parts.uri.authority().map(|a| a.as_str())),
    }
}

/// The client's address: the peer's, when the server was started with
/// `into_make_service_with_connect_info::<SocketAddr>()`, or behind a trusted proxy the one it
/// forwarded.
fn client_ip(parts: &Parts, api: &HttpApi) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let config = api.service().config();
    let forwarded = parts.headers.get_all(config.forwarded_header.name());
    client_address(peer, forwarded, config)
}

/// The authenticated principal. Rejects with 401 (or 403 for a cross-origin cookie write).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl<S> FromRequestParts<S> for AuthUser
where
    HttpApi: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Reply> {
        let api = HttpApi::from_ref(state);
        api.authenticate(&request_meta(parts)).await.map(AuthUser)
    }
}

pub use crate::rbac::{RequiredPermission, permission};

/// The authenticated principal, holding permission `P`. Rejects with 401, or 403 when the role
/// lacks `P` (the message names the permission).
#[derive(Debug, Clone)]
pub struct Require<P>(pub Principal, pub PhantomData<P>);

impl<S, P> FromRequestParts<S> for Require<P>
where
    HttpApi: FromRef<S>,
    S: Send + Sync,
    P: RequiredPermission,
{
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Reply> {
        let api = HttpApi::from_ref(state);
        api.authorize(&request_meta(parts), P::PERMISSION)
            .await
            .map(|p| Require(p, PhantomData))
    }
}

/// A request body read up to the configured limit (413 beyond it), with its `Content-Type`.
pub type LimitedBody = crate::http::LimitedBody<Bytes>;

impl<S> FromRequest<S> for LimitedBody
where
    HttpApi: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Reply;

    async fn from_request(req: Request, state: &S) -> Result<Self, Reply> {
        let api = HttpApi::from_ref(state);
        let limit = api.body_limit();
        let (parts, body) = req.into_parts();
        let declared =
            header_str(&parts.headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(api.payload_too_large());
        }
        let bytes = to_bytes(body, limit)
            .await
            .map_err(|_| api.payload_too_large())?;
        Ok(Self {
            content_type: header_str(&parts.headers, header::CONTENT_TYPE).map(str::to_owned),
            bytes,
            client: client_ip(&parts, &api),
        })
    }
}

async fn login(State(api): State<HttpApi>, body: LimitedBody) -> Reply {
    api.login(body.content_type(), &body.bytes, body.client)
        .await
}

async fn register(State(api): State<HttpApi>, body: LimitedBody) -> Reply {
    api.register(body.content_type(), &body.bytes, body.client)
        .await
}

async fn refresh(State(api): State<HttpApi>, body: LimitedBody) -> Reply {
    api.refresh(body.content_type(), &body.bytes).await
}

async fn logout(State(api): State<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    api.logout(&p).await
}

async fn forgot_password(State(api): State<HttpApi>, body: LimitedBody) -> Reply {
    api.forgot_password(body.content_type(), &body.bytes, body.client)
        .await
}

async fn reset_password(State(api): State<HttpApi>, body: LimitedBody) -> Reply {
    api.reset_password(body.content_type(), &body.bytes).await
}

async fn me(State(api): State<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    api.me(&p).await
}

async fn create_api_key(
    State(api): State<HttpApi>,
    AuthUser(p): AuthUser,
    body: LimitedBody,
) -> Reply {
    api.create_api_key(&p, body.content_type(), &body.bytes)
        .await
}

async fn list_api_keys(State(api): State<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    api.list_api_keys(&p).await
}

/// A path segment that is not valid percent-encoded UTF-8 names no resource: 404 in the seed's
/// shape rather than axum's plain-text rejection.
fn path_id(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(id)| id).unwrap_or_default()
}

async fn revoke_api_key(
    State(api): State<HttpApi>,
    AuthUser(p): AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Reply {
    api.revoke_api_key(&p, &path_id(id)).await
}

async fn list_users(State(api): State<HttpApi>, AuthUser(p): AuthUser) -> Reply {
    api.list_users(&p).await
}

async fn set_role(
    State(api): State<HttpApi>,
    AuthUser(p): AuthUser,
    id: Result<Path<String>, PathRejection>,
    body: LimitedBody,
) -> Reply {
    api.set_role(&p, &path_id(id), body.content_type(), &body.bytes)
        .await
}

async fn jwks(State(api): State<HttpApi>) -> Reply {
    api.jwks()
}

/// The reply for unknown routes, in the seed's error shape; use as your router's fallback.
pub async fn not_found(State(api): State<HttpApi>) -> Reply {
    api.not_found()
}

/// The reply for a known path with the wrong method, in the seed's error shape.
pub async fn method_not_allowed(State(api): State<HttpApi>) -> Reply {
    api.method_not_allowed()
}

/// The seed's routes, for any router state that holds an [`HttpApi`]. Unknown routes and wrong
/// methods answer in the seed's error shape.
pub fn routes<S>() -> Router<S>
where
    HttpApi: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/register", post(register))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/forgot-password", post(forgot_password))
        .route("/api/auth/reset-password", post(reset_password))
        .route("/api/auth/me", get(me))
        .route("/api/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api/api-keys/{id}", delete(revoke_api_key))
        .route("/api/users", get(list_users))
        .route("/api/users/{id}", patch(set_role))
        .route("/.well-known/jwks.json", get(jwks))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The seed's routes with `api` as their state, ready to serve.
pub fn router(api: HttpApi) -> Router {
    routes().with_state(api)
}
