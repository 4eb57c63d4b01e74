//! The axum adapter (feature `axum`): extractors and the seed's routes.
//!
//! It only translates; every decision is [`HttpApi`]'s (put one in your router state: any `S`
//! with `HttpApi: FromRef<S>`). [`AuthUser`] extracts the authenticated
//! [`Principal`](crate::Principal), [`Require<P>`] also checks a permission named by a marker
//! from [`seed`] or a host's [`policy!`](crate::policy), [`LimitedBody`] reads a body under the configured limit, and [`routes`]
//! mounts [`ROUTES`] ([`router`]: them alone). Refusals are [`Reply`]s.
//!
//! ```no_run
//! use assimetria_auth::{axum::{Require, seed}, http::HttpApi};
//!
//! async fn create_task(Require(principal, ..): Require<seed::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//! # async fn run(service: assimetria_auth::AuthService) {
//! let app = assimetria_auth::axum::routes()
//!     .route("/api/tasks", axum::routing::post(create_task))
//!     .with_state(HttpApi::new(service))
//!     .into_make_service_with_connect_info::<std::net::SocketAddr>(); // for the client address
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::net::SocketAddr;

use ::axum::Router;
use ::axum::body::{Body, Bytes, to_bytes};
use ::axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Request, State};
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::any;

pub use crate::http::{AuthUser, Require};
pub use crate::rbac::{RequiredPermission, seed};

use crate::http::{BodyError, Headers, HttpApi, ROUTES, Reply, RequestHead, Route};

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let json = [(header::CONTENT_TYPE, "application/json")];
        let mut res = (status, json, self.body).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().append(name, value);
            }
        }
        res
    }
}

impl Headers for HeaderMap {
    fn get_all(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        let values = HeaderMap::get_all(self, name);
        values.into_iter().map(HeaderValue::as_bytes)
    }
}

/// The request for [`HttpApi`]; the peer is known under `into_make_service_with_connect_info`.
fn head<'a>(parts: &'a Parts, id: Option<&'a str>) -> RequestHead<'a, HeaderMap> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
    RequestHead {
        method: parts.method.as_str(),
        authority: parts.uri.authority().map(|a| a.as_str()),
        headers: &parts.headers,
        peer: peer.map(|c| c.0.ip()),
        id,
    }
}

/// At most `limit` bytes. (`to_bytes` does not tell a broken stream from a long one: both 413.)
async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    to_bytes(body, limit).await.map_err(|_| BodyError::TooLarge)
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    HttpApi: FromRef<S>,
{
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Reply> {
        Self::extract(&HttpApi::from_ref(state), &head(parts, None).meta()).await
    }
}

impl<S: Send + Sync, P: RequiredPermission> FromRequestParts<S> for Require<P>
where
    HttpApi: FromRef<S>,
{
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Reply> {
        Self::extract(&HttpApi::from_ref(state), &head(parts, None).meta()).await
    }
}

/// A request body read up to the configured limit (413 beyond it), with its `Content-Type`.
pub type LimitedBody = crate::http::LimitedBody<Bytes>;

impl<S: Send + Sync> FromRequest<S> for LimitedBody
where
    HttpApi: FromRef<S>,
{
    type Rejection = Reply;

    async fn from_request(req: Request, state: &S) -> Result<Self, Reply> {
        let (parts, body) = req.into_parts();
        let (api, read_body) = (HttpApi::from_ref(state), |n| read(body, n));
        Ok(api.limited_body(&head(&parts, None), read_body).await?)
    }
}

async fn serve(api: HttpApi, route: &Route, req: Request) -> Reply {
    let (mut parts, body) = req.into_parts();
    let id = Path::<String>::from_request_parts(&mut parts, &()).await;
    let head = head(&parts, id.as_ref().ok().map(|Path(id)| id.as_str()));
    api.serve(route, &head, |limit| read(body, limit)).await
}

/// The reply for unknown routes, in the seed's error shape; use as your router's fallback.
pub async fn not_found(State(api): State<HttpApi>) -> Reply {
    api.not_found()
}

/// The reply for a known path with the wrong method, in the seed's error shape.
pub async fn method_not_allowed(State(api): State<HttpApi>) -> Reply {
    api.method_not_allowed()
}

/// The seed's routes for any state holding an [`HttpApi`], with seed-shaped 404s and 405s.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S>
where
    HttpApi: FromRef<S>,
{
    let mut router = Router::new();
    for route in ROUTES {
        let handler = move |State(api): State<HttpApi>, req| serve(api, route, req);
        router = router.route(route.path, any(handler));
    }
    let router = router.fallback(not_found);
    router.method_not_allowed_fallback(method_not_allowed)
}

/// The seed's routes with `api` as their state, ready to serve.
pub fn router(api: HttpApi) -> Router {
    routes().with_state(api)
}
