//! The declarations: `permissions!` (marker types) and `policy!` (a host's whole policy).
//!
//! Both are `#[macro_export]`ed, so hosts name them `assimetria_auth::policy!` and the crate
//! `crate::policy!`.

/// Declares permission marker types: each a unit struct implementing
/// [`RequiredPermission`](crate::rbac::RequiredPermission) and converting into its
/// [`Permission`](crate::rbac::Permission).
///
/// ```
/// assimetria_auth::permissions! {
///     /// Read invoices.
///     pub InvoicesRead = "invoices:read";
/// }
/// use assimetria_auth::rbac::{Permission, RequiredPermission};
/// assert_eq!(InvoicesRead::PERMISSION.as_str(), "invoices:read");
/// assert_eq!(Permission::from(InvoicesRead), InvoicesRead::PERMISSION);
/// ```
#[macro_export]
macro_rules! permissions {
    ($($(#[$meta:meta])* $vis:vis $marker:ident = $name:literal;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        $vis struct $marker;
        impl $crate::rbac::RequiredPermission for $marker {
            const PERMISSION: $crate::rbac::Permission = $crate::rbac::Permission::new($name);
        }
        impl ::core::convert::From<$marker> for $crate::rbac::Permission {
            fn from(_: $marker) -> Self {
                <$marker as $crate::rbac::RequiredPermission>::PERMISSION
            }
        }
    )*};
}

/// Declares a host's access rules in one place: a module holding a marker type per permission,
/// a [`Role`](crate::rbac::Role) constant per role, the crate's [`builtin`](crate::rbac::builtin) permissions, and `policy()`, the
/// [`Policy`](crate::rbac::Policy) they make. See the [module documentation](crate::rbac) for an example.
///
/// A role lists its permissions by marker name, so a misspelt permission does not compile.
#[macro_export]
macro_rules! policy {
    (
        $(#[$meta:meta])*
        $vis:vis mod $module:ident {
            permissions {
                $($(#[$pmeta:meta])* $perm:ident = $pname:literal),* $(,)?
            }
            roles {
                $($(#[$rmeta:meta])* $role:ident = $rname:literal, rank $rank:literal :
                    [$($granted:ident),* $(,)?]),* $(,)?
            }
        }
    ) => {
        $(#[$meta])*
        // The items are `pub` so that a `pub mod` exports them; a private module is fine too.
        #[allow(unreachable_pub)]
        $vis mod $module {
            pub use $crate::rbac::builtin::*;

            $crate::permissions! { $($(#[$pmeta])* pub $perm = $pname;)* }

            $(
                $(#[$rmeta])*
                pub const $role: $crate::rbac::Role = $crate::rbac::Role::from_static($rname);
            )*

            /// The policy this declaration describes: its roles, their ranks and permissions.
            pub fn policy() -> $crate::rbac::Policy {
                $crate::rbac::Policy::empty()
                $(.role($role, $rank, [
                    $(<$granted as $crate::rbac::RequiredPermission>::PERMISSION),*
                ]))*
            }
        }
    };
}
