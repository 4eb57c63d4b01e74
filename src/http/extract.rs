//! What the adapters' extractors yield: the authenticated principal, with or without a required
//! permission. Defined once; each adapter implements its framework's extractor trait for them,
//! reading the [`Authentication`] its middleware left in the request's extensions.

use std::marker::PhantomData;

use super::authentication::{authenticated, check, permitted};
use super::{Authentication, Reply};
use crate::principal::Principal;
use crate::rbac::RequiredPermission;

/// The authenticated principal. Rejects with the authentication's refusal: 401, or 403 for a
/// cross-origin cookie write. Needs the adapter's authentication middleware in front of the
/// route (without it: 500, and an error log naming the fix).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// The authenticated principal, holding permission `P`. Rejects like [`AuthUser`], or with 403
/// when the role lacks `P` (the message names the permission).
#[derive(Debug, Clone)]
pub struct Require<P>(pub Principal, pub PhantomData<P>);

impl AuthUser {
    /// The extractor's work, for an adapter: the principal the middleware found. `fix` tells the
    /// host how to install the middleware, should it be missing.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) fn found(found: Option<&Authentication>, fix: &str) -> Result<Self, Reply> {
        check(found, authenticated, fix).map(|p| AuthUser(p.clone()))
    }
}

impl<P: RequiredPermission> Require<P> {
    /// The extractor's work, for an adapter: the principal the middleware found, holding `P`.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) fn found(found: Option<&Authentication>, fix: &str) -> Result<Self, Reply> {
        let principal = check(found, permitted::<P>, fix)?;
        Ok(Require(principal.clone(), PhantomData))
    }
}
