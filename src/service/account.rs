//! A signed-in user's own account: their sessions, logout scopes, and a password change.
//!
//! Every flow here acts for the user behind an access token: an API key has no session and
//! cannot act on its creator's account ([`ValidationError::UserTokenRequired`]).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::clock::{rfc3339, secs};
use crate::email::Email;
use crate::error::{Error, TokenError, ValidationError};
use crate::principal::Principal;
use crate::secret::Password;
use crate::store::{Session, User};

use super::{AuthService, Limited};

/// One of the caller's sessions, as `GET /api/auth/sessions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session id (the access token's `sid`): what `DELETE /api/auth/sessions/{id}` takes.
    pub id: String,
    /// RFC 3339 start of the session.
    pub created_at: Option<String>,
    /// RFC 3339 time of its last refresh (its start until the first).
    pub last_used_at: Option<String>,
    /// The `User-Agent` it started from, if one was sent.
    pub user_agent: Option<String>,
    /// The client address it started from, if known.
    pub ip: Option<String>,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

impl SessionInfo {
    fn new(session: Session, current: &str) -> Self {
        Self {
            current: session.id == current,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(last_use(&session)),
            id: session.id,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// A session's last use; a session that an instance of the previous schema opened has none
/// stored (0), and counts from its start.
fn last_use(session: &Session) -> i64 {
    session.last_used_at.max(session.created_at)
}

/// Which sessions a logout ends (`POST /api/auth/logout?scope=…`, after Supabase's scopes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogoutScope {
    /// The caller's session only (the seed's logout, and the default).
    #[default]
    Local,
    /// Every other session of the user; the caller's stays signed in.
    Others,
    /// Every session of the user, the caller's included.
    Global,
}

impl LogoutScope {
    /// `local`, `others` or `global`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(LogoutScope::Local),
            "others" => Some(LogoutScope::Others),
            "global" => Some(LogoutScope::Global),
            _ => None,
        }
    }
}

/// The session of a principal that must be a user's access token.
fn own_session(principal: &Principal) -> Result<&str, Error> {
    principal
        .session()
        .ok_or(Error::Validation(ValidationError::UserTokenRequired))
}

impl AuthService {
    /// The caller's live sessions, oldest first: not ended, and with a refresh token that can
    /// still be used. Needs a user's access token.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<SessionInfo>, Error> {
        let current = own_session(principal)?;
        let sessions = self.live_sessions(principal.user_id).await?;
        let list = sessions.into_iter().map(|s| SessionInfo::new(s, current));
        Ok(list.collect())
    }

    /// Ends one of the caller's own sessions, its refresh token and access tokens at once (the
    /// caller's current session too, like a logout). Any id that is not one of the caller's
    /// live sessions is [`Error::NotFound`], so session ids of other users reveal nothing.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn end_session(&self, principal: &Principal, session_id: &str) -> Result<(), Error> {
        let current = own_session(principal)?;
        let sessions = self.live_sessions(principal.user_id).await?;
        if !sessions.iter().any(|s| s.id == session_id) {
            return Err(Error::NotFound);
        }
        self.end_sessions(&[session_id.to_owned()]).await?;
        self.audit(AuditEvent::SessionEnded {
            user_id: principal.user_id,
            session_id: session_id.to_owned(),
            by_session: current.to_owned(),
        });
        Ok(())
    }

    /// Logout with a scope: the caller's session ([`LogoutScope::Local`], as
    /// [`logout`](Self::logout)), every other one ([`LogoutScope::Others`]) or all of them
    /// ([`LogoutScope::Global`]). Access tokens of every ended session are refused at once.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id, scope = ?scope), err(level = "info"))]
    pub async fn logout_scope(
        &self,
        principal: &Principal,
        scope: LogoutScope,
    ) -> Result<(), Error> {
        if scope == LogoutScope::Local {
            return self.logout(principal).await;
        }
        let current = own_session(principal)?;
        // Every session not ended yet, expired or not: ending one too many costs nothing.
        let sessions = self.inner.store.sessions_of_user(principal.user_id).await?;
        let mut ended: Vec<String> = sessions.into_iter().map(|s| s.id).collect();
        ended.retain(|id| id != current);
        if scope == LogoutScope::Global {
            ended.push(current.to_owned());
        }
        self.end_sessions(&ended).await?;
        for id in ended {
            let event = if id == current {
                AuditEvent::LoggedOut {
                    user_id: principal.user_id,
                    session_id: id,
                }
            } else {
                AuditEvent::SessionEnded {
                    user_id: principal.user_id,
                    session_id: id,
                    by_session: current.to_owned(),
                }
            };
            self.audit(event);
        }
        Ok(())
    }

    /// Changes the signed-in user's password: `current` must be the password now (a wrong one
    /// is [`Error::CurrentPasswordWrong`], `403 invalid_credentials`, and every attempt counts
    /// toward the login limits of the account and of `client`), `new` follows the registration
    /// policy ([`Error::Validation`]). The new hash is written by compare-and-set over the hash
    /// just verified, and every other session of the user ends in the same store transaction;
    /// the caller's session stays signed in. Needs a user's access token.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &Password,
        new: &Password,
        client: Option<IpAddr>,
    ) -> Result<(), Error> {
        let session = own_session(principal)?;
        self.inner.hasher.check_policy(new)?;
        let user = self.signed_in_user(principal).await?;
        let email = Email::parse(&user.email).ok();
        self.limit(Limited::Login, email.as_ref(), client).await?;
        if !self
            .inner
            .hasher
            .verify(current, &user.password_hash)
            .await?
        {
            self.audit(AuditEvent::PasswordChangeFailed { user_id: user.id });
            return Err(Error::CurrentPasswordWrong);
        }
        let new_hash = self.inner.hasher.hash(new).await?;
        let changed = self
            .inner
            .revocations
            .change_password(
                user.id,
                (&user.password_hash, &new_hash),
                Some(session),
                self.now(),
            )
            .await?;
        // `None`: a reset (or another change) replaced the hash after it was verified; the
        // password given is no longer the current one.
        let Some(_ended) = changed else {
            return Err(Error::CurrentPasswordWrong);
        };
        self.audit(AuditEvent::PasswordChanged {
            user_id: user.id,
            session_id: session.to_owned(),
        });
        Ok(())
    }

    /// The user behind a principal, or the refusal an ended account gets.
    pub(super) async fn signed_in_user(&self, principal: &Principal) -> Result<User, Error> {
        self.inner
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or(Error::InvalidToken(TokenError::Revoked))
    }

    /// The user's sessions that are not ended and whose newest refresh token has not expired.
    async fn live_sessions(&self, user_id: i64) -> Result<Vec<Session>, Error> {
        let now = self.now();
        let ttl = secs(self.inner.config.refresh_ttl);
        let mut sessions = self.inner.store.sessions_of_user(user_id).await?;
        sessions.retain(|s| {
            last_use(s).saturating_add(ttl) > now && !self.inner.revocations.is_revoked(&s.id, now)
        });
        Ok(sessions)
    }
}
