//! Roles, permissions and the policy that joins them: the host's own, declared once.
//!
//! A host names what can be done ([`Permission`]s, such as `invoices:write`) and who may do it
//! ([`Role`]s, each with a rank and a set of permissions) in one [`policy!`](crate::policy)
//! declaration. It yields a marker type per permission, for `Require<P>` in a handler's
//! signature (so a misspelt permission is a compile error), a [`Role`] constant per role, and
//! `policy()`, the [`Policy`] to give the service:
//!
//! ```
//! assimetria_auth::policy! {
//!     /// Who may do what with invoices.
//!     pub mod access {
//!         permissions {
//!             /// Read invoices.
//!             InvoicesRead = "invoices:read",
//!             /// Create and change invoices.
//!             InvoicesWrite = "invoices:write",
//!         }
//!         roles {
//!             /// Runs the account: invoices, users and API keys.
//!             OWNER = "owner", rank 2: [InvoicesRead, InvoicesWrite, UsersManage, ApiKeysManage],
//!             /// Keeps the books.
//!             CLERK = "clerk", rank 1: [InvoicesRead, InvoicesWrite],
//!             /// Reads only.
//!             AUDITOR = "auditor", rank 0: [InvoicesRead],
//!         }
//!     }
//! }
//!
//! let policy = access::policy();
//! assert!(policy.allows(&access::CLERK, access::InvoicesWrite));
//! assert!(!policy.allows(&access::AUDITOR, access::InvoicesWrite));
//! assert!(policy.is_at_most(&access::CLERK, &access::OWNER));
//! ```
//!
//! Two permissions belong to the crate's own routes and are in scope in every declaration:
//! [`builtin::UsersManage`] (`/api/users`) and [`builtin::ApiKeysManage`] (`/api/api-keys`); a
//! role without them cannot reach those routes.
//!
//! The default is the seed's matrix, [`seed`]: **admin** may do everything, including user
//! management, settings and API-key management; **member** reads and writes tasks, agents and
//! products; **viewer** only reads. A denied check is the seed's `403 Forbidden`.
//!
//! Roles are stored and carried in tokens by name. A name the policy does not know (a role the
//! host has since removed) holds no permission and ranks below every known role, so removing a
//! role from the declaration takes its powers away at once.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something a principal may be allowed to do, named like `tasks:write`.
///
/// Declared by [`policy!`](crate::policy) or [`permissions!`](crate::permissions), which also
/// make the marker type that names it in `Require<P>`; every marker converts into its
/// `Permission`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(&'static str);

impl Permission {
    /// The permission called `name`.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// Its name, e.g. `tasks:write`.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({:?})", self.0)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// A permission named as a type, so a handler can require it in its signature
/// (`Require<seed::TasksWrite>`). Made by [`policy!`](crate::policy) and
/// [`permissions!`](crate::permissions).
pub trait RequiredPermission: Send + Sync + 'static {
    /// The permission.
    const PERMISSION: Permission;
}

/// A user's (or an API key's) role, by name. Cheap to clone.
///
/// What a role may do, and its rank, are the [`Policy`]'s: a `Role` is only the name, as stored
/// and as carried in tokens.
#[derive(Clone)]
pub struct Role(Name);

#[derive(Clone)]
enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Role {
    /// The role called `name`, for constants (what [`policy!`](crate::policy) declares).
    pub const fn from_static(name: &'static str) -> Self {
        Self(Name::Static(name))
    }

    /// The role called `name`, e.g. as read from a store or a request. Whether the policy knows
    /// it is [`Policy::rank`]'s question.
    pub fn new(name: &str) -> Self {
        Self(Name::Shared(Arc::from(name)))
    }

    /// The name, e.g. `admin`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl PartialEq for Role {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Role {}

impl Hash for Role {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for Role {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Role({:?})", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Role::new(&name))
    }
}

/// A role name the policy does not define, or one that is not well formed (1 to 64 characters
/// of `a`–`z`, `0`–`9`, `_`, `-`, `.` or `:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRole;

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown role")
    }
}

impl std::error::Error for UnknownRole {}

/// Longest role name.
const MAX_ROLE_NAME: usize = 64;

fn well_formed(name: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b);
    (1..=MAX_ROLE_NAME).contains(&name.len()) && name.bytes().all(allowed)
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// A well-formed role name (see [`UnknownRole`]); whether a policy knows it is
    /// [`Policy::rank`]'s question.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if well_formed(s) {
            Ok(Role::new(s))
        } else {
            Err(UnknownRole)
        }
    }
}

/// The answer of a policy check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The principal may go on.
    Allow,
    /// The principal may not (HTTP 403).
    Deny,
}

/// Why a [`Policy`] cannot be used (see [`Policy::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidPolicy {
    /// The policy defines no role.
    NoRoles,
    /// A role name that is not 1 to 64 of `a`–`z`, `0`–`9`, `_-.:`.
    MalformedRoleName(String),
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidPolicy::NoRoles => f.write_str("the policy defines no role"),
            InvalidPolicy::MalformedRoleName(name) => {
                write!(f, "role name {name:?} is not well formed")
            }
        }
    }
}

impl std::error::Error for InvalidPolicy {}

/// One role of a [`Policy`]: its rank and what it may do (sorted, for a binary search).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    role: Role,
    rank: u8,
    permissions: Vec<Permission>,
}

/// Which roles exist, how they rank, and what each may do. Checking is a search of a few
/// names: no allocation, no I/O.
///
/// Made by a [`policy!`](crate::policy) declaration's `policy()`, or built by hand:
///
/// ```
/// use assimetria_auth::rbac::{Permission, Policy, Role, seed};
///
/// // The seed's matrix, with viewers allowed to read and write tasks only.
/// let viewer: [Permission; 2] = [seed::TasksRead.into(), seed::TasksWrite.into()];
/// let policy = Policy::seed().role(seed::VIEWER, 0, viewer);
/// assert!(policy.allows(&seed::VIEWER, seed::TasksWrite));
/// assert!(!policy.allows(&seed::VIEWER, seed::AgentsRead));
/// assert!(!policy.allows(&Role::new("ghost"), seed::TasksRead));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    grants: Vec<Grant>,
}

impl Policy {
    /// A policy without roles; add them with [`role`](Self::role).
    pub fn empty() -> Self {
        Self { grants: Vec::new() }
    }

    /// The seed's matrix ([`seed::policy`]).
    pub fn seed() -> Self {
        seed::policy()
    }

    /// Defines `role` with `rank` (higher outranks lower: an API key acts with at most its
    /// creator's role) and `permissions`, replacing an earlier definition of the same name.
    #[must_use]
    pub fn role(
        mut self,
        role: Role,
        rank: u8,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Self {
        let mut permissions: Vec<Permission> = permissions.into_iter().collect();
        permissions.sort_unstable();
        permissions.dedup();
        self.grants.retain(|g| g.role != role);
        self.grants.push(Grant {
            role,
            rank,
            permissions,
        });
        self
    }

    /// Adds `permissions` to `role` (defining it at rank 0 if the policy does not yet).
    #[must_use]
    pub fn grant(mut self, role: &Role, permissions: impl IntoIterator<Item = Permission>) -> Self {
        let index = match self.grants.iter().position(|g| &g.role == role) {
            Some(i) => i,
            None => {
                self = self.role(role.clone(), 0, []);
                self.grants.len() - 1
            }
        };
        let grant = &mut self.grants[index];
        grant.permissions.extend(permissions);
        grant.permissions.sort_unstable();
        grant.permissions.dedup();
        self
    }

    fn find(&self, role: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.role.as_str() == role)
    }

    /// Whether `role` holds `permission`.
    pub fn check(&self, role: &Role, permission: impl Into<Permission>) -> Decision {
        let permission = permission.into();
        match self.find(role.as_str()) {
            Some(g) if g.permissions.binary_search(&permission).is_ok() => Decision::Allow,
            _ => Decision::Deny,
        }
    }

    /// Whether `role` holds `permission`.
    pub fn allows(&self, role: &Role, permission: impl Into<Permission>) -> bool {
        self.check(role, permission) == Decision::Allow
    }

    /// The rank of `role`, or `None` if the policy does not define it.
    pub fn rank(&self, role: &Role) -> Option<u8> {
        self.find(role.as_str()).map(|g| g.rank)
    }

    /// Whether `role` grants no more than `other`: its rank is at most `other`'s **and** every
    /// permission it holds `other` holds too. What caps an API key by its creator and a role
    /// change by the one who makes it: with roles whose permission sets do not nest (two roles
    /// of one rank, say), neither is at most the other.
    ///
    /// A role the policy does not define holds nothing and ranks below all, so it is at most
    /// any role, and no defined role is at most it.
    pub fn is_at_most(&self, role: &Role, other: &Role) -> bool {
        match (self.find(role.as_str()), self.find(other.as_str())) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => {
                let held = |p: &Permission| b.permissions.binary_search(p).is_ok();
                a.rank <= b.rank && a.permissions.iter().all(held)
            }
        }
    }

    /// The policy's own `Role` for `name` (a clone of a constant, no allocation), or `None` if
    /// it defines no such role.
    pub fn role_named(&self, name: &str) -> Option<Role> {
        self.find(name).map(|g| g.role.clone())
    }

    /// `role` if the policy defines it, else [`UnknownRole`]: what routes that set a role check.
    pub fn known(&self, role: Role) -> Result<Role, UnknownRole> {
        self.find(role.as_str())
            .map(|g| g.role.clone())
            .ok_or(UnknownRole)
    }

    /// The lowest-ranked role (the first defined among equals), or `None` for an empty policy:
    /// what an API key gets when its creator names no role.
    pub fn lowest(&self) -> Option<Role> {
        let lowest = self.grants.iter().min_by_key(|g| g.rank);
        lowest.map(|g| g.role.clone())
    }

    /// The roles, highest rank first.
    pub fn roles(&self) -> Vec<&Role> {
        let mut grants: Vec<&Grant> = self.grants.iter().collect();
        grants.sort_by_key(|g| std::cmp::Reverse(g.rank));
        grants.into_iter().map(|g| &g.role).collect()
    }

    /// What `role` may do (empty for a role the policy does not define).
    pub fn permissions(&self, role: &Role) -> &[Permission] {
        self.find(role.as_str())
            .map_or(&[][..], |g| &g.permissions[..])
    }

    /// The first rule the policy breaks, if any: it has no role, or a role name is not well
    /// formed (1 to 64 of `a`–`z`, `0`–`9`, `_-.:`). The service checks this when built.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.grants.is_empty() {
            return Err(InvalidPolicy::NoRoles);
        }
        match self.grants.iter().find(|g| !well_formed(g.role.as_str())) {
            Some(g) => Err(InvalidPolicy::MalformedRoleName(g.role.as_str().into())),
            None => Ok(()),
        }
    }
}

impl Default for Policy {
    /// The seed's matrix.
    fn default() -> Self {
        Self::seed()
    }
}

mod declare;

/// The permissions the crate's own routes require, in scope in every
/// [`policy!`](crate::policy) declaration.
pub mod builtin {
    crate::permissions! {
        /// List the organization's users and change their roles (`/api/users`).
        pub UsersManage = "users:manage";
        /// Create, list and revoke API keys (`/api/api-keys`).
        pub ApiKeysManage = "api_keys:manage";
    }
}

crate::policy! {
    /// The seed's matrix, the default policy: admin, member and viewer.
    pub mod seed {
        permissions {
            /// Read tasks.
            TasksRead = "tasks:read",
            /// Create and change tasks.
            TasksWrite = "tasks:write",
            /// Read agents.
            AgentsRead = "agents:read",
            /// Create and change agents.
            AgentsWrite = "agents:write",
            /// Read products.
            ProductsRead = "products:read",
            /// Create and change products.
            ProductsWrite = "products:write",
            /// Read and change organization settings.
            SettingsManage = "settings:manage",
        }
        roles {
            /// Full access to all endpoints, including user management and settings.
            ADMIN = "admin", rank 2: [
                TasksRead, TasksWrite, AgentsRead, AgentsWrite, ProductsRead, ProductsWrite,
                UsersManage, SettingsManage, ApiKeysManage,
            ],
            /// Read/write access to tasks, agents and products.
            MEMBER = "member", rank 1: [
                TasksRead, TasksWrite, AgentsRead, AgentsWrite, ProductsRead, ProductsWrite,
            ],
            /// Read-only access.
            VIEWER = "viewer", rank 0: [TasksRead, AgentsRead, ProductsRead],
        }
    }
}

#[cfg(test)]
mod tests;
