//! The axum adapter (feature `axum`): the authentication layer, permission guards, extractors,
//! CORS for the allowed origins, and the seed's routes.
//!
//! It only translates; every decision is [`HttpApi`]'s. [`AuthLayer`] authenticates each request
//! once and leaves the outcome in its extensions: an [`Authentication`], and the
//! [`Principal`] itself on success (so `Extension<Principal>` works behind
//! [`require_auth`] or [`require`]; where a caller may be anonymous, take [`AuthUser`] or
//! `Option<Extension<Principal>>`, since a missing one is axum's own 500). Behind it,
//! [`require`] and [`require_auth`] guard a whole router in one line, [`AuthUser`] and
//! [`Require<P>`] (`P` a marker from [`seed`] or a host's [`policy!`](crate::policy)) extract what it found, with any router
//! state, and the seed's endpoints reuse it too. [`cors`] is tower-http's `CorsLayer` for the
//! configured allowed origins. [`routes`] mounts [`ROUTES`]; [`router`] serves them alone, with
//! the layers applied. Refusals are [`Reply`]s.
//!
//! ```no_run
//! use assimetria_auth::axum::{AuthLayer, Require, seed, require};
//! use assimetria_auth::http::HttpApi;
//! use axum::{Extension, Router, routing::{get, post}};
//!
//! async fn create_task(Require(principal, ..): Require<seed::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//! async fn users_report(Extension(principal): Extension<assimetria_auth::Principal>) -> String {
//!     format!("report for {}", principal.subject)
//! }
//! # async fn run(service: assimetria_auth::AuthService) {
//! let api = HttpApi::new(service);
//! // One line guards every route of a router (401 / 403 before any handler runs).
//! let admin = Router::new()
//!     .route("/api/admin/report", get(users_report))
//!     .route_layer(require::<seed::UsersManage>());
//! let mut app = assimetria_auth::axum::routes()
//!     .route("/api/tasks", post(create_task))
//!     .merge(admin)
//!     .with_state(api.clone())
//!     .layer(AuthLayer::new(api.clone())); // after the routes: it wraps those added before it
//! if let Some(cors) = assimetria_auth::axum::cors(&api) {
//!     app = app.layer(cors);
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>(); // client address
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::future::{Future, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::axum::Router;
use ::axum::body::{Body, Bytes, to_bytes};
use ::axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Request, State};
use ::axum::http::{self, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, request::Parts};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::any;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

pub use crate::http::{AuthUser, Authentication, Require};
pub use crate::rbac::{RequiredPermission, seed};

use crate::http::{BodyError, Check, CorsPolicy, Headers, HttpApi, ROUTES, Reply, RequestHead};
use crate::http::{Route, authenticated, check, from_middleware, permitted};
use crate::principal::Principal;

/// What the missing-layer log tells the host to do.
const FIX: &str = "add `assimetria_auth::axum::AuthLayer::new(api)` to the router with \
                   `.layer(...)` after the routes it covers (a layer wraps the routes added before it)";

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let json = [(http::header::CONTENT_TYPE, "application/json")];
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
        query: parts.uri.query().filter(|q| !q.is_empty()),
    }
}

/// At most `limit` bytes. (`to_bytes` does not tell a broken stream from a long one: both 413.)
async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    to_bytes(body, limit).await.map_err(|_| BodyError::TooLarge)
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Authenticates every request once, before the routes it wraps, and leaves the outcome in the
/// request's extensions: an [`Authentication`] (refusal included, for the extractors and guards
/// behind it to answer with) and, on success, the [`Principal`]. It refuses nothing itself.
/// A request that already carries this API's `Authentication` (an outer `AuthLayer` of the same
/// API) keeps it; another API's is replaced.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    api: HttpApi,
}

impl AuthLayer {
    /// The layer for `api`; add it with `Router::layer` after the routes it covers.
    pub fn new(api: HttpApi) -> Self {
        Self { api }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let api = self.api.clone();
        AuthMiddleware { inner, api }
    }
}

/// The service [`AuthLayer`] wraps around a router's routes.
#[derive(Debug, Clone)]
pub struct AuthMiddleware<S> {
    inner: S,
    api: HttpApi,
}

impl<S, B> Service<http::Request<B>> for AuthMiddleware<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The service made ready is the one to call; a fresh clone waits for the next request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let api = self.api.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let existing = parts.extensions.get::<Authentication>();
            let meta = head(&parts, None).meta();
            if let Some(found) = api.authenticate_once(existing, &meta).await {
                match found.principal() {
                    Ok(principal) => parts.extensions.insert(principal.clone()),
                    Err(_) => parts.extensions.remove::<Principal>(),
                };
                parts.extensions.insert(found);
            }
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

/// Refuses, for every route of the router it is added to (with `Router::route_layer`), the
/// requests [`AuthLayer`] did not authenticate (401, 403 CSRF) or whose principal lacks `P`
/// (403): [`Require<P>`] for a whole router. Needs `AuthLayer` in front (else 500).
pub fn require<P: RequiredPermission>() -> RequireLayer {
    RequireLayer {
        check: permitted::<P>,
    }
}

/// Refuses, for every route of the router it is added to, the requests [`AuthLayer`] did not
/// authenticate (401, 403 CSRF): [`AuthUser`] for a whole router, axum-login's
/// `login_required!` in one line.
pub fn require_auth() -> RequireLayer {
    RequireLayer {
        check: authenticated,
    }
}

/// The guard of [`require`] and [`require_auth`].
#[derive(Debug, Clone, Copy)]
pub struct RequireLayer {
    check: Check,
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let check = self.check;
        RequireMiddleware { inner, check }
    }
}

/// The service [`RequireLayer`] wraps around a router's routes.
#[derive(Debug, Clone)]
pub struct RequireMiddleware<S> {
    inner: S,
    check: Check,
}

impl<S, B> Service<http::Request<B>> for RequireMiddleware<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match check(req.extensions().get(), self.check, FIX) {
            Ok(_) => Box::pin(self.inner.call(req)),
            Err(refusal) => Box::pin(ready(Ok(refusal.into_response()))),
        }
    }
}

/// tower-http's `CorsLayer` for the configured allowed origins ([`CorsPolicy`]), `None` when none
/// are configured. Add it last (outermost), so it answers preflights and marks refusals too.
pub fn cors(api: &HttpApi) -> Option<CorsLayer> {
    let policy = api.cors()?;
    let origins = policy.origins().iter();
    let origins = origins.filter_map(|o| HeaderValue::from_str(o).ok());
    let names = |list: &[&str]| -> Vec<HeaderName> {
        let names = list.iter().map(|h| HeaderName::from_bytes(h.as_bytes()));
        names.filter_map(Result::ok).collect()
    };
    let methods = CorsPolicy::METHODS.iter().map(|m| m.parse::<Method>());
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods(methods.filter_map(Result::ok).collect::<Vec<_>>())
        .allow_headers(names(&CorsPolicy::REQUEST_HEADERS))
        .expose_headers(names(&CorsPolicy::EXPOSED_HEADERS))
        .max_age(CorsPolicy::MAX_AGE);
    Some(cors)
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Reply> {
        Self::found(parts.extensions.get(), FIX)
    }
}

impl<S: Send + Sync, P: RequiredPermission> FromRequestParts<S> for Require<P> {
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Reply> {
        Self::found(parts.extensions.get(), FIX)
    }
}

/// A request body read up to the configured limit (413 beyond it), with its `Content-Type`.
/// Like the other extractors it needs [`AuthLayer`], whose API holds the limit.
pub type LimitedBody = crate::http::LimitedBody<Bytes>;

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = Reply;

    async fn from_request(req: Request, _: &S) -> Result<Self, Reply> {
        let (parts, body) = req.into_parts();
        let api = from_middleware(parts.extensions.get(), FIX)?.api();
        Ok(api
            .limited_body(&head(&parts, None), |n| read(body, n))
            .await?)
    }
}

async fn serve(api: HttpApi, route: &Route, req: Request) -> Reply {
    let (mut parts, body) = req.into_parts();
    let id = Path::<String>::from_request_parts(&mut parts, &()).await;
    let head = head(&parts, id.as_ref().ok().map(|Path(id)| id.as_str()));
    let read_body = |limit| read(body, limit);
    match parts.extensions.get::<Authentication>() {
        Some(found) => {
            api.serve_authenticated(route, &head, found, read_body)
                .await
        }
        None => api.serve(route, &head, read_body).await,
    }
}

/// The reply for unknown routes, in the seed's error shape; use as your router's fallback.
pub async fn not_found(State(api): State<HttpApi>) -> Reply {
    api.not_found()
}

/// The reply for a known path with the wrong method, in the seed's error shape.
pub async fn method_not_allowed(State(api): State<HttpApi>) -> Reply {
    api.method_not_allowed()
}

/// The seed's routes for any state holding an [`HttpApi`], with seed-shaped 404s and 405s. They
/// work with or without [`AuthLayer`], and reuse its authentication when it runs.
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

/// The seed's routes with `api` as their state, behind [`AuthLayer`] and, when allowed origins
/// are configured, [`cors`]: ready to serve.
pub fn router(api: HttpApi) -> Router {
    let cors = cors(&api);
    let router = routes().with_state(api.clone());
    let router = router.layer(AuthLayer::new(api));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}
