//! Password resets: forgot-password mails a single-use token; reset-password spends it.

use std::net::IpAddr;
use std::sync::Arc;

use tracing::Instrument as _;

use crate::audit::AuditEvent;
use crate::clock::secs;
use crate::error::Error;
use crate::mail::Mail;
use crate::secret::{MAX_OPAQUE_TOKEN_LEN, Password, ResetToken, TokenHash, random_token};
use crate::store::UserChange;

use super::{AuthService, Limited};

impl AuthService {
    /// Starts a password reset. The answer, and the work done before it, are the same whether or
    /// not the email exists: one lookup, then a background task. For an existing account that task
    /// stores the reset token's hash and hands the token to the mailer, so neither a database
    /// write nor the mail server shows in the answer's timing.
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn forgot_password(&self, email: &str, client: Option<IpAddr>) -> Result<(), Error> {
        let (_, user) = self
            .account_attempt(Limited::ForgotPassword, email, client)
            .await?;
        let token = ResetToken::new(random_token()?);
        let expires_at = self.now().saturating_add(secs(self.inner.config.reset_ttl));
        let inner = Arc::clone(&self.inner);
        self.inner.background.spawn_job(async move {
            let Some(user) = user else { return };
            let hash = TokenHash::of(token.expose());
            if let Err(e) = inner
                .store
                .create_reset_token(&hash, user.id, expires_at)
                .await
            {
                tracing::error!(error = %e, user_id = user.id, "reset token not stored; no mail sent");
                return;
            }
            inner
                .audit
                .record(&AuditEvent::PasswordResetRequested { user_id: user.id });
            if let Err(e) = inner
                .mailer
                .send(Mail::password_reset(user.email, token))
                .await
            {
                tracing::error!(error = %e, user_id = user.id, "password-reset mail not delivered");
            }
        }.in_current_span());
        Ok(())
    }

    /// Sets a new password with a reset token: the token (and every other pending reset of the
    /// user) is spent, and every session of the user is revoked, their access tokens at once.
    /// A made-up token is refused before any argon2 work; a refused password leaves the token
    /// usable.
    #[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty), err(level = "info"))]
    pub async fn reset_password(
        &self,
        token: &ResetToken,
        new_password: &Password,
    ) -> Result<(), Error> {
        let t = token.expose();
        if t.is_empty() || t.len() > MAX_OPAQUE_TOKEN_LEN {
            return Err(Error::InvalidResetToken);
        }
        self.inner.hasher.check_policy(new_password)?;
        let hash = TokenHash::of(t);
        if self
            .inner
            .store
            .reset_token_user(&hash, self.now())
            .await?
            .is_none()
        {
            return Err(Error::InvalidResetToken);
        }
        let password_hash = self.inner.hasher.hash(new_password).await?;
        let user_id = self
            .inner
            .store
            .consume_reset_token(&hash, self.now())
            .await?
            .ok_or(Error::InvalidResetToken)?;
        if !self
            .inner
            .revocations
            .change_user(user_id, UserChange::PasswordHash(password_hash), self.now())
            .await?
        {
            return Err(Error::InvalidResetToken);
        }
        tracing::Span::current().record("user_id", user_id);
        self.audit(AuditEvent::PasswordReset { user_id });
        Ok(())
    }
}
