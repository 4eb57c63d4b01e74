//! Email verification: registration mails a single-use token; `verify_email` spends it.
//!
//! The token is 256 random bits, stored only as its SHA-256, single use (spending one spends
//! every other pending token of the user), and lives
//! [`verification_ttl`](crate::AuthConfig::verification_ttl). A password reset through the mailed
//! link proves the address too, and marks it verified.

use std::net::IpAddr;
use std::sync::Arc;

use tracing::Instrument as _;

use crate::audit::AuditEvent;
use crate::clock::secs;
use crate::email::Email;
use crate::error::Error;
use crate::mail::Mail;
use crate::principal::Principal;
use crate::secret::{MAX_OPAQUE_TOKEN_LEN, TokenHash, VerificationToken, random_token};
use crate::store::User;

use super::{AuthService, Limited};

impl AuthService {
    /// Verifies an address with the token its mail carried: single use, refused once expired
    /// ([`Error::InvalidVerificationToken`], `400`). Submissions are limited per client address.
    #[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty), err(level = "info"))]
    pub async fn verify_email(
        &self,
        token: &VerificationToken,
        client: Option<IpAddr>,
    ) -> Result<(), Error> {
        let t = token.expose();
        if t.is_empty() || t.len() > MAX_OPAQUE_TOKEN_LEN {
            return Err(Error::InvalidVerificationToken);
        }
        self.limit(Limited::VerifyEmail, None, client).await?;
        let user_id = self
            .inner
            .store
            .consume_verification_token(&TokenHash::of(t), self.now())
            .await?
            .ok_or(Error::InvalidVerificationToken)?;
        tracing::Span::current().record("user_id", user_id);
        self.audit(AuditEvent::EmailVerified { user_id });
        Ok(())
    }

    /// Mails the signed-in user a new verification link, within the resend limits of the account
    /// and of `client`. An address already verified gets no mail, and the same answer. Needs a
    /// user's access token.
    #[tracing::instrument(skip_all, fields(user_id = principal.user_id), err(level = "info"))]
    pub async fn resend_verification(
        &self,
        principal: &Principal,
        client: Option<IpAddr>,
    ) -> Result<(), Error> {
        if principal.session().is_none() {
            return Err(crate::error::ValidationError::UserTokenRequired.into());
        }
        let user = self.signed_in_user(principal).await?;
        let email = Email::parse(&user.email).ok();
        self.limit(Limited::ResendVerification, email.as_ref(), client)
            .await?;
        if !user.email_verified {
            self.send_verification(&user);
        }
        Ok(())
    }

    /// Stores a new verification token for `user` and hands it to the mailer, in a background
    /// task: neither the write nor the mail server shows in the answer's timing, and a mail that
    /// fails is logged, not returned.
    pub(super) fn send_verification(&self, user: &User) {
        let token = match random_token() {
            Ok(t) => VerificationToken::new(t),
            Err(e) => {
                tracing::error!(error = %e, user_id = user.id, "verification token not drawn; no mail sent");
                return;
            }
        };
        let expires_at = self
            .now()
            .saturating_add(secs(self.inner.config.verification_ttl));
        let inner = Arc::clone(&self.inner);
        let (user_id, to) = (user.id, user.email.clone());
        self.inner.background.spawn_job(async move {
            let hash = TokenHash::of(token.expose());
            if let Err(e) = inner
                .store
                .create_verification_token(&hash, user_id, expires_at)
                .await
            {
                tracing::error!(error = %e, user_id, "verification token not stored; no mail sent");
                return;
            }
            inner
                .audit
                .record(&AuditEvent::VerificationRequested { user_id });
            if let Err(e) = inner.mailer.send(Mail::verify_email(to, token)).await {
                tracing::error!(error = %e, user_id, "verification mail not delivered");
            }
        }.in_current_span());
    }
}
