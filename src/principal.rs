//! [`Principal`]: who is making a request, as every adapter and permission check sees it.

use crate::api_key::Environment;
use crate::rbac::Role;

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The user's id as a string, or `apikey:<id>` for an API key.
    pub subject: String,
    /// The user behind the request: the user themselves, or the key's creator.
    pub user_id: i64,
    /// The organization.
    pub org: Option<String>,
    /// The role that permission checks use.
    pub role: Role,
    /// A user session or an API key.
    pub kind: PrincipalKind,
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user, through an access token of login session `session`.
    User {
        /// The session id (`sid`).
        session: String,
    },
    /// An organization API key.
    ApiKey {
        /// The key's id.
        id: i64,
        /// Live or test: hosts keep test data apart.
        environment: Environment,
    },
}

impl Principal {
    /// The environment whose data this principal acts on: `Test` for test keys, `Live` otherwise.
    pub fn environment(&self) -> Environment {
        match self.kind {
            PrincipalKind::ApiKey { environment, .. } => environment,
            PrincipalKind::User { .. } => Environment::Live,
        }
    }

    /// The login session behind this principal, if it is a user's.
    pub fn session(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::User { session } => Some(session),
            PrincipalKind::ApiKey { .. } => None,
        }
    }
}
