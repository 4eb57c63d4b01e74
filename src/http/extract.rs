//! What the adapters' extractors yield: the authenticated principal, with or without a required
//! permission. Defined once; each adapter implements its framework's extractor trait for them.

use std::marker::PhantomData;

use super::{HttpApi, Reply, RequestMeta};
use crate::principal::Principal;
use crate::rbac::RequiredPermission;

/// The authenticated principal. Rejects with 401 (or 403 for a cross-origin cookie write).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// The authenticated principal, holding permission `P`. Rejects with 401, or 403 when the role
/// lacks `P` (the message names the permission).
#[derive(Debug, Clone)]
pub struct Require<P>(pub Principal, pub PhantomData<P>);

impl AuthUser {
    /// The extractor's work, for an adapter: authenticate the request.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) async fn extract(api: &HttpApi, meta: &RequestMeta<'_>) -> Result<Self, Reply> {
        api.authenticate(meta).await.map(AuthUser)
    }
}

impl<P: RequiredPermission> Require<P> {
    /// The extractor's work, for an adapter: authenticate the request, then require `P`.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) async fn extract(api: &HttpApi, meta: &RequestMeta<'_>) -> Result<Self, Reply> {
        let principal = api.authorize(meta, P::PERMISSION).await?;
        Ok(Require(principal, PhantomData))
    }
}
