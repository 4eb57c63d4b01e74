//! The actix-web adapter (feature `actix`): the authentication middleware, permission guards,
//! extractors, CORS for the allowed origins, and the seed's routes.
//!
//! It only translates; every decision is [`HttpApi`]'s, so it serves the axum adapter's wire
//! contract (one contract suite runs against both). [`Authenticate`] authenticates each request
//! once and leaves the outcome in its extensions: an [`Authentication`], and the
//! [`Principal`] itself on success (so `web::ReqData<Principal>` works behind
//! [`require_auth`] or [`require`]; where a caller may be anonymous, take [`AuthUser`] or
//! `Option<web::ReqData<Principal>>`, since a missing one is actix's own 500).
//! Behind it, [`require`] and [`require_auth`] guard a whole scope in one line, [`AuthUser`] and
//! [`Require<P>`] (`P` a marker from [`seed`] or a host's [`policy!`](crate::policy)) extract what it found, and the seed's
//! endpoints reuse it too. [`cors`] is actix-cors' `Cors` for the configured allowed origins.
//! [`configure`] mounts [`ROUTES`] with a 404 for unknown paths (they need a
//! `web::Data<HttpApi>`). Refusals are [`Reply`]s in the seed's error shape.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use assimetria_auth::actix::{Authenticate, Require, configure, cors, seed, require};
//! use assimetria_auth::{Principal, http::HttpApi};
//!
//! async fn create_task(Require(principal, ..): Require<seed::TasksWrite>) -> String {
//!     format!("created by {}", principal.subject)
//! }
//! async fn users_report(principal: web::ReqData<Principal>) -> String {
//!     format!("report for {}", principal.subject)
//! }
//! # async fn run(service: assimetria_auth::AuthService) -> std::io::Result<()> {
//! let api = HttpApi::new(service);
//! HttpServer::new(move || {
//!     // One line guards every route of a scope (401 / 403 before any handler runs).
//!     let admin = web::scope("/api/admin")
//!         .wrap(require::<seed::UsersManage>())
//!         .route("/report", web::get().to(users_report));
//!     App::new()
//!         .app_data(web::Data::new(api.clone())) // for the seed's endpoints
//!         .service(admin)
//!         .route("/api/tasks", web::post().to(create_task))
//!         .configure(configure)
//!         .wrap(Authenticate::new(api.clone())) // covers everything registered on the app
//!         .wrap(cors(&api)) // outermost: answers preflights, marks refusals too
//! })
//! .bind("127.0.0.1:8080")?.run().await
//! # }
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_cors::Cors;
use actix_web::body::{self, BoxBody, EitherBody};
use actix_web::dev::forward_ready;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{StatusCode, Uri, header};
use actix_web::middleware::Condition;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, Responder, ResponseError};

pub use crate::http::{AuthUser, Authentication, Require};
pub use crate::rbac::{RequiredPermission, seed};

use crate::error::{ConfigError, Error};
use crate::http::{BodyError, Check, CorsPolicy, Headers, HttpApi, ROUTES, Reply, RequestHead};
use crate::http::{Route, authenticated, check, from_middleware, permitted};
use crate::principal::Principal;

/// What the missing-middleware log tells the host to do.
const FIX: &str = "wrap the app (or the scope) with `assimetria_auth::actix::Authenticate::new(api)`: \
                   `App::new().wrap(Authenticate::new(api))`";

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
        query: Some(req.query_string()).filter(|q| !q.is_empty()),
    }
}

async fn read(payload: Payload, limit: usize) -> Result<Bytes, BodyError> {
    match body::to_bytes_limited(body::BodyStream::new(payload), limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_) => Err(BodyError::TooLarge),
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Middleware that authenticates every request once, before the services it wraps, and leaves
/// the outcome in the request's extensions: an [`Authentication`] (refusal included, for the
/// extractors and guards behind it to answer with) and, on success, the
/// [`Principal`]. It refuses nothing itself. A request that already carries
/// this API's `Authentication` (an outer `Authenticate` of the same API) keeps it; another API's
/// is replaced.
#[derive(Debug, Clone)]
pub struct Authenticate {
    api: HttpApi,
}

impl Authenticate {
    /// The middleware for `api`, for `App::wrap` or `Scope::wrap`.
    pub fn new(api: HttpApi) -> Self {
        Self { api }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authenticate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = AuthenticateMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let (service, api) = (Rc::new(service), self.api.clone());
        ready(Ok(AuthenticateMiddleware { service, api }))
    }
}

/// The service [`Authenticate`] wraps around an app's or a scope's services.
#[derive(Debug)]
pub struct AuthenticateMiddleware<S> {
    service: Rc<S>,
    api: HttpApi,
}

impl<S, B> Service<ServiceRequest> for AuthenticateMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<ServiceResponse<B>, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, api) = (Rc::clone(&self.service), self.api.clone());
        Box::pin(async move {
            // Cloned out: the extensions' borrow must not span the await.
            let existing = req.extensions().get::<Authentication>().cloned();
            let meta = head(req.request()).meta();
            if let Some(found) = api.authenticate_once(existing.as_ref(), &meta).await {
                let mut extensions = req.extensions_mut();
                match found.principal() {
                    Ok(principal) => extensions.insert(principal.clone()),
                    Err(_) => extensions.remove::<Principal>(),
                };
                extensions.insert(found);
            }
            service.call(req).await
        })
    }
}

/// Middleware that refuses, for every service of the scope (or app) it wraps, the requests
/// [`Authenticate`] did not authenticate (401, 403 CSRF) or whose principal lacks `P` (403):
/// [`Require<P>`] for a whole scope. Needs `Authenticate` in front (else 500).
pub fn require<P: RequiredPermission>() -> RequireAccess {
    RequireAccess {
        check: permitted::<P>,
    }
}

/// Middleware that refuses, for every service of the scope (or app) it wraps, the requests
/// [`Authenticate`] did not authenticate (401, 403 CSRF): [`AuthUser`] for a whole scope.
pub fn require_auth() -> RequireAccess {
    RequireAccess {
        check: authenticated,
    }
}

/// The guard of [`require`] and [`require_auth`].
#[derive(Debug, Clone, Copy)]
pub struct RequireAccess {
    check: Check,
}

impl<S, B> Transform<S, ServiceRequest> for RequireAccess
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAccessMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let check = self.check;
        ready(Ok(RequireAccessMiddleware { service, check }))
    }
}

/// The service [`RequireAccess`] wraps around a scope's services.
#[derive(Debug)]
pub struct RequireAccessMiddleware<S> {
    service: S,
    check: Check,
}

impl<S, B> Service<ServiceRequest> for RequireAccessMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let refusal = check(req.extensions().get(), self.check, FIX).err();
        match refusal {
            None => {
                let response = self.service.call(req);
                Box::pin(async move { Ok(response.await?.map_into_left_body()) })
            }
            Some(reply) => {
                let response = req.into_response(to_response(reply));
                Box::pin(ready(Ok(response.map_into_right_body())))
            }
        }
    }
}

/// actix-cors' `Cors` for the configured allowed origins ([`CorsPolicy`]), switched off (no CORS
/// handling at all) when none are configured: `.wrap(cors(&api))` either way. Wrap it last, so it
/// is outermost and answers preflights before anything else.
pub fn cors(api: &HttpApi) -> Condition<Cors> {
    let Some(policy) = api.cors() else {
        return Condition::new(false, Cors::default());
    };
    let origins = policy.origins().iter();
    // An entry actix-cors cannot parse would stop the app from starting; no browser sends one.
    let mut cors = Cors::default();
    for origin in origins.filter(|o| o.parse::<Uri>().is_ok()) {
        cors = cors.allowed_origin(origin);
    }
    let cors = cors
        .supports_credentials()
        .allowed_methods(CorsPolicy::METHODS)
        .allowed_headers(CorsPolicy::REQUEST_HEADERS)
        .expose_headers(CorsPolicy::EXPOSED_HEADERS)
        .max_age(usize::try_from(CorsPolicy::MAX_AGE.as_secs()).ok());
    Condition::new(true, cors)
}

/// A request body read up to the configured limit (413 beyond it), with its `Content-Type` and
/// the client address. Like the other extractors it needs [`Authenticate`], whose API holds the
/// limit.
pub type LimitedBody = crate::http::LimitedBody<Bytes>;

impl FromRequest for LimitedBody {
    type Error = Reply;
    type Future = LocalBoxFuture<Result<Self, Reply>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let found = req.extensions().get::<Authentication>().cloned();
            let found = from_middleware(found.as_ref(), FIX)?;
            let read_body = |limit| read(payload, limit);
            Ok(found.api().limited_body(&head(&req), read_body).await?)
        })
    }
}

impl FromRequest for AuthUser {
    type Error = Reply;
    type Future = Ready<Result<Self, Reply>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::found(req.extensions().get(), FIX))
    }
}

impl<P: RequiredPermission> FromRequest for Require<P> {
    type Error = Reply;
    type Future = Ready<Result<Self, Reply>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::found(req.extensions().get(), FIX))
    }
}

async fn serve(route: &Route, req: HttpRequest, payload: web::Payload) -> Result<Reply, Reply> {
    let (api, head) = (api(&req)?, head(&req));
    let read_body = |limit| read(payload.into_inner(), limit);
    // Cloned out of the extensions: their borrow must not span the endpoint's awaits.
    let found = req.extensions().get::<Authentication>().cloned();
    Ok(match found {
        Some(found) => {
            api.serve_authenticated(route, &head, &found, read_body)
                .await
        }
        None => api.serve(route, &head, read_body).await,
    })
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
/// error shape. Needs `web::Data<HttpApi>` as app data; works with or without [`Authenticate`],
/// and reuses its authentication when it runs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for route in ROUTES {
        let handler = move |req, payload| serve(route, req, payload);
        cfg.service(web::resource(route.path).to(handler));
    }
    cfg.default_service(web::to(not_found));
}
