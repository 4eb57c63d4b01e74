//! The policy's rules, the seed's table cell by cell, and a host's own declaration.

use super::Decision::{Allow, Deny};
use super::seed::*;
use super::*;

/// The seed's table, written out cell by cell.
#[test]
fn full_role_permission_table() {
    let expected: [(Permission, [Decision; 3]); 9] = [
        //                 admin  member viewer
        (TasksRead.into(), [Allow, Allow, Allow]),
        (TasksWrite.into(), [Allow, Allow, Deny]),
        (AgentsRead.into(), [Allow, Allow, Allow]),
        (AgentsWrite.into(), [Allow, Allow, Deny]),
        (ProductsRead.into(), [Allow, Allow, Allow]),
        (ProductsWrite.into(), [Allow, Allow, Deny]),
        (UsersManage.into(), [Allow, Deny, Deny]),
        (SettingsManage.into(), [Allow, Deny, Deny]),
        (ApiKeysManage.into(), [Allow, Deny, Deny]),
    ];
    let policy = Policy::default();
    for (perm, row) in expected {
        for (role, want) in [ADMIN, MEMBER, VIEWER].into_iter().zip(row) {
            assert_eq!(policy.check(&role, perm), want, "{role} × {perm}");
        }
    }
    assert_eq!(policy.permissions(&ADMIN).len(), expected.len());
    let roles: Vec<&str> = policy.roles().iter().map(|r| r.as_str()).collect();
    assert_eq!(roles, ["admin", "member", "viewer"]);
}

#[test]
fn the_seed_names_are_spelled_once() {
    assert_eq!(TasksWrite::PERMISSION.as_str(), "tasks:write");
    assert_eq!(ApiKeysManage::PERMISSION.as_str(), "api_keys:manage");
    assert_eq!(
        serde_json::to_string(&Permission::from(TasksWrite)).unwrap(),
        "\"tasks:write\""
    );
    assert_eq!(serde_json::to_string(&ADMIN).unwrap(), "\"admin\"");
    let read: Role = serde_json::from_str("\"admin\"").unwrap();
    assert_eq!(read, ADMIN);
}

crate::policy! {
    /// A host's own world.
    mod access {
        permissions {
            InvoicesRead = "invoices:read",
            InvoicesWrite = "invoices:write",
        }
        roles {
            OWNER = "owner", rank 9: [InvoicesRead, InvoicesWrite, UsersManage, ApiKeysManage],
            CLERK = "clerk", rank 5: [InvoicesRead, InvoicesWrite],
            AUDITOR = "auditor", rank 1: [InvoicesRead],
        }
    }
}

#[test]
fn a_host_defined_policy() {
    let p = access::policy();
    assert!(p.validate().is_ok());
    assert!(p.allows(&access::CLERK, access::InvoicesWrite));
    assert!(!p.allows(&access::AUDITOR, access::InvoicesWrite));
    assert!(p.allows(&access::OWNER, access::UsersManage));
    assert!(!p.allows(&access::CLERK, access::ApiKeysManage));
    // The seed's permissions mean nothing here, and the seed's roles are unknown.
    assert!(!p.allows(&access::OWNER, TasksRead));
    assert_eq!(p.rank(&ADMIN), None);
    assert!(!p.allows(&ADMIN, access::InvoicesRead));
    // A name read from a store is the same role as the constant.
    assert!(p.allows(&Role::new("clerk"), access::InvoicesRead));
    assert_eq!(p.role_named("clerk"), Some(access::CLERK));
    assert_eq!(p.known(Role::new("root")), Err(UnknownRole));
}

#[test]
fn ranks_and_unknown_roles() {
    let p = Policy::seed();
    assert!(p.is_at_most(&VIEWER, &MEMBER));
    assert!(p.is_at_most(&MEMBER, &MEMBER));
    assert!(!p.is_at_most(&ADMIN, &MEMBER));
    let ghost = Role::new("ghost");
    // Unknown: ranks below everything, holds nothing.
    assert!(p.is_at_most(&ghost, &VIEWER));
    assert!(!p.is_at_most(&VIEWER, &ghost));
    assert!(!p.allows(&ghost, TasksRead));
}

#[test]
fn a_role_is_at_most_another_only_if_its_permissions_nest() {
    let p = Policy::empty()
        .role(
            Role::new("owner"),
            2,
            [TasksWrite.into(), UsersManage.into()],
        )
        .role(
            Role::new("clerk"),
            1,
            [TasksWrite.into(), ApiKeysManage.into()],
        )
        .role(Role::new("support"), 1, [UsersManage.into()])
        .role(Role::new("intern"), 0, [UsersManage.into()]);
    let role = |n: &str| Role::new(n);
    // Same rank, sets that do not nest: neither caps the other.
    assert!(!p.is_at_most(&role("support"), &role("clerk")));
    assert!(!p.is_at_most(&role("clerk"), &role("support")));
    // A lower rank is not enough: the intern holds what the clerk does not.
    assert!(!p.is_at_most(&role("intern"), &role("clerk")));
    // A subset, but not of the owner: the owner lacks api_keys:manage.
    assert!(!p.is_at_most(&role("clerk"), &role("owner")));
    assert!(p.is_at_most(&role("intern"), &role("support")));
    assert!(p.is_at_most(&role("support"), &role("owner")));
}

#[test]
fn redefining_a_role_replaces_it() {
    let p = Policy::seed().role(VIEWER, 0, [TasksRead.into(), TasksWrite.into()]);
    assert!(p.allows(&VIEWER, TasksWrite));
    assert!(!p.allows(&VIEWER, AgentsRead));
    assert_eq!(p.roles().len(), 3);
    let p = p.grant(&MEMBER, [ApiKeysManage.into()]);
    assert!(p.allows(&MEMBER, ApiKeysManage) && p.allows(&MEMBER, TasksWrite));
    assert_eq!(p.rank(&MEMBER), Some(1));
    let p = p.grant(&Role::new("bot"), [TasksRead.into()]);
    assert_eq!(p.rank(&Role::new("bot")), Some(0));
    assert_eq!(Policy::empty().check(&ADMIN, TasksRead), Deny);
}

#[test]
fn role_names_are_validated() {
    assert!("admin".parse::<Role>().is_ok());
    assert!("billing.clerk".parse::<Role>().is_ok());
    for bad in ["", "Admin", "root user", "a\"b", &"x".repeat(65)] {
        assert!(bad.parse::<Role>().is_err(), "{bad:?}");
    }
    assert!(Policy::empty().validate().is_err());
    let bad = Policy::empty().role(Role::new("Bad Name"), 0, []);
    assert!(bad.validate().is_err());
    assert!(Policy::seed().validate().is_ok());
}
