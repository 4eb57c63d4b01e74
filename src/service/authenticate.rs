//! Authentication, the request's hot path: the JWT path (no I/O, no lock, a verified-token cache)
//! and the API-key path (a verified-key cache; one store query on a miss; last-use times written
//! in batches by a background task, never on the request path).

use std::sync::Arc;

use tracing::Instrument as _;
use tracing::field::Empty;

use crate::api_key::ParsedKey;
use crate::cache::tokens::TokenCache;
use crate::credential::Credential;
use crate::error::{Error, TokenError};
use crate::principal::{Principal, PrincipalKind};
use crate::rbac::Role;
use crate::store::{ApiKeyWithCreator, is_key_change_entry};
use crate::token::Claims;

use super::AuthService;

/// Last-use times written per store call, at most.
const TOUCH_BATCH: usize = 256;

impl AuthService {
    /// Authenticates a bearer value or cookie value ([`Credential::parse`] decides which path):
    /// an API key takes the API-key path (checksum offline, then the verified-key cache, then the
    /// store), anything else the JWT path (no I/O).
    ///
    /// The principal comes behind an `Arc`: a request whose credential was verified before is
    /// answered from a cache without allocating.
    pub async fn authenticate(&self, credential: &str) -> Result<Arc<Principal>, Error> {
        let credential = Credential::parse(credential, &self.inner.api_keys)?;
        self.authenticate_credential(credential).await
    }

    /// Authenticates a credential already classified by [`Credential::parse`].
    pub(crate) async fn authenticate_credential(
        &self,
        credential: Credential<'_>,
    ) -> Result<Arc<Principal>, Error> {
        match credential {
            Credential::Jwt(token) => self.authenticate_jwt(token),
            Credential::ApiKey(key) => self.authenticate_api_key(key).await,
        }
    }

    /// The JWT path alone: structure, then the verified-token cache, else the signature and the
    /// claims; on both ways the revocation set. No I/O, no lock.
    ///
    /// Runs in a `DEBUG` span `authenticate` (`kind = "jwt"`, `user_id`, `outcome`) when a
    /// subscriber wants it; otherwise no span is made (a cached check, no allocation).
    pub fn authenticate_jwt(&self, token: &str) -> Result<Arc<Principal>, Error> {
        // A disabled span still costs tens of nanoseconds here (with `tracing`'s `log` feature,
        // which other crates turn on, it keeps its metadata and checks the logger on enter and
        // exit): on the hot path, make one only for a subscriber that wants it.
        if !tracing::span_enabled!(tracing::Level::DEBUG) {
            let result = self.jwt_principal(token);
            crate::observe::token_authentication(&result);
            return result;
        }
        let span = tracing::debug_span!(
            "authenticate",
            kind = "jwt",
            user_id = Empty,
            outcome = Empty
        );
        let _entered = span.enter();
        let result = self.jwt_principal(token);
        crate::observe::token_authentication(&result);
        if !span.is_disabled() {
            span.record("outcome", crate::observe::outcome(&result));
            if let Ok(principal) = &result {
                span.record("user_id", principal.user_id);
            }
        }
        result
    }

    /// The JWT path's work, inside its span.
    fn jwt_principal(&self, token: &str) -> Result<Arc<Principal>, Error> {
        let inner = &*self.inner;
        let ring = inner.signing.current();
        // Garbage and unknown keys are refused here, before the clock or the cache is read.
        let located = ring.locate(token)?;
        let now = self.now();
        let horizon = now.saturating_sub(crate::clock::secs(inner.validation.leeway));
        let cached = inner
            .token_cache
            .as_ref()
            .and_then(|cache| cache.get(token, located.signature, ring.generation(), horizon));
        if let Some(principal) = cached {
            return self.unless_revoked(principal, now);
        }
        let (principal, exp) = located.verify(&inner.validation, now, |claims| {
            self.token_principal(claims)
        })??;
        let principal = self.unless_revoked(Arc::new(principal), now)?;
        if let Some(cache) = &inner.token_cache {
            let principal = Arc::clone(&principal);
            cache.insert(
                token,
                located.signature,
                ring.generation(),
                exp,
                horizon,
                principal,
            );
        }
        Ok(principal)
    }

    /// The principal a verified token names, and its expiry. Only `sub`, `sid`, `role` and `org`
    /// are copied out of the token.
    fn token_principal(&self, claims: &Claims<'_>) -> Result<(Principal, i64), TokenError> {
        let user_id = claims.sub.parse().map_err(|_| TokenError::Malformed)?;
        // The revocation log names users and keys with a `:`; a session id never has one (this
        // service's are base64url), so a token whose `sid` does is not one to trust.
        if is_key_change_entry(&claims.sid) {
            return Err(TokenError::Malformed);
        }
        // The name as signed; the policy decides what it may do (an unknown one: nothing). A
        // name the policy defines is its own `Role`, shared rather than copied.
        let role = self
            .inner
            .policy
            .role_named(&claims.role)
            .unwrap_or_else(|| Role::new(&claims.role));
        let principal = Principal {
            subject: claims.sub.clone().into_owned(),
            user_id,
            org: claims.org.as_ref().map(|o| o.clone().into_owned()),
            role,
            kind: PrincipalKind::User {
                session: claims.sid.clone().into_owned(),
            },
        };
        Ok((principal, claims.exp))
    }

    /// `principal`, unless its session is in the revocation set.
    fn unless_revoked(&self, principal: Arc<Principal>, now: i64) -> Result<Arc<Principal>, Error> {
        match principal.session() {
            Some(session) if self.inner.revocations.is_revoked(session, now) => {
                Err(Error::InvalidToken(TokenError::Revoked))
            }
            _ => Ok(principal),
        }
    }

    /// The API-key path: the key passed its offline checks. A key verified before is answered
    /// from the cache; otherwise one store query reads the key and its creator's current role (a
    /// key acts with at most that role).
    pub(super) async fn authenticate_api_key(
        &self,
        key: ParsedKey<'_>,
    ) -> Result<Arc<Principal>, Error> {
        // As on the JWT path: a span only for a subscriber that wants it.
        if !tracing::span_enabled!(tracing::Level::DEBUG) {
            let result = self.api_key_principal(key).await;
            crate::observe::api_key_authentication(&result);
            return result;
        }
        let span = tracing::debug_span!(
            "authenticate",
            kind = "api_key",
            key_id = Empty,
            user_id = Empty,
            outcome = Empty
        );
        let result = self.api_key_principal(key).instrument(span.clone()).await;
        crate::observe::api_key_authentication(&result);
        if !span.is_disabled() {
            span.record("outcome", crate::observe::outcome(&result));
            if let Ok(principal) = &result {
                span.record("user_id", principal.user_id);
                if let PrincipalKind::ApiKey { id, .. } = principal.kind {
                    span.record("key_id", id);
                }
            }
        }
        result
    }

    /// The API-key path's work, inside its span.
    async fn api_key_principal(&self, key: ParsedKey<'_>) -> Result<Arc<Principal>, Error> {
        let keys = self.inner.revocations.keys();
        let hash = key.hash();
        let now = self.now();
        if let Some(principal) = keys.get(&hash, now) {
            return Ok(principal);
        }
        // Read before the store: a change that lands meanwhile makes this entry stale.
        let generation = keys.generation();
        let found = self
            .inner
            .store
            .api_key_with_creator(&hash)
            .await?
            .ok_or(Error::InvalidApiKey)?;
        let principal = Arc::new(self.key_principal(found, key)?);
        keys.insert(hash, Arc::clone(&principal), generation, now);
        Ok(principal)
    }

    /// The principal a stored key authenticates as, or [`Error::InvalidApiKey`].
    fn key_principal(
        &self,
        found: ApiKeyWithCreator,
        key: ParsedKey<'_>,
    ) -> Result<Principal, Error> {
        let ApiKeyWithCreator {
            key: record,
            creator_role,
            ..
        } = found;
        if record.revoked_at.is_some() || record.environment != key.environment() {
            return Err(Error::InvalidApiKey);
        }
        // Demoting (or removing) the creator demotes (or disables) the keys they made.
        let creator_role = creator_role.ok_or(Error::InvalidApiKey)?;
        // The key acts with whichever of the two grants no more than the other. A role the
        // policy no longer defines holds nothing and is at most any, so it wins: fail closed.
        let policy = &self.inner.policy;
        let role = if policy.is_at_most(&record.role, &creator_role) {
            record.role
        } else if policy.is_at_most(&creator_role, &record.role) {
            creator_role
        } else {
            // The creator moved to a role whose permissions do not nest with the key's: no named
            // role holds only what both hold, so the key holds nothing until it is re-minted.
            return Err(Error::InvalidApiKey);
        };
        let role = policy.role_named(role.as_str()).unwrap_or(role);
        Ok(Principal {
            subject: format!("apikey:{}", record.id),
            user_id: record.created_by,
            org: record.org,
            role,
            kind: PrincipalKind::ApiKey {
                id: record.id,
                environment: record.environment,
            },
        })
    }

    /// How many access tokens and API keys the caches hold: a test hook. Not part of the stable
    /// API.
    #[doc(hidden)]
    pub fn cached_credentials(&self) -> (usize, usize) {
        let tokens = self.inner.token_cache.as_ref().map_or(0, TokenCache::len);
        (tokens, self.inner.revocations.keys().len())
    }

    /// Writes pending work to the store now: the API keys' last-use times, coalesced in memory
    /// since the last write (the background task does it every
    /// [`CacheConfig::last_used_flush`](crate::CacheConfig::last_used_flush)). Call it at
    /// shutdown, after the server has stopped taking requests, so that no use is lost.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn flush(&self) -> Result<(), Error> {
        let keys = self.inner.revocations.keys();
        let uses = keys.take_uses();
        // Bounded batches: a store's write lock is never held for thousands of rows at once.
        for (i, batch) in uses.chunks(TOUCH_BATCH).enumerate() {
            if let Err(e) = self.inner.store.touch_api_keys(batch).await {
                keys.restore(&uses[i * TOUCH_BATCH..]);
                return Err(e.into());
            }
        }
        Ok(())
    }
}
