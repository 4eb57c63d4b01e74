//! # assimetria-auth
//!
//! Production-grade authentication for a Rust service in a few lines: email + password accounts,
//! 24 h JWT access tokens, single-use rotating refresh tokens, an httpOnly browser cookie,
//! organization API keys (`osk_live_…` / `osk_test_…`) and an admin / member / viewer permission
//! matrix, with an axum adapter and storage you plug in (in memory, SQLite, PostgreSQL).
//!
//! It speaks the seed HTTP API exactly: `POST /api/auth/login` answers
//! `{"success": true, "token", "refresh_token", "user": {"id", "email", "role"}}` and sets
//! `assimetria_jwt=…; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=86400`.
//!
//! ## Quickstart
//!
//! ```
//! use std::sync::Arc;
//! use assimetria_auth::{AuthConfig, AuthService, Error, MemoryStore, Password, rbac::seed};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let auth = AuthService::builder(AuthConfig::default(), Arc::new(MemoryStore::new()))
//!     .build()
//!     .await?;
//!
//! // Register (new users get the minimum role, viewer) and sign in.
//! auth.register("ada@example.com", &Password::new("correct horse battery"), None).await?;
//! let login = auth.login("ada@example.com", &Password::new("correct horse battery"), None).await?;
//!
//! // Every request: a bearer value (JWT or API key) or the cookie value becomes a Principal.
//! let principal = auth.authenticate(login.access_token.expose()).await?;
//! assert_eq!(principal.role, seed::VIEWER);
//! assert!(auth.require(&principal, seed::TasksRead).is_ok());
//! assert!(matches!(auth.require(&principal, seed::TasksWrite), Err(Error::Forbidden(_))));
//!
//! // Refresh tokens are single-use: each refresh hands out a new pair.
//! let next = auth.refresh(&login.refresh_token).await?;
//! assert_ne!(next.refresh_token, login.refresh_token);
//!
//! // Logout revokes the session's access tokens at once, not in 24 h.
//! auth.logout(&principal).await?;
//! assert!(auth.authenticate(login.access_token.expose()).await.is_err());
//! # Ok(())
//! # }
//! ```
//!
//! The admin / member / viewer matrix is the default [`Policy`] ([`rbac::seed`]); a host declares
//! its own permissions and roles in one [`policy!`] (see [`rbac`]).
//!
//! With the `axum` feature, `axum::routes` serves the seed's HTTP API, `axum::AuthLayer`
//! authenticates each request once, and `axum::Require<P>` (or `axum::require::<P>()` for a whole
//! router) guards your own handlers; with `actix`, `actix::configure`, `actix::Authenticate` and
//! the same `Require` do it for actix-web. `examples/web/` holds complete servers for both.
//!
//! Beyond the seed, each user manages their own account: [`AuthService::list_sessions`],
//! [`AuthService::end_session`] and [`AuthService::logout_scope`] (`others`, `global`),
//! [`AuthService::change_password`], and email verification ([`AuthService::verify_email`],
//! with [`AuthConfig::email_verification`] and [`AuthConfig::require_verified_email`]). Existing
//! users come in with [`AuthService::import_user`]: a plaintext password, or the bcrypt, scrypt,
//! PBKDF2 or argon2 hash another system stored ([`PasswordInput`]), replaced with argon2id at
//! their first login. [`AuthConfig::refresh_cookie`] moves the refresh token into an httpOnly
//! cookie for single-page apps.
//!
//! ## Where each concern lives
//!
//! The front door is the root: [`AuthService`] (built with [`AuthService::builder`]) and the
//! types its flows take and return. Public modules are the ones a host names to configure,
//! extend or mount the crate; the rest are private, their user-facing types re-exported here.
//!
//! | module | concern |
//! |---|---|
//! | root | [`AuthService`], [`AuthServiceBuilder`], [`Principal`], [`Credential`], [`Email`], the secret types ([`Password`], [`AccessToken`], [`RefreshToken`], [`ResetToken`], [`VerificationToken`], [`ApiKeySecret`]), [`PasswordInput`], the flows' inputs and outcomes, [`MasterKey`] |
//! | [`config`] | [`AuthConfig`] and its parts: lifetimes, argon2 costs, cookie, rate limits, trusted proxies |
//! | [`cache`] | [`CacheConfig`]: the bounded in-process caches of verified access tokens and API keys |
//! | [`error`] | [`Error`] (one status and wire code per variant) and its typed details |
//! | [`rbac`] | [`Role`], [`Permission`], [`Policy`], the [`policy!`] declaration and its markers for `Require<P>`, the seed's preset |
//! | [`store`] | the storage traits, [`MemoryStore`], `SqlStore` (SQLite, PostgreSQL), and with `test-util` the conformance suite a host's own store runs |
//! | [`token`] | signing keys and the key ring: JWT signing and verification, the JWKS |
//! | [`api_key`] | the `osk_live_…` / `osk_test_…` key format, checked offline |
//! | [`http`] | the seed's HTTP API, framework-free: one endpoint table, replies in the seed's shapes |
//! | `axum`, `actix` | the adapters: authentication middleware, guards, extractors, CORS, route mounting (features `axum`, `actix`) |
//! | [`audit`], [`mail`], [`clock`], [`rate_limit`] | the parts a host may replace: audit sink, mailer, clock, rate limiter |
//! | [`observe`] | the flows' `tracing` spans and the metric names (through the `metrics` facade) |
//!
//! Inside, private: `service` (one file per family of flows), `principal`, `credential`
//! (classifying a presented value), `revocation` (the revocation set, its log, poller and push),
//! `refresh` (rotation rules), `password` (argon2id workers), `keys` (sealing under the master
//! key), `secret`, `email`.
//!
//! ## The request's way through the crate
//!
//! ```text
//! Authorization: Bearer …  |  Cookie: assimetria_jwt=…
//!    -> http: finds the value (bearer header, else cookie); CSRF rule for cookie writes
//!    -> Credential::parse (no allocation; `osk_` prefix => API key, else JWT)
//!    -> API key: checksum (offline) -> SHA-256 -> verified-key cache (hit: done, no I/O)
//!                -> else one store read: the key and its creator's current role -> revoked?
//!                -> the creator's role caps the key's role -> cached
//!       JWT:     header compared with each key's own (else parsed: kid selects the key, the
//!                key pins the algorithm) -> verified-token cache (hit: skip to revocation)
//!                -> signature -> typ/iss/aud/exp/nbf -> cached
//!                -> session revoked? (in-process set, lock-free, no I/O)
//!    -> Arc<Principal> { subject, org, role, kind: User{session} | ApiKey{id, environment} }
//!    -> Policy: role holds the Permission? -> Ok | Error::Forbidden (403)
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | `store::sql::SqlStore` on an embedded SQLite file (`SqlStore::connect("sqlite://auth.db?mode=rwc")`) |
//! | `postgres` | no | `store::sql::SqlStore` on PostgreSQL (`SqlStore::connect("postgres://…?sslmode=verify-full")`, TLS by rustls), revocations pushed by `LISTEN`/`NOTIFY` |
//! | `axum` | no | `axum`: the layer, guards, extractors, CORS (tower-http) and the seed's routes for axum 0.8 |
//! | `actix` | no | `actix`: the same for actix-web 4 (CORS by actix-cors) |
//! | `redis` | no | `rate_limit::RedisRateLimiter`: the rate limits counted in one Redis that every instance shares, so N instances admit a limit once, not N times |
//! | `openapi` | no | `http::openapi::document`: an OpenAPI 3.1 document of the HTTP API, following the configuration (no extra dependency) |
//! | `test-util` | no | `store::conformance` and `store_conformance_tests!`: the store conformance suite, for the tests of a store you write |
//!
//! Features only add; none changes what another does.
//!
//! ## Security notes
//!
//! * Refresh tokens, reset tokens and API keys are stored only as SHA-256 hashes; the plaintext
//!   exists once, in the response that hands it out.
//! * Verification pins the algorithm to the key the `kid` names; `alg: none` and algorithm
//!   confusion never verify; access tokens carry `typ: at+jwt` so no other token passes as one.
//! * Unknown email and wrong password are one error after the same argon2id work; forgot-password
//!   answers the same for existing and missing emails and mails from a background task.
//! * A refresh token presented again after the grace window revokes its whole family.
//! * Logout, password reset and role changes revoke access tokens at once (an in-process set kept
//!   current from the store's revocation log, so every instance learns within a poll interval;
//!   on PostgreSQL the store pushes each change, and they learn within milliseconds).
//! * argon2id runs on `hash_concurrency` dedicated workers that reuse their memory, behind a
//!   bounded queue: a login flood cannot grow memory past `hash_concurrency × m_cost`.
//! * Signing keys and server secrets are sealed (XChaCha20-Poly1305) under the host's master keys
//!   before they reach the store: a copy of the database mints no token ([`MasterKey`]).
//! * A password-hash upgrade at login is compare-and-set over the verified hash, and a role
//!   change or reset ends the user's sessions in the same transaction, so no race restores an old
//!   password or role.
//! * Rate limits count the client address: the TCP peer, unless it is one of the configured
//!   `trusted_proxies`, whose forwarding header (`X-Forwarded-For` or RFC 7239 `Forwarded`, one
//!   configured choice) is then walked from the right (`http::client_address`). IPv6 clients are
//!   counted per /64. The in-memory limiter's table is bounded and evicts its oldest windows under
//!   a flood instead of refusing everyone. The Redis limiter (feature `redis`) names its counters
//!   by HMAC-SHA-256 under a secret the instances share, so no email reaches Redis and its keys
//!   cannot be matched against guesses, and a Redis outage costs each request at most a bounded
//!   timeout.
//! * Secrets are types with redacted `Debug` and constant-time equality; no secret reaches a log,
//!   an audit event or an error message.
//! * Rows that can no longer matter (expired refresh tokens, ended sessions, spent reset and
//!   verification tokens, revocation entries no longer in force) are deleted in bounded batches by
//!   a janitor ([`AuthService::purge_expired`]); a spent refresh token is kept until its own
//!   expiry, so its reuse is still detected. Spans and metrics ([`observe`]) carry identifiers
//!   and outcomes only, never a secret or an email.
//! * Cookie-authenticated writes need a same-origin `Origin` (CSRF); bodies are capped (64 KiB).
//!   With [`AuthConfig::refresh_cookie`] on, the refresh token lives in an httpOnly,
//!   `SameSite=Strict` cookie scoped to `/api/auth`, and a refresh that reads it obeys the same
//!   rule.
//! * Imported hashes are checked at import (scheme, shape, and costs bounded so that no stored
//!   hash holds a hashing worker for long); a login against one also does an unknown email's
//!   argon2id work, and a password longer than bcrypt's 72 bytes never matches a bcrypt hash.
//! * A password change is compare-and-set over the verified hash and ends the user's other
//!   sessions in the same transaction; a wrong current password counts toward the login limit.
//!   Verification tokens, like reset tokens, are single use and stored only as hashes.
//! * `#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Public modules: what a host names to configure, extend or mount the crate.
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
pub mod api_key;
pub mod audit;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod mail;
pub mod observe;
pub mod rate_limit;
pub mod rbac;
pub mod store;
pub mod token;

// Private modules: their public types are re-exported below.
mod credential;
mod email;
mod keys;
mod password;
mod principal;
mod refresh;
mod revocation;
mod secret;
mod service;

// The README's Rust examples compile and run as doc tests (its host example uses axum, the shared
// rate limiter's needs `redis`).
#[cfg(all(doctest, feature = "axum", feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use api_key::Environment;
pub use cache::CacheConfig;
pub use config::AuthConfig;
pub use credential::Credential;
pub use email::Email;
pub use error::Error;
pub use keys::MasterKey;
pub use password::PasswordInput;
pub use principal::{Principal, PrincipalKind};
pub use rbac::{Permission, Policy, Role};
pub use secret::{
    AccessToken, ApiKeySecret, MailToken, Password, RefreshToken, ResetToken, VerificationToken,
};
pub use service::{
    ApiKeyInfo, AuthService, AuthServiceBuilder, CleanupReport, ClientInfo, CreatedApiKey,
    ImportOptions, ImportRecord, LoginOutcome, LogoutScope, RefreshOutcome, SessionInfo, SignUp,
    UserInfo,
};
pub use store::memory::MemoryStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use store::sql::SqlStore;
