//! [`Credential`]: what a presented bearer or cookie value is, decided in one place.
//!
//! A value starting with the configured API-key prefix and `_` (`osk_…`) is an API key and must
//! pass its offline checks (shape, environment, checksum) before any hashing or store lookup;
//! anything else is taken for a JWT and left to the verifier. An empty value is no credential.
//! The HTTP layer finds the value (bearer header, else cookie) and classifies it with
//! [`Credential::parse`] (its answer also decides the `WWW-Authenticate` challenge);
//! `AuthService::authenticate` does the same for a host that holds a bare value. Nothing else
//! inspects a credential's shape.

use crate::api_key::{ApiKeyFormat, ParsedKey};
use crate::error::Error;

/// A presented credential, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A compact JWS, not yet verified.
    Jwt(&'a str),
    /// An API key that passed the offline checks, not yet looked up.
    ApiKey(ParsedKey<'a>),
}

impl<'a> Credential<'a> {
    /// Classifies `value` with the API-key `format` of the deployment: an empty value is
    /// [`Error::MissingCredentials`]; a value with the key prefix that fails the offline checks
    /// is [`Error::InvalidApiKey`]. Does not allocate.
    pub fn parse(value: &'a str, format: &ApiKeyFormat) -> Result<Self, Error> {
        if value.is_empty() {
            return Err(Error::MissingCredentials);
        }
        if format.looks_like_key(value) {
            return format.parse(value).map(Credential::ApiKey);
        }
        Ok(Credential::Jwt(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::Environment;

    #[test]
    fn classifies_once() {
        let format = ApiKeyFormat::new("osk").unwrap();
        let minted = format.mint(Environment::Test).unwrap();
        let key = minted.key.expose();
        match Credential::parse(key, &format).unwrap() {
            Credential::ApiKey(parsed) => {
                assert_eq!(parsed.environment(), Environment::Test);
                assert_eq!(parsed.as_str(), key);
            }
            other => panic!("an API key classified as {other:?}"),
        }
        assert_eq!(
            Credential::parse("eyJhbGciOi.x.y", &format).unwrap(),
            Credential::Jwt("eyJhbGciOi.x.y")
        );
        assert!(matches!(
            Credential::parse("", &format),
            Err(Error::MissingCredentials)
        ));
        // The prefix claims a key: a broken one is refused here, never tried as a JWT.
        let mut typo = key.to_owned();
        typo.pop();
        typo.push(if key.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            Credential::parse(&typo, &format),
            Err(Error::InvalidApiKey)
        ));
        // Another deployment's prefix is not this deployment's key.
        let other = ApiKeyFormat::new("acme").unwrap();
        assert!(matches!(
            Credential::parse(key, &other),
            Ok(Credential::Jwt(_))
        ));
    }
}
