//! Users and roles: seeding a user, `me`, the organization's users, role changes.

use serde::Serialize;

use crate::audit::AuditEvent;
use crate::email::Email;
use crate::error::{Error, TokenError, ValidationError};
use crate::principal::Principal;
use crate::rbac::Role;
use crate::rbac::builtin::UsersManage;
use crate::secret::Password;
use crate::store::{User, UserChange};

use super::AuthService;

/// A user as the wire shows it: `{"id", "email", "role", "email_verified"}` (the seed's three
/// fields, and whether the address is verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// Id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Whether the user proved they receive mail at `email`.
    pub email_verified: bool,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role.clone(),
            email_verified: u.email_verified,
        }
    }
}

impl AuthService {
    /// Creates a user with a given role without signing in: for hosts seeding an admin. The role
    /// must be one the policy defines ([`ValidationError::UnknownRole`] otherwise).
    ///
    /// [`ValidationError::UnknownRole`]: crate::error::ValidationError::UnknownRole
    #[tracing::instrument(skip_all, fields(role = role.as_str(), user_id = tracing::field::Empty), err(level = "info"))]
    pub async fn create_user(
        &self,
        email: &str,
        password: &Password,
        role: Role,
    ) -> Result<User, Error> {
        let role = self.inner.policy.known(role)?;
        let user = self
            .insert_user(Email::parse(email)?, password, role)
            .await?;
        tracing::Span::current().record("user_id", user.id);
        Ok(user)
    }

    /// The user behind a principal (for an API key: its creator).
    pub async fn me(&self, principal: &Principal) -> Result<UserInfo, Error> {
        let user = self
            .inner
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or(Error::InvalidToken(TokenError::Revoked))?;
        let mut info = UserInfo::from(&user);
        // An API key acts with its own role, which may be lower than its creator's.
        info.role = principal.role.clone();
        Ok(info)
    }

    /// The users of the principal's organization (needs [`UsersManage`]).
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn list_users(&self, principal: &Principal) -> Result<Vec<UserInfo>, Error> {
        self.require(principal, UsersManage)?;
        let users = self
            .inner
            .store
            .list_users(principal.org.as_deref())
            .await?;
        Ok(users.iter().map(UserInfo::from).collect())
    }

    /// Changes a user's role (needs [`UsersManage`]) and revokes their sessions, so no
    /// token carrying the old role survives. The new role must be one the policy defines
    /// ([`ValidationError::UnknownRole`]) and grant no more than the changer's own
    /// ([`ValidationError::RoleAboveOwn`]); a user whose role grants more than the changer's is
    /// out of reach ([`Error::Forbidden`]). See [`Policy::is_at_most`](crate::Policy::is_at_most).
    #[tracing::instrument(skip_all, fields(user_id = admin.user_id, target_user_id = user_id, role = role.as_str()), err(level = "info"))]
    pub async fn set_role(
        &self,
        admin: &Principal,
        user_id: i64,
        role: Role,
    ) -> Result<UserInfo, Error> {
        self.require(admin, UsersManage)?;
        let role = self.inner.policy.known(role)?;
        let user = self.org_member(admin, user_id).await?;
        // No one hands out more than they hold, or changes someone who holds more: with a host's
        // policy, users:manage alone must not be a way up.
        let policy = &self.inner.policy;
        if !policy.is_at_most(&role, &admin.role) {
            return Err(ValidationError::RoleAboveOwn.into());
        }
        if !policy.is_at_most(&user.role, &admin.role) {
            return Err(Error::Forbidden(UsersManage.into()));
        }
        // The role and the end of the user's sessions commit together: a crash between them
        // cannot leave tokens of the old role alive.
        if !self
            .inner
            .revocations
            .change_user(user_id, UserChange::Role(role.clone()), self.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        self.audit(AuditEvent::RoleChanged {
            user_id,
            role: role.clone(),
            by: admin.user_id,
        });
        let mut info = UserInfo::from(&user);
        info.role = role;
        Ok(info)
    }

    /// Removes a user (needs [`UsersManage`]): the user, their sessions, reset tokens and the API
    /// keys they created are deleted in one store transaction. Their access tokens are refused
    /// and their keys stop working at once here, and on every other instance within one poll
    /// interval. A user of another organization, or an unknown id, is [`Error::NotFound`]; a user
    /// whose role grants more than the remover's is out of reach ([`Error::Forbidden`]); nobody
    /// removes themselves this way ([`ValidationError::RemoveSelf`]).
    #[tracing::instrument(skip_all, fields(user_id = admin.user_id, target_user_id = user_id), err(level = "info"))]
    pub async fn remove_user(&self, admin: &Principal, user_id: i64) -> Result<(), Error> {
        self.require(admin, UsersManage)?;
        if user_id == admin.user_id {
            return Err(ValidationError::RemoveSelf.into());
        }
        let user = self.org_member(admin, user_id).await?;
        if !self.inner.policy.is_at_most(&user.role, &admin.role) {
            return Err(Error::Forbidden(UsersManage.into()));
        }
        if !self
            .inner
            .revocations
            .remove_user(user_id, self.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        self.audit(AuditEvent::UserRemoved {
            user_id,
            by: admin.user_id,
        });
        Ok(())
    }

    /// The user `user_id` of the admin's organization; any other (or none) is
    /// [`Error::NotFound`], so ids of other organizations reveal nothing.
    async fn org_member(&self, admin: &Principal, user_id: i64) -> Result<User, Error> {
        let user = self
            .inner
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound)?;
        if user.org != admin.org {
            return Err(Error::NotFound);
        }
        Ok(user)
    }
}
