//! The CORS policy for [`AuthConfig::allowed_origins`]: which origins may read the API's answers
//! from a browser, with which methods and request headers, and which response headers they see.
//! Decided here once; each adapter hands it to its framework's own CORS middleware (tower-http's
//! `CorsLayer`, actix-cors' `Cors`), which does the header work.

use std::time::Duration;

use crate::config::AuthConfig;

/// What a browser on one of the [allowed origins](AuthConfig::allowed_origins) may do across
/// origins: credentialed requests (the cookie) with [`METHODS`](Self::METHODS) and
/// [`REQUEST_HEADERS`](Self::REQUEST_HEADERS), reading [`EXPOSED_HEADERS`](Self::EXPOSED_HEADERS).
/// Answers carry `Access-Control-Allow-Origin` with the request's exact origin (never `*`, which
/// browsers refuse with credentials) and `Access-Control-Allow-Credentials: true`.
///
/// Built once, by [`HttpApi::new`](super::HttpApi::new) ([`HttpApi::cors`](super::HttpApi::cors));
/// `None` when no origin is configured, and then nothing answers CORS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

impl CorsPolicy {
    /// The methods the API answers to (`Access-Control-Allow-Methods`).
    pub const METHODS: [&'static str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    /// The request headers the API reads that a page must ask leave to send
    /// (`Access-Control-Allow-Headers`). The cookie and `Origin` need no leave.
    pub const REQUEST_HEADERS: [&'static str; 2] = ["authorization", "content-type"];
    /// The response headers a page may read besides the CORS-safelisted ones
    /// (`Access-Control-Expose-Headers`): the wait of a `429` and the challenge of a `401`.
    pub const EXPOSED_HEADERS: [&'static str; 2] = ["retry-after", "www-authenticate"];
    /// How long a browser may cache a preflight's answer (`Access-Control-Max-Age`).
    pub const MAX_AGE: Duration = Duration::from_secs(600);

    /// The policy for `config`'s allowed origins, or `None` when there are none to allow.
    ///
    /// Origins are kept ASCII-lowercased (as browsers send them; the CSRF rule compares them
    /// case-insensitively). Each is a `scheme://host[:port]` origin: the configuration's
    /// validation, which the service runs when built, refuses `*`, `null` and anything else
    /// ([`ConfigError::AllowedOrigin`](crate::error::ConfigError::AllowedOrigin)), so the CSRF
    /// rule and CORS read one checked list.
    pub fn from_config(config: &AuthConfig) -> Option<Self> {
        let mut origins: Vec<String> = config
            .allowed_origins
            .iter()
            .map(|o| o.to_ascii_lowercase())
            .collect();
        origins.sort();
        origins.dedup();
        (!origins.is_empty()).then_some(Self { origins })
    }

    /// The allowed origins, lowercase.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> Option<CorsPolicy> {
        let config = AuthConfig {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..AuthConfig::default()
        };
        CorsPolicy::from_config(&config)
    }

    #[test]
    fn no_origins_no_policy() {
        assert_eq!(policy(&[]), None);
    }

    #[test]
    fn origins_are_kept_lowercase_once() {
        let p = policy(&[
            "https://Admin.Example.com",
            "http://localhost:5173",
            "https://admin.example.com",
        ])
        .unwrap();
        assert_eq!(
            p.origins(),
            ["http://localhost:5173", "https://admin.example.com"]
        );
    }
}
