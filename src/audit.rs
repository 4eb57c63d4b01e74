//! Audit events: what happened to whom, never with a secret.
//!
//! The service reports every security-relevant event to an [`AuditSink`]. The default,
//! [`TracingAudit`], writes them as `tracing` events under the target `assimetria_auth::audit`;
//! hosts can implement the trait to ship them elsewhere. No event carries a password, token or key.

use std::fmt;

use crate::api_key::Environment;
use crate::rbac::Role;

/// A security-relevant event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A new account.
    Registered {
        /// The new user.
        user_id: i64,
    },
    /// A successful login.
    LoginSucceeded {
        /// The user.
        user_id: i64,
        /// The new session.
        session_id: String,
    },
    /// A failed login (unknown email or wrong password: the event, like the answer, does not say which).
    LoginFailed {
        /// The email tried (lower-cased).
        email: String,
    },
    /// An attempt refused by the rate limiter.
    RateLimited {
        /// What was limited, e.g. `login`.
        action: &'static str,
    },
    /// A refresh token was rotated (or replayed inside the grace window).
    Refreshed {
        /// The user.
        user_id: i64,
        /// The session.
        session_id: String,
    },
    /// A spent refresh token came back after the grace window; the session was revoked.
    RefreshReuseDetected {
        /// The user.
        user_id: i64,
        /// The revoked session.
        session_id: String,
    },
    /// A session was ended by logout.
    LoggedOut {
        /// The user.
        user_id: i64,
        /// The session.
        session_id: String,
    },
    /// A password-reset mail was requested for an existing account.
    PasswordResetRequested {
        /// The user.
        user_id: i64,
    },
    /// A password was reset; every session of the user was revoked.
    PasswordReset {
        /// The user.
        user_id: i64,
    },
    /// An API key was created.
    ApiKeyCreated {
        /// The key.
        key_id: i64,
        /// Its environment.
        environment: Environment,
        /// Its role.
        role: Role,
        /// The creator.
        by: i64,
    },
    /// An API key was revoked.
    ApiKeyRevoked {
        /// The key.
        key_id: i64,
        /// Who revoked it.
        by: i64,
    },
    /// A user's role changed; their sessions were revoked.
    RoleChanged {
        /// The user.
        user_id: i64,
        /// The new role.
        role: Role,
        /// The admin who changed it.
        by: i64,
    },
    /// A user was removed, with their sessions and API keys.
    UserRemoved {
        /// The user.
        user_id: i64,
        /// The admin who removed them.
        by: i64,
    },
    /// A user was imported or created by an admin (`by: None`: by the host, e.g. a bulk
    /// import), with a plaintext password or an existing hash.
    UserImported {
        /// The new user.
        user_id: i64,
        /// Whether the password came as another system's hash (re-hashed at first login).
        legacy_hash: bool,
        /// Whether the address was marked verified by the importer.
        email_verified: bool,
        /// The admin who created it, if an admin did.
        by: Option<i64>,
    },
    /// A stored hash of another scheme or costs was replaced with the current argon2id one at a
    /// successful login.
    PasswordRehashed {
        /// The user.
        user_id: i64,
    },
    /// One of the user's own sessions was ended: `DELETE /api/auth/sessions/{id}`, or a logout
    /// with `scope=others` or `global` (one event per ended session).
    SessionEnded {
        /// The user.
        user_id: i64,
        /// The ended session.
        session_id: String,
        /// The session that asked for it.
        by_session: String,
    },
    /// A signed-in user changed their password; their other sessions were ended.
    PasswordChanged {
        /// The user.
        user_id: i64,
        /// The session kept.
        session_id: String,
    },
    /// A password change with a wrong current password (counted like a failed login).
    PasswordChangeFailed {
        /// The user.
        user_id: i64,
    },
    /// A verification mail was queued for the user's address.
    VerificationRequested {
        /// The user.
        user_id: i64,
    },
    /// The user's address was verified by the mailed token.
    EmailVerified {
        /// The user.
        user_id: i64,
    },
    /// A login with the right password was refused because the address is not verified.
    LoginUnverified {
        /// The user.
        user_id: i64,
    },
}

/// Receives audit events. Called inline: keep it quick (hand off to a channel for slow sinks).
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event.
    fn record(&self, event: &AuditEvent);

    /// Writes out whatever the sink still buffers. [`AuthService::shutdown`](crate::AuthService::shutdown)
    /// calls it last; a sink that hands events to a channel or a file buffer waits here until
    /// they are written. The default does nothing (a sink that writes inline has nothing to
    /// flush).
    fn flush(&self) {}
}

/// Writes events with `tracing` (target `assimetria_auth::audit`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, event: &AuditEvent) {
        match event {
            AuditEvent::LoginFailed { .. }
            | AuditEvent::PasswordChangeFailed { .. }
            | AuditEvent::RateLimited { .. }
            | AuditEvent::RefreshReuseDetected { .. } => {
                tracing::warn!(target: "assimetria_auth::audit", event = ?event);
            }
            _ => tracing::info!(target: "assimetria_auth::audit", event = ?event),
        }
    }
}
