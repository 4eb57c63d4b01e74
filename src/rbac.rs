//! Roles, permissions and the policy matrix.
//!
//! The default [`Policy`] is the seed's table: **admin** may do everything, including user
//! management, settings and API-key management; **member** reads and writes tasks, agents and
//! products; **viewer** only reads. A host can build its own matrix with [`Policy::empty`] and
//! [`Policy::grant`]. A denied check is the seed's `403 Forbidden`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's (or an API key's) role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full access, including user management and settings.
    Admin,
    /// Read/write access to tasks, agents and products.
    Member,
    /// Read-only access.
    Viewer,
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

    /// The wire name: `admin`, `member` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Rank for "no higher than" comparisons: admin 2, member 1, viewer 0.
    pub fn rank(self) -> u8 {
        match self {
            Role::Admin => 2,
            Role::Member => 1,
            Role::Viewer => 0,
        }
    }

    /// Whether `self` grants no more than `other` in the role hierarchy.
    pub fn is_at_most(self, other: Role) -> bool {
        self.rank() <= other.rank()
    }

    fn index(self) -> usize {
        match self {
            Role::Admin => 0,
            Role::Member => 1,
            Role::Viewer => 2,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not `admin`, `member` or `viewer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRole;

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("role must be admin, member or viewer")
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            _ => Err(UnknownRole),
        }
    }
}

/// Something a principal may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Permission {
    /// Read tasks.
    TasksRead,
    /// Create and change tasks.
    TasksWrite,
    /// Read agents.
    AgentsRead,
    /// Create and change agents.
    AgentsWrite,
    /// Read products.
    ProductsRead,
    /// Create and change products.
    ProductsWrite,
    /// List users and change their roles.
    UsersManage,
    /// Read and change organization settings.
    SettingsManage,
    /// Create, list and revoke API keys.
    ApiKeysManage,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 9] = [
        Permission::TasksRead,
        Permission::TasksWrite,
        Permission::AgentsRead,
        Permission::AgentsWrite,
        Permission::ProductsRead,
        Permission::ProductsWrite,
        Permission::UsersManage,
        Permission::SettingsManage,
        Permission::ApiKeysManage,
    ];

    /// The permissions that only read.
    pub const READS: [Permission; 3] = [
        Permission::TasksRead,
        Permission::AgentsRead,
        Permission::ProductsRead,
    ];

    /// A stable name, e.g. `tasks:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TasksRead => "tasks:read",
            Permission::TasksWrite => "tasks:write",
            Permission::AgentsRead => "agents:read",
            Permission::AgentsWrite => "agents:write",
            Permission::ProductsRead => "products:read",
            Permission::ProductsWrite => "products:write",
            Permission::UsersManage => "users:manage",
            Permission::SettingsManage => "settings:manage",
            Permission::ApiKeysManage => "api_keys:manage",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// A role × permission matrix. Checking is a bit test: no allocation, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    grants: [u16; 3],
}

impl Policy {
    /// A matrix that allows nothing; add rows with [`grant`](Self::grant).
    pub fn empty() -> Self {
        Self { grants: [0; 3] }
    }

    /// The seed's table.
    pub fn seed() -> Self {
        Self::empty()
            .grant(Role::Admin, &Permission::ALL)
            .grant(
                Role::Member,
                &[
                    Permission::TasksRead,
                    Permission::TasksWrite,
                    Permission::AgentsRead,
                    Permission::AgentsWrite,
                    Permission::ProductsRead,
                    Permission::ProductsWrite,
                ],
            )
            .grant(Role::Viewer, &Permission::READS)
    }

    /// Adds `permissions` to `role`.
    #[must_use]
    pub fn grant(mut self, role: Role, permissions: &[Permission]) -> Self {
        for p in permissions {
            self.grants[role.index()] |= p.bit();
        }
        self
    }

    /// Removes `permissions` from `role`.
    #[must_use]
    pub fn revoke(mut self, role: Role, permissions: &[Permission]) -> Self {
        for p in permissions {
            self.grants[role.index()] &= !p.bit();
        }
        self
    }

    /// Whether `role` holds `permission`.
    pub fn check(&self, role: Role, permission: Permission) -> Decision {
        if self.grants[role.index()] & permission.bit() != 0 {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// Whether `role` holds `permission`.
    pub fn allows(&self, role: Role, permission: Permission) -> bool {
        self.check(role, permission) == Decision::Allow
    }
}

impl Default for Policy {
    /// The seed's table.
    fn default() -> Self {
        Self::seed()
    }
}

/// A permission named as a type, so adapters can require it in a handler's signature
/// (`Require<permission::TasksWrite>`).
pub trait RequiredPermission: Send + Sync + 'static {
    /// The permission.
    const PERMISSION: Permission;
}

/// Marker types for [`RequiredPermission`], one per [`Permission`].
pub mod permission {
    use super::{Permission, RequiredPermission};

    macro_rules! markers {
        ($($name:ident),*) => {$(
            #[doc = concat!("Requires [`Permission::", stringify!($name), "`].")]
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }

    markers!(
        TasksRead,
        TasksWrite,
        AgentsRead,
        AgentsWrite,
        ProductsRead,
        ProductsWrite,
        UsersManage,
        SettingsManage,
        ApiKeysManage
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{Allow, Deny};
    use Permission::*;

    /// The seed's table, written out cell by cell.
    #[test]
    fn full_role_permission_table() {
        let expected: [(Permission, [Decision; 3]); 9] = [
            //                 admin  member viewer
            (TasksRead, [Allow, Allow, Allow]),
            (TasksWrite, [Allow, Allow, Deny]),
            (AgentsRead, [Allow, Allow, Allow]),
            (AgentsWrite, [Allow, Allow, Deny]),
            (ProductsRead, [Allow, Allow, Allow]),
            (ProductsWrite, [Allow, Allow, Deny]),
            (UsersManage, [Allow, Deny, Deny]),
            (SettingsManage, [Allow, Deny, Deny]),
            (ApiKeysManage, [Allow, Deny, Deny]),
        ];
        let policy = Policy::default();
        for (perm, row) in expected {
            for (role, want) in Role::ALL.into_iter().zip(row) {
                assert_eq!(policy.check(role, perm), want, "{role} × {perm}");
            }
        }
        assert_eq!(expected.len(), Permission::ALL.len());
    }

    #[test]
    fn host_defined_matrix() {
        let p = Policy::seed()
            .revoke(Role::Member, &[ProductsWrite])
            .grant(Role::Viewer, &[TasksWrite]);
        assert_eq!(p.check(Role::Member, ProductsWrite), Deny);
        assert_eq!(p.check(Role::Viewer, TasksWrite), Allow);
        assert!(!p.allows(Role::Viewer, AgentsWrite));
        assert!(p.allows(Role::Viewer, TasksWrite));
        assert_eq!(Policy::empty().check(Role::Admin, TasksRead), Deny);
    }

    #[test]
    fn role_names_and_order() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Viewer.is_at_most(Role::Member));
        assert!(!Role::Admin.is_at_most(Role::Member));
    }
}
