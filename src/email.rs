//! [`Email`]: an email address, normalised once, when it is made.

use std::fmt;

use crate::error::ValidationError;

/// Longest email accepted (RFC 5321's path limit).
pub(crate) const MAX_EMAIL_LEN: usize = 254;

/// An email address, trimmed and lower-cased: two spellings of one address are one account.
///
/// The check is deliberately loose (one `@` with something on each side, no spaces or control
/// characters, at most 254 bytes): deliverability is the mailer's to prove, not a regex's.
///
/// ```
/// use assimetria_auth::Email;
///
/// let email = Email::parse("  Ada@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "ada@example.com");
/// assert!(Email::parse("not-an-email").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises and checks `text`: [`ValidationError::InvalidEmail`] if it cannot be an address.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let email = text.trim().to_lowercase();
        let valid = email.len() <= MAX_EMAIL_LEN
            && !email.chars().any(|c| c.is_control() || c.is_whitespace())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(ValidationError::InvalidEmail)
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_on_construction() {
        assert_eq!(
            Email::parse(" Alice@Example.COM\t").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(
            Email::parse("a@b").unwrap(),
            Email::parse("A@B").unwrap(),
            "one address, one account"
        );
    }

    #[test]
    fn refuses_what_cannot_be_an_address() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "   ",
            "no-at",
            "@example.com",
            "a@",
            "a@b@c",
            "a b@c",
            "a\0@b",
            &long,
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(ValidationError::InvalidEmail),
                "{bad:?}"
            );
        }
    }
}
