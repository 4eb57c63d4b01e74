//! Sessions: register, login, refresh, logout.

use std::net::IpAddr;

use tracing::Instrument as _;
use tracing::field::Empty;

use crate::audit::AuditEvent;
use crate::clock::secs;
use crate::email::Email;
use crate::error::{Error, StoreError, ValidationError};
use crate::principal::Principal;
use crate::refresh::Rotation;
use crate::secret::{AccessToken, Password, RefreshToken, random_id};
use crate::store::{NewUser, Session, User};
use crate::token::AccessClaims;

use super::users::UserInfo;
use super::{AuthService, Limited};

/// What login and register hand out.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoginOutcome {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token (single-use).
    pub refresh_token: RefreshToken,
    /// The user.
    pub user: UserInfo,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What registration gives: a signed-in user, or (with
/// [`require_verified_email`](crate::AuthConfig::require_verified_email) on) an account that
/// waits for its address to be verified.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignUp {
    /// The account was created and signed in.
    SignedIn(LoginOutcome),
    /// The account was created and the verification mail queued; nobody is signed in until the
    /// address is verified.
    VerificationRequired(UserInfo),
}

/// Who is signing in: what a session remembers of the client it started from (shown by
/// [`AuthService::list_sessions`]). The address is also what the rate limits count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client address (behind trusted proxies, the one they forwarded).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, as sent.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// A client at `ip` sending `user_agent`.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(str::to_owned),
        }
    }
}

impl From<Option<IpAddr>> for ClientInfo {
    fn from(ip: Option<IpAddr>) -> Self {
        Self {
            ip,
            user_agent: None,
        }
    }
}

/// What a refresh hands out.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefreshOutcome {
    /// The new access token.
    pub access_token: AccessToken,
    /// The new refresh token.
    pub refresh_token: RefreshToken,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl AuthService {
    /// Creates an account (email trimmed and lower-cased; the configured default role), mails
    /// its verification link (with [`email_verification`](crate::AuthConfig::email_verification)
    /// on), and signs it in. A taken email is [`Error::EmailTaken`]; a weak
    /// password [`Error::Validation`]. With
    /// [`require_verified_email`](crate::AuthConfig::require_verified_email) on, the account is
    /// created but nobody is signed in: [`Error::EmailNotVerified`] (see
    /// [`sign_up`](Self::sign_up), which says so without an error).
    pub async fn register(
        &self,
        email: &str,
        password: &Password,
        client: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        match self.sign_up(email, password, &client.into()).await? {
            SignUp::SignedIn(outcome) => Ok(outcome),
            SignUp::VerificationRequired(_) => Err(Error::EmailNotVerified),
        }
    }

    /// Registration, as `POST /api/auth/register` runs it: creates the account, queues the
    /// verification mail (when verification is on), and signs the user in from `client` unless the service requires a
    /// verified address first.
    #[tracing::instrument(name = "register", skip_all, fields(user_id = Empty), err(level = "info"))]
    pub async fn sign_up(
        &self,
        email: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<SignUp, Error> {
        let email = Email::parse(email)?;
        self.inner.hasher.check_policy(password)?;
        // Each registration costs an argon2 hash: bounded per client address.
        self.limit(Limited::Register, None, client.ip).await?;
        if self
            .inner
            .store
            .user_by_email(email.as_str())
            .await?
            .is_some()
        {
            return Err(Error::EmailTaken);
        }
        let user = self
            .insert_user(email, password, self.inner.config.default_role.clone())
            .await?;
        self.audit(AuditEvent::Registered { user_id: user.id });
        tracing::Span::current().record("user_id", user.id);
        let config = &self.inner.config;
        if config.email_verification || config.require_verified_email {
            self.send_verification(&user);
        }
        if config.require_verified_email {
            return Ok(SignUp::VerificationRequired(UserInfo::from(&user)));
        }
        let outcome = self.start_session(&user, &user.password_hash, client);
        outcome.await.map(SignUp::SignedIn)
    }

    /// Hashes `password` and stores a new user; a taken email is [`Error::EmailTaken`].
    pub(super) async fn insert_user(
        &self,
        email: Email,
        password: &Password,
        role: crate::rbac::Role,
    ) -> Result<User, Error> {
        let password_hash = self.inner.hasher.hash(password).await?;
        self.inner
            .store
            .create_user(NewUser {
                email: email.into_string(),
                password_hash,
                role,
                org: None,
                created_at: self.now(),
                email_verified: false,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::EmailTaken,
                e => Error::Store(e),
            })
    }

    /// Signs in. Unknown email and wrong password are one error, after the same argon2 work.
    /// A hash with outdated parameters, or of another scheme (an imported one), is upgraded on
    /// success. With [`require_verified_email`](crate::AuthConfig::require_verified_email) on,
    /// the right password of an unverified address is [`Error::EmailNotVerified`], and a fresh
    /// verification mail is queued (within the resend limit).
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        client: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        self.login_from(email, password, &client.into()).await
    }

    /// [`login`](Self::login) from a client whose details the session keeps.
    pub async fn login_from(
        &self,
        email: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, Error> {
        let span = tracing::info_span!("login", user_id = Empty, outcome = Empty);
        let result = self
            .login_attempt(email, password, client)
            .instrument(span.clone())
            .await;
        crate::observe::login(&result);
        span.record("outcome", crate::observe::outcome(&result));
        if let Ok(login) = &result {
            span.record("user_id", login.user.id);
        }
        result
    }

    /// The login itself, inside its span.
    async fn login_attempt(
        &self,
        email: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, Error> {
        let (email, user) = self
            .account_attempt(Limited::Login, email, client.ip)
            .await?;
        let failed = || AuditEvent::LoginFailed {
            email: email
                .as_ref()
                .map_or_else(|| "<invalid>".into(), |e| e.as_str().to_owned()),
        };
        let Some(user) = user else {
            self.inner.hasher.verify_dummy(password).await?;
            self.audit(failed());
            return Err(Error::InvalidCredentials);
        };
        if !self
            .inner
            .hasher
            .verify(password, &user.password_hash)
            .await?
        {
            self.audit(failed());
            return Err(Error::InvalidCredentials);
        }
        if self.inner.config.require_verified_email && !user.email_verified {
            self.audit(AuditEvent::LoginUnverified { user_id: user.id });
            // The way out for a user whose first link expired: a new one, within the limit.
            if self
                .limit(Limited::ResendVerification, email.as_ref(), client.ip)
                .await
                .is_ok()
            {
                self.send_verification(&user);
            }
            return Err(Error::EmailNotVerified);
        }
        let mut expected_hash = user.password_hash.clone();
        if self.inner.hasher.needs_rehash(&expected_hash) {
            // Best effort: a failure here must not fail a correct login. Compare-and-set over the
            // hash just verified: a reset that landed meanwhile wins, and `start_session` then
            // refuses this login because the hash is no longer the one it verified.
            match self.inner.hasher.rehash(password).await {
                Ok(h) => match self
                    .inner
                    .store
                    .replace_password_hash(user.id, &expected_hash, &h)
                    .await
                {
                    Ok(true) => {
                        expected_hash = h;
                        self.audit(AuditEvent::PasswordRehashed { user_id: user.id });
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, user_id = user.id, "password rehash not saved")
                    }
                },
                Err(e) => tracing::warn!(error = %e, user_id = user.id, "password rehash skipped"),
            }
        }
        self.start_session(&user, &expected_hash, client).await
    }

    /// Opens a session for a user whose password (`expected_hash`) was just checked.
    ///
    /// The session is created *before* the user is read again: a role change or password reset
    /// that revokes the user's sessions meanwhile either revokes this one, or happened before the
    /// read, so the token carries the new role, or the login fails because the password changed.
    async fn start_session(
        &self,
        user: &User,
        expected_hash: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, Error> {
        let user_id = user.id;
        let now = self.now();
        let sid = random_id()?;
        let (refresh_token, record) = self.inner.refresh.first(&sid, user_id, now)?;
        let session = Session::new(sid.clone(), user_id, now).with_client(
            client.user_agent.as_deref(),
            client.ip.map(|ip| ip.to_string()),
        );
        self.inner.store.create_session(session, record).await?;
        let user = match self.inner.store.user_by_id(user_id).await? {
            Some(u) if u.password_hash == expected_hash => u,
            _ => {
                self.end_sessions(std::slice::from_ref(&sid)).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        let access_token = self.sign_access(&user, &sid, now, random_id()?)?;
        self.audit(AuditEvent::LoginSucceeded {
            user_id: user.id,
            session_id: sid,
        });
        Ok(LoginOutcome {
            access_token,
            refresh_token,
            user: UserInfo::from(&user),
            expires_in: secs(self.inner.config.access_ttl),
        })
    }

    fn sign_access(
        &self,
        user: &User,
        sid: &str,
        iat: i64,
        jti: String,
    ) -> Result<AccessToken, Error> {
        let c = &self.inner.config;
        let claims = AccessClaims {
            sub: user.id.to_string(),
            sid: sid.to_owned(),
            role: user.role.clone(),
            org: user.org.clone(),
            iss: c.issuer.clone(),
            aud: c.audience.clone(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(secs(c.access_ttl)),
            jti,
        };
        self.key_ring().sign(&claims)
    }

    /// Rotates a refresh token: the seed's `POST /api/auth/refresh`. Single use; a retry inside
    /// the grace window gets the same pair; a spent token presented later revokes its whole
    /// session ([`Error::RefreshTokenReused`]).
    pub async fn refresh(&self, token: &RefreshToken) -> Result<RefreshOutcome, Error> {
        let span = tracing::info_span!("refresh", user_id = Empty, outcome = Empty);
        let result = self.rotate(token).instrument(span.clone()).await;
        let replayed = matches!(&result, Ok((_, true)));
        crate::observe::refresh(&result, replayed);
        span.record("outcome", crate::observe::outcome(&result));
        result.map(|(outcome, _)| outcome)
    }

    /// The rotation itself, inside its span; with whether it was a retry in the grace window.
    async fn rotate(&self, token: &RefreshToken) -> Result<(RefreshOutcome, bool), Error> {
        let now = self.now();
        let successor = match self
            .inner
            .refresh
            .rotate(&*self.inner.store, token, now)
            .await?
        {
            Rotation::Rotated(successor) => successor,
            Rotation::Reused(r) => {
                tracing::Span::current().record("user_id", r.user_id);
                self.end_sessions(std::slice::from_ref(&r.session_id))
                    .await?;
                self.audit(AuditEvent::RefreshReuseDetected {
                    user_id: r.user_id,
                    session_id: r.session_id,
                });
                return Err(Error::RefreshTokenReused);
            }
        };
        let user = self
            .inner
            .store
            .user_by_id(successor.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        tracing::Span::current().record("user_id", user.id);
        let access_token = self.sign_access(
            &user,
            &successor.session_id,
            successor.issued_at,
            successor.jti,
        )?;
        self.audit(AuditEvent::Refreshed {
            user_id: user.id,
            session_id: successor.session_id,
        });
        let outcome = RefreshOutcome {
            access_token,
            refresh_token: successor.token,
            expires_in: successor
                .issued_at
                .saturating_add(secs(self.inner.config.access_ttl))
                - now,
        };
        Ok((outcome, successor.replayed))
    }

    /// Ends sessions in the store and refuses their access tokens everywhere.
    pub(super) async fn end_sessions(&self, ids: &[String]) -> Result<(), Error> {
        self.inner.revocations.end_sessions(ids, self.now()).await
    }

    /// Ends the principal's session: its refresh family, and its access tokens at once.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn logout(&self, principal: &Principal) -> Result<(), Error> {
        let Some(session) = principal.session() else {
            return Err(ValidationError::NoSessionForApiKey.into());
        };
        self.end_sessions(&[session.to_owned()]).await?;
        self.audit(AuditEvent::LoggedOut {
            user_id: principal.user_id,
            session_id: session.to_owned(),
        });
        Ok(())
    }
}
