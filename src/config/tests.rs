//! The configuration's defaults and the invariants `build` enforces.

use super::*;

#[test]
fn defaults_are_the_documented_ones() {
    let c = AuthConfig::default();
    assert_eq!(c.access_ttl, Duration::from_secs(86_400));
    assert_eq!(c.cookie.name, "assimetria_jwt");
    assert_eq!(c.default_role, seed::VIEWER);
    assert!(c.leeway <= Duration::from_secs(60));
    assert_eq!(c.argon2, Argon2Params::OWASP_MINIMUM);
    c.validate().unwrap();
}

#[test]
fn weak_argon2_is_refused() {
    let weak = Argon2Params {
        memory_kib: 4096,
        iterations: 1,
        parallelism: 1,
    };
    assert!(AuthConfig::builder().argon2(weak).build().is_err());
    assert!(
        AuthConfig::builder()
            .api_key_prefix("OSK!")
            .build()
            .is_err()
    );
    assert!(
        AuthConfig::builder()
            .leeway(Duration::from_secs(3600))
            .build()
            .is_err()
    );
}

#[test]
fn trusted_proxies_default_to_none_and_refuse_everyone() {
    let c = AuthConfig::default();
    assert!(c.trusted_proxies.is_empty());
    assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
    assert_eq!(c.forwarded_header.name(), "x-forwarded-for");
    assert_eq!(ForwardedHeader::Forwarded.name(), "forwarded");
    let net = |s: &str| s.parse::<IpNet>().unwrap();
    let c = AuthConfig::builder()
        .trusted_proxies(vec![net("10.0.0.0/8"), net("2001:db8::/32")])
        .forwarded_header(ForwardedHeader::Forwarded)
        .build()
        .unwrap();
    assert_eq!(c.trusted_proxies.len(), 2);
    assert!(
        AuthConfig::builder()
            .trusted_proxies(vec![net("::ffff:10.0.0.0/104")])
            .build()
            .is_ok()
    );
    assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
    for everyone in ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "::/32"] {
        assert!(
            AuthConfig::builder()
                .trusted_proxies(vec![net(everyone)])
                .build()
                .is_err(),
            "{everyone}"
        );
    }
}

#[test]
fn allowed_origins_must_be_origins() {
    let with = |origins: &[&str]| {
        let origins = origins.iter().map(|o| (*o).to_owned()).collect();
        AuthConfig::builder().allowed_origins(origins).build()
    };
    assert!(with(&["https://app.example.com", "http://localhost:5173"]).is_ok());
    for bad in [
        "*",
        "null",
        "https://*.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "https://user@app.example.com",
        "https://evil.example com",
        "",
    ] {
        let refused = with(&["https://app.example.com", bad]);
        assert!(
            matches!(refused, Err(Error::Config(ConfigError::AllowedOrigin))),
            "{bad:?}"
        );
    }
}
