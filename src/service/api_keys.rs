//! API keys: creation, listing, revocation (the API-key path of authentication is in
//! `authenticate.rs`).

use serde::Serialize;

use crate::api_key::Environment;
use crate::audit::AuditEvent;
use crate::error::{Error, ValidationError};
use crate::principal::{Principal, PrincipalKind};
use crate::rbac::Role;
use crate::rbac::builtin::ApiKeysManage;
use crate::secret::ApiKeySecret;
use crate::store::{ApiKeyRecord, NewApiKey};

use super::AuthService;

/// Longest API-key name.
const MAX_KEY_NAME_LEN: usize = 100;

/// An API key's public description (no secret): the wire's `api_key` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Display prefix (`osk_live_AbCd`).
    pub prefix: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// The key's role.
    pub role: Role,
    /// RFC 3339 creation time.
    pub created_at: Option<String>,
    /// RFC 3339 time of last use, if any.
    pub last_used_at: Option<String>,
    /// RFC 3339 revocation time, if revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyInfo {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            environment: k.environment,
            role: k.role.clone(),
            created_at: crate::clock::rfc3339(k.created_at),
            last_used_at: k.last_used_at.and_then(crate::clock::rfc3339),
            revoked_at: k.revoked_at.and_then(crate::clock::rfc3339),
        }
    }
}

/// A newly created API key: the plaintext, shown once, and its description.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedApiKey {
    /// The plaintext key. It is not stored anywhere; lose it and mint another.
    pub key: ApiKeySecret,
    /// The key's description.
    pub info: ApiKeyInfo,
}

impl AuthService {
    /// Creates an API key (needs [`ApiKeysManage`], a user session, and a role the policy
    /// defines, no higher than the creator's; default: the policy's lowest role). The plaintext is in the result only.
    #[tracing::instrument(skip_all, fields(user_id = creator.user_id, environment = environment.as_str(), key_id = tracing::field::Empty), err(level = "info"))]
    pub async fn create_api_key(
        &self,
        creator: &Principal,
        name: &str,
        environment: Environment,
        role: Option<Role>,
    ) -> Result<CreatedApiKey, Error> {
        self.require(creator, ApiKeysManage)?;
        if !matches!(creator.kind, PrincipalKind::User { .. }) {
            return Err(ValidationError::KeyCreatedByKey.into());
        }
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_KEY_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(ValidationError::InvalidKeyName.into());
        }
        let policy = &self.inner.policy;
        let role = match role {
            Some(role) => policy.known(role)?,
            None => policy.lowest().ok_or(ValidationError::UnknownRole)?,
        };
        if !policy.is_at_most(&role, &creator.role) {
            return Err(ValidationError::KeyRoleAboveCreator.into());
        }
        let minted = self.inner.api_keys.mint(environment)?;
        let record = self
            .inner
            .store
            .create_api_key(NewApiKey {
                name: name.to_owned(),
                hash: minted.hash,
                prefix: minted.display_prefix,
                environment,
                role: role.clone(),
                org: creator.org.clone(),
                created_by: creator.user_id,
                created_at: self.now(),
            })
            .await?;
        tracing::Span::current().record("key_id", record.id);
        self.audit(AuditEvent::ApiKeyCreated {
            key_id: record.id,
            environment,
            role,
            by: creator.user_id,
        });
        Ok(CreatedApiKey {
            key: minted.key,
            info: ApiKeyInfo::from(&record),
        })
    }

    /// The organization's keys, without secrets (needs [`ApiKeysManage`]).
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn list_api_keys(&self, principal: &Principal) -> Result<Vec<ApiKeyInfo>, Error> {
        self.require(principal, ApiKeysManage)?;
        let keys = self
            .inner
            .store
            .list_api_keys(principal.org.as_deref())
            .await?;
        Ok(keys.iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes a key (needs [`ApiKeysManage`]): refused at once on this instance, and on every
    /// other instance sharing the store within one revocation poll interval. A key of another
    /// organization, or an unknown id, is [`Error::NotFound`].
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id, key_id = id), err(level = "info"))]
    pub async fn revoke_api_key(&self, principal: &Principal, id: i64) -> Result<(), Error> {
        self.require(principal, ApiKeysManage)?;
        let key = self
            .inner
            .store
            .api_key_by_id(id)
            .await?
            .ok_or(Error::NotFound)?;
        if key.org != principal.org || key.revoked_at.is_some() {
            return Err(Error::NotFound);
        }
        // Refused at once here, and within one poll interval on every other instance (the log
        // entry commits with the revocation).
        if !self
            .inner
            .revocations
            .revoke_api_key(id, self.now())
            .await?
        {
            // Revoked by a concurrent request meanwhile.
            return Err(Error::NotFound);
        }
        self.audit(AuditEvent::ApiKeyRevoked {
            key_id: id,
            by: principal.user_id,
        });
        Ok(())
    }
}
