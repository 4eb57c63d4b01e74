//! [`Authentication`]: what the adapters' middleware found for one request, kept in the request's
//! extensions so that extractors, permission guards and the seed's endpoints reuse it instead of
//! authenticating again.

use std::sync::Arc;

use super::{HttpApi, Reply, RequestMeta};
use crate::principal::Principal;
use crate::rbac::{Permission, RequiredPermission};

/// The outcome of authenticating one request: the [`Principal`], or the refusal (401, or 403 for
/// a cross-origin cookie write) to answer with wherever a credential is required. Cheap to clone.
///
/// The adapters' middleware (`axum::AuthLayer`, `actix::Authenticate`) makes one per request with
/// [`HttpApi::authentication`] and puts it in the request's extensions, beside the `Principal`
/// itself on success. A refusal here refuses nothing yet: routes that need no credential (login,
/// register, a host's public pages) go on as if no middleware were there.
#[derive(Debug, Clone)]
pub struct Authentication(Arc<Found>);

#[derive(Debug)]
struct Found {
    api: HttpApi,
    outcome: Result<Arc<Principal>, Reply>,
}

impl Authentication {
    /// The principal, or the refusal the authentication produced.
    pub fn principal(&self) -> Result<&Principal, &Reply> {
        self.0.outcome.as_deref()
    }

    /// The principal, shared (no copy), or the refusal.
    pub(crate) fn shared_principal(&self) -> Result<&Arc<Principal>, &Reply> {
        self.0.outcome.as_ref()
    }

    /// The principal if it holds `permission`; else the refusal: the authentication's own (401,
    /// 403 CSRF), or a 403 naming the permission.
    pub fn require(&self, permission: impl Into<Permission>) -> Result<&Principal, Reply> {
        let permission = permission.into();
        let principal = self.principal().map_err(Reply::clone)?;
        let api = &self.0.api;
        api.service()
            .require(principal, permission)
            .map_err(|e| Reply::error(&e, true))?;
        Ok(principal)
    }

    /// The API that authenticated the request.
    pub fn api(&self) -> &HttpApi {
        &self.0.api
    }
}

impl HttpApi {
    /// Whether this API's service made `found`, so that it may stand for this API's own
    /// authentication (another service has other keys, revocations and policy).
    pub(crate) fn made(&self, found: &Authentication) -> bool {
        self.service().same_as(found.0.api.service())
    }

    /// The middleware's work: `None` when `existing` is this API's own outcome for the request
    /// (an outer layer of the same API ran), else this API's authentication, to put in the
    /// request's extensions in place of any other.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) async fn authenticate_once(
        &self,
        existing: Option<&Authentication>,
        meta: &RequestMeta<'_>,
    ) -> Option<Authentication> {
        match existing {
            Some(found) if self.made(found) => None,
            _ => Some(self.authentication(meta).await),
        }
    }

    /// Authenticates a request ([`authenticate`](Self::authenticate)) and keeps the outcome,
    /// refusal included, for whatever later needs it: what the adapters' middleware does once
    /// per request.
    pub async fn authentication(&self, meta: &RequestMeta<'_>) -> Authentication {
        let outcome = self.authenticate(meta).await;
        Authentication(Arc::new(Found {
            api: self.clone(),
            outcome,
        }))
    }
}

/// What a guard checks of the middleware's [`Authentication`]: a principal, or a principal with a
/// permission. A plain function, so guards need no type parameter (and no `Permission` value)
/// of their own.
pub(crate) type Check = for<'a> fn(&'a Authentication) -> Result<&'a Principal, Reply>;

/// The [`Check`] that only needs a principal.
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) fn authenticated(found: &Authentication) -> Result<&Principal, Reply> {
    found.principal().map_err(Reply::clone)
}

/// The [`Check`] that needs a principal holding `P`.
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) fn permitted<P: RequiredPermission>(
    found: &Authentication,
) -> Result<&Principal, Reply> {
    found.require(P::PERMISSION)
}

/// What the middleware found; without it (the host did not install the middleware in front of
/// this route) a 500 in the seed's shape, and an error log naming `fix`, since no request can
/// succeed until the host's code changes.
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) fn from_middleware<'a>(
    found: Option<&'a Authentication>,
    fix: &str,
) -> Result<&'a Authentication, Reply> {
    found.ok_or_else(|| {
        tracing::error!(
            "assimetria-auth: no authentication middleware ran before this route: {fix}"
        );
        Reply::internal_error()
    })
}

/// Runs `check` on what the middleware found (see [`from_middleware`]).
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) fn check<'a>(
    found: Option<&'a Authentication>,
    check: Check,
    fix: &str,
) -> Result<&'a Principal, Reply> {
    check(from_middleware(found, fix)?)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::Password;
    use crate::rbac::seed;

    use crate::http::test_api as api;

    /// `Bearer <access token>` of a new user with `role` on `api`.
    async fn bearer(api: &HttpApi, role: crate::rbac::Role) -> String {
        let password = Password::new("correct horse battery");
        let service = api.service();
        let email = "someone@example.com";
        service.create_user(email, &password, role).await.unwrap();
        let login = service.login(email, &password, None).await.unwrap();
        format!("Bearer {}", login.access_token.expose())
    }

    fn get_with(authorization: &str) -> RequestMeta<'_> {
        RequestMeta {
            method: "GET",
            authorization: Some(authorization),
            ..RequestMeta::default()
        }
    }

    #[tokio::test]
    async fn checks_reuse_the_outcome() {
        let api = api().await;
        let bearer = bearer(&api, seed::VIEWER).await;
        let meta = get_with(&bearer);
        let found = api.authentication(&meta).await;
        let viewer = authenticated(&found).unwrap();
        assert_eq!(viewer.role, seed::VIEWER);
        assert!(permitted::<seed::TasksRead>(&found).is_ok());
        let refused = permitted::<seed::TasksWrite>(&found).unwrap_err();
        assert_eq!(refused.status, 403);

        let nobody = api.authentication(&RequestMeta::default()).await;
        let refused = check(Some(&nobody), permitted::<seed::TasksRead>, "");
        assert_eq!(refused.unwrap_err().status, 401);
        let missing = check(None, authenticated, "add the middleware").unwrap_err();
        assert_eq!(missing.status, 500);
        assert_eq!(
            missing.body,
            br#"{"success":false,"error":"internal_error","message":"internal server error"}"#
        );
    }

    /// One API's outcome never stands for another's: a service with other keys, revocations or
    /// policy must authenticate the request itself.
    #[tokio::test]
    async fn only_the_same_api_reuses_an_outcome() {
        let (api, other) = (api().await, api().await);
        let bearer = bearer(&other, seed::ADMIN).await;
        let meta = get_with(&bearer);
        let foreign = other.authentication(&meta).await;
        assert!(foreign.principal().is_ok(), "the other API knows the token");
        assert!(
            other
                .authenticate_once(Some(&foreign), &meta)
                .await
                .is_none()
        );
        assert!(other.clone().made(&foreign), "a clone is the same API");

        let own = api.authenticate_once(Some(&foreign), &meta).await.unwrap();
        assert_eq!(
            own.principal().unwrap_err().status,
            401,
            "another key's token"
        );
        assert!(!api.made(&foreign));
        assert!(api.made(&own));
    }
}
