//! The servers' settings, read from `ASSIMETRIA_AUTH_*` environment variables, and the service
//! built from them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::config::{ForwardedHeader, IpNet};
use assimetria_auth::rbac::seed;
use assimetria_auth::{
    AuthConfig, AuthService, Error, ImportOptions, MasterKey, Password, PasswordInput, SqlStore,
};

use crate::{BoxError, OutboxMailer, master_key, redact_url};

/// Everything the example servers read from the environment (the README's table), checked:
/// a value that does not parse stops the server with a message naming the variable.
pub struct Settings {
    /// `ASSIMETRIA_AUTH_ADDR`: the listen address (`127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// `ASSIMETRIA_AUTH_DATABASE_URL` (`sqlite://assimetria-auth.db?mode=rwc`).
    pub database_url: String,
    /// `ASSIMETRIA_AUTH_PUBLIC_URL`: the base of reset links (`http://<addr>`).
    pub public_url: String,
    /// `ASSIMETRIA_AUTH_OUTBOX`: the file the development mailer appends to (unset: stdout).
    pub outbox: Option<PathBuf>,
    /// `ASSIMETRIA_AUTH_ADMIN_EMAIL` and `ASSIMETRIA_AUTH_ADMIN_PASSWORD`: the admin created at
    /// start if absent.
    pub admin: Option<(String, Password)>,
    /// `ASSIMETRIA_AUTH_MASTER_KEY`, parsed (unset: see [`master_key::master_keys`]).
    pub master_keys: Option<Vec<MasterKey>>,
    /// `ASSIMETRIA_AUTH_REFRESH_GRACE_SECS` (10 s).
    pub refresh_grace: Duration,
    /// `ASSIMETRIA_AUTH_RATE_LIMIT` (on).
    pub rate_limiting: bool,
    /// `ASSIMETRIA_AUTH_COOKIE_SECURE` (true).
    pub cookie_secure: bool,
    /// `ASSIMETRIA_AUTH_EMAIL_VERIFICATION` (true here): registration mails a verification link.
    pub email_verification: bool,
    /// `ASSIMETRIA_AUTH_REQUIRE_VERIFIED_EMAIL` (false): login needs a verified address.
    pub require_verified_email: bool,
    /// `ASSIMETRIA_AUTH_REFRESH_COOKIE` (false): the refresh token travels in an httpOnly cookie.
    pub refresh_cookie: bool,
    /// `ASSIMETRIA_AUTH_ALLOWED_ORIGINS`: origins allowed to send cookie-authenticated writes and to read the answers (CORS, with credentials).
    pub allowed_origins: Vec<String>,
    /// `ASSIMETRIA_AUTH_TRUSTED_PROXIES`: networks whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `ASSIMETRIA_AUTH_FORWARDED_HEADER` (`x-forwarded-for`).
    pub forwarded_header: ForwardedHeader,
    /// `ASSIMETRIA_AUTH_REDIS_URL`: the Redis every instance counts rate limits in (unset: each
    /// counts in its own memory). Needs the `redis` feature.
    pub redis_url: Option<String>,
}

impl Settings {
    /// The settings from the process environment.
    pub fn from_env() -> Result<Self, BoxError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings from `var`, which looks a variable up by name (blank values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, BoxError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let flag = |name: &str, default: bool| -> Result<bool, BoxError> {
            match var(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "on" | "yes") => Ok(true),
                Some("0" | "false" | "off" | "no") => Ok(false),
                Some(other) => Err(format!("{name}: expected on/off, got {other:?}").into()),
            }
        };
        let list = |name: &str| -> Vec<String> {
            let text = var(name).unwrap_or_default();
            let items = text.split(',').map(str::trim).filter(|s| !s.is_empty());
            items.map(str::to_owned).collect()
        };

        let addr: SocketAddr = var("ASSIMETRIA_AUTH_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| format!("ASSIMETRIA_AUTH_ADDR: {e}"))?;
        let refresh_grace = match var("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS") {
            Some(v) => Duration::from_secs(
                v.trim()
                    .parse()
                    .map_err(|e| format!("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS: {e}"))?,
            ),
            None => Duration::from_secs(10),
        };
        let master_keys = match var("ASSIMETRIA_AUTH_MASTER_KEY") {
            None => None,
            Some(_) => Some(
                list("ASSIMETRIA_AUTH_MASTER_KEY")
                    .iter()
                    .map(|k| MasterKey::from_base64(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("ASSIMETRIA_AUTH_MASTER_KEY: {e}"))?,
            ),
        };
        let trusted_proxies = list("ASSIMETRIA_AUTH_TRUSTED_PROXIES")
            .iter()
            .map(|net| trusted_proxy(net))
            .collect::<Result<Vec<_>, _>>()?;
        let forwarded_header = match var("ASSIMETRIA_AUTH_FORWARDED_HEADER")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
            Some("forwarded") => ForwardedHeader::Forwarded,
            Some(other) => {
                return Err(format!(
                    "ASSIMETRIA_AUTH_FORWARDED_HEADER: expected x-forwarded-for or forwarded, \
                     got {other:?}"
                )
                .into());
            }
        };
        let redis_url = var("ASSIMETRIA_AUTH_REDIS_URL");
        if redis_url.is_some() && !cfg!(feature = "redis") {
            return Err(
                "ASSIMETRIA_AUTH_REDIS_URL is set, but this server was built without the \
                        `redis` feature: rebuild with `--features redis` (or unset the variable)"
                    .into(),
            );
        }
        let admin = match (
            var("ASSIMETRIA_AUTH_ADMIN_EMAIL"),
            var("ASSIMETRIA_AUTH_ADMIN_PASSWORD"),
        ) {
            (Some(email), Some(password)) => Some((email, Password::new(password))),
            _ => None,
        };
        Ok(Self {
            addr,
            database_url: var("ASSIMETRIA_AUTH_DATABASE_URL")
                .unwrap_or_else(|| "sqlite://assimetria-auth.db?mode=rwc".into()),
            public_url: var("ASSIMETRIA_AUTH_PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{addr}")),
            outbox: var("ASSIMETRIA_AUTH_OUTBOX").map(Into::into),
            admin,
            master_keys,
            refresh_grace,
            rate_limiting: flag("ASSIMETRIA_AUTH_RATE_LIMIT", true)?,
            cookie_secure: flag("ASSIMETRIA_AUTH_COOKIE_SECURE", true)?,
            email_verification: flag("ASSIMETRIA_AUTH_EMAIL_VERIFICATION", true)?,
            require_verified_email: flag("ASSIMETRIA_AUTH_REQUIRE_VERIFIED_EMAIL", false)?,
            refresh_cookie: flag("ASSIMETRIA_AUTH_REFRESH_COOKIE", false)?,
            allowed_origins: list("ASSIMETRIA_AUTH_ALLOWED_ORIGINS"),
            trusted_proxies,
            forwarded_header,
            redis_url,
        })
    }

    /// The service's configuration. Without `ASSIMETRIA_AUTH_MASTER_KEY` this reads (or, on the
    /// first start, creates) the SQLite database's master key file.
    pub fn auth_config(&self) -> Result<AuthConfig, BoxError> {
        let master_keys = master_key::master_keys(self.master_keys.as_deref(), &self.database_url)?;
        Ok(AuthConfig::builder()
            .refresh_grace(self.refresh_grace)
            .rate_limiting(self.rate_limiting)
            .cookie_secure(self.cookie_secure)
            .email_verification(self.email_verification)
            .require_verified_email(self.require_verified_email)
            .refresh_cookie(self.refresh_cookie)
            .allowed_origins(self.allowed_origins.clone())
            .master_keys(master_keys)
            .trusted_proxies(self.trusted_proxies.clone())
            .forwarded_header(self.forwarded_header)
            .build()?)
    }

    /// The running service: the configuration, the store (migrated), the development mailer,
    /// and the admin account if one is configured and absent.
    pub async fn start(&self) -> Result<AuthService, BoxError> {
        let service = self.service().await?;
        if let Some((email, password)) = &self.admin {
            // The operator named this address: it counts as verified, so the admin signs in
            // with ASSIMETRIA_AUTH_REQUIRE_VERIFIED_EMAIL on too.
            let password = PasswordInput::Plain(Password::new(password.expose()));
            let verified = ImportOptions::default().email_verified(true);
            let created = service.import_user_with(email, password, seed::ADMIN, verified);
            match created.await {
                Ok(user) => tracing::info!(user_id = user.id, "created the admin account"),
                Err(Error::EmailTaken) => tracing::info!("the admin account exists"),
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(
            addr = %self.addr,
            database = %redact_url(&self.database_url),
            "assimetria-auth example server starting"
        );
        Ok(service)
    }

    /// The service on the configured database, with the development mailer: what the servers
    /// and the bulk importer share.
    pub async fn service(&self) -> Result<AuthService, BoxError> {
        let config = self.auth_config()?;
        // The instances share the master key, so the Redis counters' names derive from it: HMAC
        // keyed with this (one-way) string, so reading Redis tells nothing of the master key, and
        // nobody without it can test guessed emails against the counters.
        #[cfg(feature = "redis")]
        let key_secret = config
            .master_keys
            .first()
            .map(|key| format!("assimetria-auth rate-limit keys:{}", key.expose_base64()));
        let store = SqlStore::connect(&self.database_url).await?;
        let mailer = OutboxMailer {
            path: self.outbox.clone(),
            public_url: self.public_url.clone(),
        };
        let builder = AuthService::builder(config, Arc::new(store)).mailer(Arc::new(mailer));
        #[cfg(feature = "redis")]
        let builder = match &self.redis_url {
            Some(url) => {
                let mut limiter = assimetria_auth::rate_limit::RedisRateLimiter::builder(url);
                if let Some(secret) = key_secret {
                    limiter = limiter.key_secret(secret);
                }
                let limiter = limiter
                    .build()
                    .await
                    .map_err(|e| format!("ASSIMETRIA_AUTH_REDIS_URL: {e}"))?;
                tracing::info!(redis = %limiter.redacted_url(), "rate limits are counted in Redis");
                builder.rate_limiter(Arc::new(limiter))
            }
            None => builder,
        };
        Ok(builder.build().await?)
    }
}

/// One entry of `ASSIMETRIA_AUTH_TRUSTED_PROXIES`: a network, or a bare address (`/32`, `/128`).
fn trusted_proxy(net: &str) -> Result<IpNet, BoxError> {
    match net
        .parse::<IpNet>()
        .or_else(|_| net.parse::<IpAddr>().map(IpNet::from))
    {
        Ok(parsed) if parsed.prefix_len() > 0 => Ok(parsed),
        Ok(_) => Err(format!(
            "ASSIMETRIA_AUTH_TRUSTED_PROXIES: {net:?} would trust every address; list your \
             proxies' own networks"
        )
        .into()),
        Err(_) => Err(format!(
            "ASSIMETRIA_AUTH_TRUSTED_PROXIES: {net:?} is neither a network (10.0.0.0/8, \
             2001:db8::/32) nor an address"
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, BoxError> {
        Settings::from_vars(|name| {
            let found = vars.iter().find(|(n, _)| *n == name);
            found.map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_the_readmes() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://assimetria-auth.db?mode=rwc");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.refresh_grace, Duration::from_secs(10));
        assert!(s.rate_limiting && s.cookie_secure);
        assert!(s.email_verification && !s.require_verified_email && !s.refresh_cookie);
        assert!(s.admin.is_none() && s.outbox.is_none() && s.master_keys.is_none());
        assert!(s.allowed_origins.is_empty() && s.trusted_proxies.is_empty());
        assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
        assert!(s.redis_url.is_none());
    }

    #[test]
    fn a_redis_url_needs_the_redis_feature() {
        let url = "redis://:s3cret@10.0.0.5:6379";
        let read = settings(&[("ASSIMETRIA_AUTH_REDIS_URL", url)]);
        if cfg!(feature = "redis") {
            assert_eq!(read.unwrap().redis_url.as_deref(), Some(url));
        } else {
            let err = read.err().expect("refused without the feature").to_string();
            assert!(err.starts_with("ASSIMETRIA_AUTH_REDIS_URL"), "{err}");
            assert!(
                err.contains("--features redis") && !err.contains("s3cret"),
                "{err}"
            );
        }
    }

    #[test]
    fn values_are_read_and_bad_ones_name_their_variable() {
        let key = MasterKey::generate().unwrap().expose_base64();
        let s = settings(&[
            ("ASSIMETRIA_AUTH_ADDR", "0.0.0.0:9000"),
            ("ASSIMETRIA_AUTH_RATE_LIMIT", "off"),
            ("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS", "0"),
            (
                "ASSIMETRIA_AUTH_ALLOWED_ORIGINS",
                "https://a.example, ,https://b.example",
            ),
            ("ASSIMETRIA_AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7"),
            ("ASSIMETRIA_AUTH_FORWARDED_HEADER", "Forwarded"),
            ("ASSIMETRIA_AUTH_MASTER_KEY", &format!("{key}, {key}")),
            ("ASSIMETRIA_AUTH_ADMIN_EMAIL", "admin@example.com"),
            ("ASSIMETRIA_AUTH_ADMIN_PASSWORD", "change me now"),
        ])
        .unwrap();
        assert_eq!(s.public_url, "http://0.0.0.0:9000");
        assert!(!s.rate_limiting);
        assert_eq!(s.refresh_grace, Duration::ZERO);
        assert_eq!(
            s.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.trusted_proxies[1].prefix_len(), 32);
        assert_eq!(s.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(s.master_keys.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            s.admin.as_ref().map(|(e, _)| e.as_str()),
            Some("admin@example.com")
        );

        for (name, value) in [
            ("ASSIMETRIA_AUTH_ADDR", "localhost"),
            ("ASSIMETRIA_AUTH_RATE_LIMIT", "maybe"),
            ("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS", "-1"),
            ("ASSIMETRIA_AUTH_TRUSTED_PROXIES", "0.0.0.0/0"),
            ("ASSIMETRIA_AUTH_TRUSTED_PROXIES", "proxy.internal"),
            ("ASSIMETRIA_AUTH_FORWARDED_HEADER", "x-real-ip"),
            ("ASSIMETRIA_AUTH_MASTER_KEY", "c2hvcnQ="),
        ] {
            let err = settings(&[(name, value)]).err().expect(name).to_string();
            assert!(err.starts_with(name), "{name}={value}: {err}");
        }
    }
}
