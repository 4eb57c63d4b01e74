//! The [`Mailer`] a host implements to deliver password-reset and email-verification mail.

use std::fmt;

use async_trait::async_trait;

use crate::error::Error;
use crate::secret::{MailToken, ResetToken, VerificationToken};

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailKind {
    /// A password-reset link or code.
    PasswordReset,
    /// A link or code that proves the recipient receives mail at the address.
    VerifyEmail,
}

impl MailKind {
    /// `password_reset` or `verify_email`.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::VerifyEmail => "verify_email",
        }
    }
}

/// One message to deliver. The token is secret: deliver it, never log it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// What it is for.
    pub kind: MailKind,
    /// The token to include (for the reset or verification page to send back).
    pub token: MailToken,
}

impl Mail {
    /// A password-reset mail.
    pub fn password_reset(to: String, token: ResetToken) -> Self {
        Self {
            to,
            kind: MailKind::PasswordReset,
            token: MailToken::new(token.expose()),
        }
    }

    /// An email-verification mail.
    pub fn verify_email(to: String, token: VerificationToken) -> Self {
        Self {
            to,
            kind: MailKind::VerifyEmail,
            token: MailToken::new(token.expose()),
        }
    }
}

/// Delivers mail. The service calls it off the request path (in a spawned task), so a slow mail
/// server changes neither the answer nor its timing.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Delivers `mail`.
    async fn send(&self, mail: Mail) -> Result<(), Error>;
}

/// A mailer for hosts that have none: it logs that a mail was due (without the token) and drops it.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardMailer;

#[async_trait]
impl Mailer for DiscardMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        tracing::warn!(to = %mail.to, kind = mail.kind.as_str(), "no mailer configured; mail dropped");
        Ok(())
    }
}
