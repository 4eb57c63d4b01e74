//! A host's own permissions and roles, declared with `policy!`, through every flow that names a
//! role: registration, role changes, API keys (their rank cap and default), permission checks,
//! and a stored role the policy no longer defines.

mod harness;

use std::sync::Arc;

use assimetria_auth::api_key::Environment;
use assimetria_auth::error::{ConfigError, ValidationError};
use assimetria_auth::rbac::{Permission, Policy, Role, seed};
use assimetria_auth::store::UserChange;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, AuthService, Error};
use harness::*;

assimetria_auth::policy! {
    /// An invoicing service's access rules.
    pub mod access {
        permissions {
            /// Read invoices.
            InvoicesRead = "invoices:read",
            /// Create and change invoices.
            InvoicesWrite = "invoices:write",
        }
        roles {
            /// Runs the account.
            OWNER = "owner", rank 2: [InvoicesRead, InvoicesWrite, UsersManage, ApiKeysManage],
            /// Keeps the books.
            CLERK = "clerk", rank 1: [InvoicesRead, InvoicesWrite],
            /// Reads only.
            AUDITOR = "auditor", rank 0: [InvoicesRead],
        }
    }
}

fn config(default_role: Role) -> AuthConfig {
    let config = AuthConfig::builder().rate_limiting(false);
    config.default_role(default_role).build().unwrap()
}

async fn host() -> Harness {
    let store = Arc::new(MemoryStore::new());
    harness_with_policy(config(access::CLERK), store, access::policy()).await
}

fn unknown_role<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Validation(ValidationError::UnknownRole)))
}

#[tokio::test]
async fn registration_and_checks_use_the_hosts_roles() {
    let h = host().await;
    let clerk = h.sign_up("clerk@example.com").await;
    assert_eq!(clerk.user.role, access::CLERK);
    assert_eq!(clerk.principal.role.as_str(), "clerk");
    assert!(
        h.service
            .require(&clerk.principal, access::InvoicesWrite)
            .is_ok()
    );
    // The crate's own permissions, and the seed's, are not the clerk's.
    for refused in [
        h.service.require(&clerk.principal, access::ApiKeysManage),
        h.service.require(&clerk.principal, access::UsersManage),
        h.service.require(&clerk.principal, seed::TasksRead),
    ] {
        assert!(matches!(refused, Err(Error::Forbidden(_))));
    }
    let auditor = h.user("auditor@example.com", access::AUDITOR).await;
    let write = h.service.require(&auditor.principal, access::InvoicesWrite);
    assert!(matches!(write, Err(Error::Forbidden(p)) if p.as_str() == "invoices:write"));
}

#[tokio::test]
async fn names_the_policy_does_not_define_are_refused_and_change_nothing() {
    let h = host().await;
    let owner = h.user("owner@example.com", access::OWNER).await.principal;
    let clerk = h.user("clerk@example.com", access::CLERK).await;
    // The seed's names mean nothing to this host.
    for role in [seed::ADMIN, Role::new("root")] {
        let password = pw(PASSWORD);
        let created = h
            .service
            .create_user("x@example.com", &password, role.clone());
        assert!(unknown_role(created.await));
        let changed = h
            .service
            .set_role(&owner, clerk.user.id, role.clone())
            .await;
        assert!(unknown_role(changed));
        let key = h
            .service
            .create_api_key(&owner, "k", Environment::Live, Some(role));
        assert!(unknown_role(key.await));
    }
    assert!(
        h.store
            .user_by_email("x@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let stored = h.store.user_by_id(clerk.user.id).await.unwrap().unwrap();
    assert_eq!(stored.role, access::CLERK);
    assert!(h.service.list_api_keys(&owner).await.unwrap().is_empty());
    // The clerk's session survived the refused changes.
    assert!(h.service.authenticate(clerk.access()).await.is_ok());
}

#[tokio::test]
async fn api_keys_rank_below_their_creator_and_default_to_the_lowest_role() {
    let h = host().await;
    let owner = h.user("owner@example.com", access::OWNER).await.principal;
    let key = h
        .service
        .create_api_key(&owner, "default", Environment::Live, None);
    let key = key.await.unwrap();
    assert_eq!(key.info.role, access::AUDITOR, "the lowest-ranked role");
    let p = h.service.authenticate(key.key.expose()).await.unwrap();
    assert!(h.service.require(&p, access::InvoicesRead).is_ok());
    assert!(h.service.require(&p, access::InvoicesWrite).is_err());

    // An owner's clerk key acts as a clerk until the owner is demoted below it.
    let clerk_key = h
        .service
        .create_api_key(&owner, "ci", Environment::Live, Some(access::CLERK));
    let clerk_key = clerk_key.await.unwrap().key;
    let p = h.service.authenticate(clerk_key.expose()).await.unwrap();
    assert_eq!(p.role, access::CLERK);
    let other_owner = h.user("boss@example.com", access::OWNER).await.principal;
    h.service
        .set_role(&other_owner, owner.user_id, access::AUDITOR)
        .await
        .unwrap();
    let p = h.service.authenticate(clerk_key.expose()).await.unwrap();
    assert_eq!(
        p.role,
        access::AUDITOR,
        "capped by the creator's current role"
    );
    assert!(h.service.require(&p, access::InvoicesWrite).is_err());
}

#[tokio::test]
async fn a_role_removed_from_the_policy_holds_nothing() {
    let h = host().await;
    let owner = h.user("owner@example.com", access::OWNER).await.principal;
    let key = h
        .service
        .create_api_key(&owner, "k", Environment::Live, Some(access::CLERK));
    let key = key.await.unwrap().key;
    // The host drops a role its stored users still carry (a store written by an older policy).
    let ghost = UserChange::Role(Role::new("partner"));
    h.store
        .update_user_ending_sessions(owner.user_id, ghost, T0, T0 + 1)
        .await
        .unwrap();
    let p = h.service.authenticate(key.expose()).await.unwrap();
    assert_eq!(
        p.role.as_str(),
        "partner",
        "a key never outranks its creator's role"
    );
    assert!(h.service.require(&p, access::InvoicesRead).is_err());
    let login = h
        .service
        .login("owner@example.com", &pw(PASSWORD), None)
        .await;
    let p = h
        .service
        .authenticate(login.unwrap().access_token.expose())
        .await;
    let p = p.unwrap();
    let wanted: [Permission; 2] = [access::InvoicesRead.into(), access::UsersManage.into()];
    for permission in wanted {
        let refused = h.service.require(&p, permission);
        assert!(matches!(refused, Err(Error::Forbidden(_))));
    }
    // And the creator holding an unknown role cannot mint keys at all.
    let minted = h
        .service
        .create_api_key(&p, "k2", Environment::Live, None)
        .await;
    assert!(matches!(minted, Err(Error::Forbidden(_))));
}

#[tokio::test]
async fn a_key_whose_own_role_left_the_policy_holds_nothing() {
    let h = host().await;
    let owner = h.user("owner@example.com", access::OWNER).await.principal;
    let key = h
        .service
        .create_api_key(&owner, "k", Environment::Live, Some(access::CLERK));
    let key = key.await.unwrap().key;
    // The host redeploys without the clerk role; the key's stored role is now a stranger's.
    let without_clerk = Policy::empty()
        .role(
            access::OWNER,
            2,
            access::policy().permissions(&access::OWNER).to_vec(),
        )
        .role(access::AUDITOR, 0, [access::InvoicesRead.into()]);
    let store = Arc::clone(&h.store);
    let redeployed = harness_with_policy(config(access::AUDITOR), store, without_clerk).await;
    let p = redeployed.service.authenticate(key.expose()).await.unwrap();
    assert_eq!(p.role.as_str(), "clerk", "never the creator's owner role");
    assert!(
        redeployed
            .service
            .require(&p, access::InvoicesRead)
            .is_err()
    );
}

assimetria_auth::policy! {
    /// Two roles of one rank whose permissions do not nest, and a lower one that is no subset.
    mod desk {
        permissions {
            /// Write the ledger.
            LedgerWrite = "ledger:write",
        }
        roles {
            /// Everything.
            OWNER = "owner", rank 2: [LedgerWrite, UsersManage, ApiKeysManage],
            /// Books, and keys for the books.
            CLERK = "clerk", rank 1: [LedgerWrite, ApiKeysManage],
            /// People.
            SUPPORT = "support", rank 1: [UsersManage],
            /// People too, though ranked lowest.
            INTERN = "intern", rank 0: [UsersManage],
        }
    }
}

async fn desk() -> Harness {
    let store = Arc::new(MemoryStore::new());
    harness_with_policy(config(desk::CLERK), store, desk::policy()).await
}

/// Rank alone is no cap: a clerk must not mint a key for users:manage (which it lacks), or the
/// key could make the clerk an owner.
#[tokio::test]
async fn a_key_cannot_hold_what_its_creator_lacks_whatever_the_ranks() {
    let h = desk().await;
    let clerk = h.user("clerk@example.com", desk::CLERK).await;
    for role in [desk::SUPPORT, desk::INTERN, desk::OWNER] {
        let minted = h
            .service
            .create_api_key(&clerk.principal, "k", Environment::Live, Some(role));
        let refused = matches!(
            minted.await,
            Err(Error::Validation(ValidationError::KeyRoleAboveCreator))
        );
        assert!(refused);
    }
    let listed = h.service.list_api_keys(&clerk.principal).await.unwrap();
    assert!(listed.is_empty());

    // A clerk key, then the clerk moves to support (same rank, sets that do not nest): the key
    // holds neither role's permissions now.
    let key = h
        .service
        .create_api_key(&clerk.principal, "k", Environment::Live, Some(desk::CLERK));
    let key = key.await.unwrap().key;
    let owner = h.user("owner@example.com", desk::OWNER).await.principal;
    h.service
        .set_role(&owner, clerk.user.id, desk::SUPPORT)
        .await
        .unwrap();
    let refused = h.service.authenticate(key.expose()).await;
    assert!(matches!(refused, Err(Error::InvalidApiKey)));
}

/// users:manage alone is no way up: no one hands out, or takes from, more than they hold.
#[tokio::test]
async fn a_role_change_is_capped_by_the_changers_own_role() {
    let h = desk().await;
    let owner = h.user("owner@example.com", desk::OWNER).await;
    let support = h.user("support@example.com", desk::SUPPORT).await;
    let intern = h.user("intern@example.com", desk::INTERN).await.principal;
    let clerk = h.user("clerk@example.com", desk::CLERK).await;

    // Support may not make itself (or anyone) owner or clerk: those hold what support lacks.
    for role in [desk::OWNER, desk::CLERK] {
        let refused = h
            .service
            .set_role(&support.principal, support.user.id, role)
            .await;
        assert!(matches!(
            refused,
            Err(Error::Validation(ValidationError::RoleAboveOwn))
        ));
    }
    // Nor touch a clerk or the owner, who hold what support lacks.
    for target in [clerk.user.id, owner.user.id] {
        let refused = h
            .service
            .set_role(&support.principal, target, desk::INTERN)
            .await;
        assert!(matches!(refused, Err(Error::Forbidden(_))));
    }
    let stored = h.store.user_by_id(owner.user.id).await.unwrap().unwrap();
    assert_eq!(stored.role, desk::OWNER, "nothing changed");
    assert!(
        h.service.authenticate(clerk.access()).await.is_ok(),
        "no session ended"
    );

    // Within its own reach it may: the intern (a subset of support) becomes support.
    let support_again = h
        .service
        .set_role(&support.principal, intern.user_id, desk::SUPPORT);
    support_again.await.unwrap();
    // And the owner reaches everyone.
    let promoted = h
        .service
        .set_role(&owner.principal, support.user.id, desk::CLERK);
    promoted.await.unwrap();
}

#[tokio::test]
async fn a_policy_that_cannot_serve_is_refused_at_start() {
    let build = |config: AuthConfig, policy: Policy| async move {
        let store = Arc::new(MemoryStore::new());
        AuthService::builder(config, store)
            .policy(policy)
            .build()
            .await
    };
    // The default role (viewer) is not one of this policy's.
    let no_default = build(config(seed::VIEWER), access::policy()).await;
    assert!(matches!(
        no_default,
        Err(Error::Config(ConfigError::DefaultRole))
    ));
    let empty = build(config(access::CLERK), Policy::empty()).await;
    assert!(matches!(empty, Err(Error::Config(ConfigError::Policy))));
    let malformed = Policy::empty().role(Role::new("Head Clerk"), 1, []);
    let malformed = build(config(Role::new("Head Clerk")), malformed).await;
    assert!(matches!(malformed, Err(Error::Config(ConfigError::Policy))));
}
