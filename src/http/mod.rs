//! The seed's HTTP API, framework-agnostic.
//!
//! Both adapters ([`crate::axum`] and [`crate::actix`]) mount the one endpoint table, [`ROUTES`],
//! and hand every request it matches to [`HttpApi::serve`]: the adapter translates its
//! framework's request into a [`RequestHead`] and a way to read the body, and the [`Reply`] back
//! into a response; nothing else. A host on another framework can mount the table the same way. Everything the wire contract decides lives here, once, so the
//! adapters cannot drift:
//!
//! * bodies: `{"success": true, "token", "refresh_token", "user": {"id", "email", "role"}}`, and
//!   errors as `{"success": false, "error": "<code>", "message": "<text>"}`;
//! * the cookie: `assimetria_jwt=<token>; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=86400`;
//! * credentials: `Authorization: Bearer <jwt | osk_ key>`, else the cookie;
//! * the CSRF rule: a cookie-authenticated `POST`/`PUT`/`PATCH`/`DELETE` needs an `Origin` (or
//!   `Sec-Fetch-Site: same-origin`) showing the request's own origin or an allowed one; bearer
//!   requests are exempt, since a browser never attaches them on its own;
//! * `401` with `WWW-Authenticate: Bearer` (RFC 6750; `error="invalid_token"` when a token was
//!   presented), `429` with `Retry-After`, `413` past the body limit (default 64 KiB), decided
//!   after authentication on the endpoints that need it; `405` with `Allow` for a known path's
//!   other methods (`HEAD` is `GET`), `404` for unknown paths;
//! * the client address the limits count: the TCP peer, or behind a configured trusted proxy
//!   the address it forwarded ([`client_address`]);
//! * CORS for the configured allowed origins ([`CorsPolicy`]), applied by each adapter through
//!   its framework's own CORS middleware.
//!
//! Authentication happens once per request: the adapters' middleware keeps its outcome, an
//! [`Authentication`], in the request's extensions; the extractors ([`AuthUser`], [`Require`]),
//! the permission guards and the endpoints ([`HttpApi::serve_authenticated`]) reuse it.
//!
//! Failures the core decides are [`crate::Error`]s; the transport's own refusals (wrong method,
//! body too large, a body that is not the expected JSON) are [`HttpError`]s. Both reach the
//! client in the same shape.

mod authentication;
mod bodies;
mod cors;
mod endpoints;
mod error;
mod extract;
mod forwarded;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod reply;
mod request;
mod routes;

pub use authentication::Authentication;
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) use authentication::from_middleware;
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) use authentication::{Check, authenticated, check, permitted};
pub use cors::CorsPolicy;
pub use endpoints::REFRESH_COOKIE;
pub use error::HttpError;
pub use extract::{AuthUser, Require};
pub use forwarded::client_address;
pub use reply::Reply;
pub use request::{BodyError, Headers, LimitedBody, RequestHead, RequestMeta};
pub use routes::{Endpoint, Method, ROUTES, Route};

use std::sync::Arc;

use crate::credential::Credential;
use crate::error::Error;
use crate::principal::Principal;
use crate::rbac::Permission;
use crate::service::AuthService;
use request::{check_csrf, extract_credential};

/// The seed's HTTP API over an [`AuthService`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpApi {
    service: AuthService,
    cors: Option<Arc<CorsPolicy>>,
}

impl HttpApi {
    /// Wraps a service; its configured allowed origins become the [`CorsPolicy`] here, once.
    pub fn new(service: AuthService) -> Self {
        let cors = CorsPolicy::from_config(service.config()).map(Arc::new);
        Self { service, cors }
    }

    /// The CORS policy for the configured allowed origins; `None` when none are configured
    /// (then the adapters add no CORS handling at all).
    pub fn cors(&self) -> Option<&CorsPolicy> {
        self.cors.as_deref()
    }

    /// The service.
    pub fn service(&self) -> &AuthService {
        &self.service
    }

    /// The configured body limit.
    pub fn body_limit(&self) -> usize {
        self.service.config().body_limit
    }

    /// Authenticates a request: finds the credential, applies the CSRF rule, verifies it.
    /// The `Err` is the reply to send (401 or 403).
    pub async fn authenticate(&self, meta: &RequestMeta<'_>) -> Result<Arc<Principal>, Reply> {
        let config = self.service.config();
        let Some((credential, source)) = extract_credential(meta, &config.cookie.name) else {
            return Err(Reply::error(&Error::MissingCredentials, false));
        };
        check_csrf(meta, source, &config.allowed_origins).map_err(|e| Reply::error(&e, true))?;
        // An empty value is no credential (a plain `Bearer` challenge); anything else that fails
        // was a token presented (`error="invalid_token"`).
        let credential = Credential::parse(credential, self.service.api_key_format())
            .map_err(|e| Reply::error(&e, !matches!(e, Error::MissingCredentials)))?;
        self.service
            .authenticate_credential(credential)
            .await
            .map_err(|e| Reply::error(&e, true))
    }

    /// Like [`authenticate`](Self::authenticate), then requires `permission` (403 if missing).
    pub async fn authorize(
        &self,
        meta: &RequestMeta<'_>,
        permission: impl Into<Permission>,
    ) -> Result<Arc<Principal>, Reply> {
        let p = self.authenticate(meta).await?;
        self.service
            .require(&p, permission)
            .map_err(|e| Reply::error(&e, true))?;
        Ok(p)
    }

    /// The reply for an unknown route.
    pub fn not_found(&self) -> Reply {
        Reply::error(&Error::NotFound, false)
    }

    /// The reply for a known route with the wrong method.
    pub fn method_not_allowed(&self) -> Reply {
        Reply::from(HttpError::MethodNotAllowed)
    }

    /// The reply for a body over the limit.
    pub fn payload_too_large(&self) -> Reply {
        Reply::from(HttpError::PayloadTooLarge)
    }
}

/// An API on a fresh in-memory store, without rate limits or the background poller: what the
/// `http` unit tests run against.
#[cfg(test)]
pub(crate) async fn test_api() -> HttpApi {
    let config = crate::AuthConfig::builder()
        .rate_limiting(false)
        .build()
        .unwrap();
    let store = Arc::new(crate::store::memory::MemoryStore::new());
    let service = crate::AuthService::builder(config, store)
        .background_revocation_sync(false)
        .build()
        .await
        .unwrap();
    HttpApi::new(service)
}
