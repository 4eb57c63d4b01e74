//! Importing users: from another system (plaintext or that system's password hash), one at a
//! time from the host, or through `POST /api/users` by an admin.
//!
//! A hash is checked when it arrives (scheme, shape and costs, see
//! [`PasswordInput`]) and verified at login on the same bounded workers as argon2id; the first
//! successful login replaces it with an argon2id hash of the current parameters, written by
//! compare-and-set over the hash just verified.

use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::email::Email;
use crate::error::{Error, StoreError, ValidationError};
use crate::password::PasswordInput;
use crate::principal::Principal;
use crate::rbac::Role;
use crate::rbac::builtin::UsersManage;
use crate::secret::Password;
use crate::store::{NewUser, User};

use super::{AuthService, UserInfo};

/// What an import sets besides the email, password and role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Mark the address verified: the importing system had verified it.
    pub email_verified: bool,
    /// The user's organization.
    pub org: Option<String>,
}

impl ImportOptions {
    /// Sets whether the address counts as verified.
    #[must_use]
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }

    /// Sets the user's organization.
    #[must_use]
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }
}

/// One user to import, in the wire's shape: the body of `POST /api/users` and one line of the
/// bulk importer's JSON Lines file.
///
/// ```json
/// {"email": "ada@example.com", "password_hash": "$2b$12$…", "role": "member", "email_verified": true}
/// ```
///
/// Exactly one of `password` and `password_hash`; `role` defaults to the configured default
/// role; `email_verified` to `false`.
#[derive(Deserialize)]
#[non_exhaustive]
pub struct ImportRecord {
    /// The email address.
    pub email: String,
    /// A plaintext password (hashed here; the registration policy applies).
    #[serde(default)]
    pub password: Option<Password>,
    /// Another system's password hash (see [`PasswordInput::Hash`]).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// The role; the configured default role when absent.
    #[serde(default)]
    pub role: Option<Role>,
    /// Whether the address counts as verified.
    #[serde(default)]
    pub email_verified: bool,
}

/// Redacts the password and the hash: a hash can be cracked offline.
impl std::fmt::Debug for ImportRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |present: bool| if present { "[redacted]" } else { "none" };
        f.debug_struct("ImportRecord")
            .field("email", &self.email)
            .field("password", &redacted(self.password.is_some()))
            .field("password_hash", &redacted(self.password_hash.is_some()))
            .field("role", &self.role)
            .field("email_verified", &self.email_verified)
            .finish()
    }
}

impl ImportRecord {
    /// The password input it carries: exactly one of the two fields
    /// ([`ValidationError::PasswordOrHash`] otherwise).
    pub fn password_input(&mut self) -> Result<PasswordInput, Error> {
        match (self.password.take(), self.password_hash.take()) {
            (Some(p), None) => Ok(PasswordInput::Plain(p)),
            (None, Some(h)) => Ok(PasswordInput::Hash(h)),
            _ => Err(ValidationError::PasswordOrHash.into()),
        }
    }
}

impl AuthService {
    /// Imports a user without signing in: `password` is a plaintext (hashed with argon2id under
    /// the registration policy) or another system's hash (checked now, replaced with argon2id
    /// at the first login; an unsupported or malformed hash is
    /// [`ValidationError::InvalidPasswordHash`]). The role must be one the policy defines. A
    /// taken email is [`Error::EmailTaken`].
    pub async fn import_user(
        &self,
        email: &str,
        password: PasswordInput,
        role: Role,
    ) -> Result<User, Error> {
        self.import_user_with(email, password, role, ImportOptions::default())
            .await
    }

    /// [`import_user`](Self::import_user) with a verified address or an organization.
    #[tracing::instrument(name = "import_user", skip_all, fields(role = role.as_str(), target_user_id = tracing::field::Empty), err(level = "info"))]
    pub async fn import_user_with(
        &self,
        email: &str,
        password: PasswordInput,
        role: Role,
        options: ImportOptions,
    ) -> Result<User, Error> {
        let user = self.insert_imported(email, password, role, options).await?;
        tracing::Span::current().record("target_user_id", user.id);
        self.audit(imported(&user, None));
        Ok(user)
    }

    /// `POST /api/users`: an admin (needs [`UsersManage`]) creates a user of their own
    /// organization, with a role at most their own ([`ValidationError::RoleAboveOwn`]).
    #[tracing::instrument(skip_all, fields(user_id = admin.user_id, target_user_id = tracing::field::Empty), err(level = "info"))]
    pub async fn add_user(
        &self,
        admin: &Principal,
        mut record: ImportRecord,
    ) -> Result<UserInfo, Error> {
        self.require(admin, UsersManage)?;
        let role = match record.role.take() {
            Some(role) => self.inner.policy.known(role)?,
            None => self.inner.config.default_role.clone(),
        };
        if !self.inner.policy.is_at_most(&role, &admin.role) {
            return Err(ValidationError::RoleAboveOwn.into());
        }
        let password = record.password_input()?;
        let options = ImportOptions {
            email_verified: record.email_verified,
            org: admin.org.clone(),
        };
        let user = self
            .insert_imported(&record.email, password, role, options)
            .await?;
        tracing::Span::current().record("target_user_id", user.id);
        self.audit(imported(&user, Some(admin.user_id)));
        Ok(UserInfo::from(&user))
    }

    async fn insert_imported(
        &self,
        email: &str,
        password: PasswordInput,
        role: Role,
        options: ImportOptions,
    ) -> Result<User, Error> {
        let role = self.inner.policy.known(role)?;
        let email = Email::parse(email)?;
        let password_hash = match password {
            PasswordInput::Plain(p) => self.inner.hasher.hash(&p).await?,
            PasswordInput::Hash(h) => self.inner.hasher.check_imported_hash(&h)?,
        };
        self.inner
            .store
            .create_user(NewUser {
                email: email.into_string(),
                password_hash,
                role,
                org: options.org,
                created_at: self.now(),
                email_verified: options.email_verified,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::EmailTaken,
                e => Error::Store(e),
            })
    }
}

fn imported(user: &User, by: Option<i64>) -> AuditEvent {
    AuditEvent::UserImported {
        user_id: user.id,
        legacy_hash: !user.password_hash.starts_with("$argon2id$"),
        email_verified: user.email_verified,
        by,
    }
}
