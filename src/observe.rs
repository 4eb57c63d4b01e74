//! Observability: the `tracing` spans the flows open and the metrics they record.
//!
//! # Spans
//!
//! Every flow of [`AuthService`](crate::AuthService) runs in a span of the target
//! `assimetria_auth::…` named after it: `register`, `login`, `refresh`, `logout`,
//! `logout_scope`, `list_sessions`, `end_session`, `change_password`, `forgot_password`,
//! `reset_password`, `verify_email`, `resend_verification`, `create_api_key`, `list_api_keys`,
//! `revoke_api_key`, `create_user`, `list_users`, `set_role`, `remove_user`, `import_user`,
//! `add_user`, `rotate_signing_key` and `shutdown` at `INFO`; `authenticate` (the per-request
//! path), `sync_revocations` and `flush` (periodic background work) at `DEBUG`, so that a
//! subscriber at `INFO` pays nothing for them.
//!
//! The fields are identifiers only: `user_id` (the acting or affected user), `target_user_id`,
//! `role`, `key_id`, `environment`, `scope`, `kind` (`jwt` or `api_key`), and `outcome`
//! (`success`, or the wire's error code: `invalid_credentials`, `rate_limited`, …) on `login`,
//! `refresh` and `authenticate`. Other flows report a failure as an event inside their span
//! (`error` = the error's message). No span or event carries a password, a token, an API key
//! or a hash; none but the audit events (target `assimetria_auth::audit`, written by the default
//! [`TracingAudit`](crate::audit::TracingAudit) sink) carries an email address or a session id:
//! those name the email a failed login tried and the sessions that ended, which is what an audit
//! trail is for. A host that ships logs where personal data must not go plugs in its own
//! [`AuditSink`](crate::audit::AuditSink).
//!
//! # Metrics
//!
//! Recorded through the [`metrics`](https://docs.rs/metrics) facade: without a recorder
//! installed by the host, each is a few atomic loads. Labels are fixed strings (bounded
//! cardinality; never a user, an email or an address). Install the recorder before building
//! the service, and call [`describe`] once to give each metric its help text.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `assimetria_auth_logins_total` | counter | `outcome`: `success`, `invalid_credentials`, `rate_limited`, `email_not_verified`, `overloaded`, `error` | login attempts ([`login`](crate::AuthService::login)) |
//! | `assimetria_auth_refreshes_total` | counter | `outcome`: `success`, `grace_retry`, `invalid`, `reuse_detected`, `error` | refresh-token presentations |
//! | `assimetria_auth_token_authentications_total` | counter | `outcome`: `expired`, `revoked`, `invalid` | access tokens refused. An accepted one is not counted: that is the per-request hot path, and the request rate is the HTTP layer's to count |
//! | `assimetria_auth_api_key_authentications_total` | counter | `outcome`: `success`, `invalid`, `error` | API keys authenticated (cache hits included) |
//! | `assimetria_auth_rate_limited_total` | counter | `action`: `login`, `forgot_password`, `register`, `resend_verification`, `verify_email` | attempts refused by the rate limiter (any limiter backend) |
//! | `assimetria_auth_password_queue_depth` | gauge | none | argon2 jobs waiting for a worker |
//! | `assimetria_auth_password_queue_wait_seconds` | histogram | none | how long a job waited for a worker |
//! | `assimetria_auth_password_verify_seconds` | histogram | none | a password verification as its caller waits for it (queue and argon2; unknown users' equal work included) |

use std::sync::Arc;
use std::time::Instant;

use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::error::{Error, TokenError};
use crate::principal::Principal;

/// Login attempts, by `outcome`.
pub const LOGINS: &str = "assimetria_auth_logins_total";
/// Refresh-token presentations, by `outcome`.
pub const REFRESHES: &str = "assimetria_auth_refreshes_total";
/// Access-token authentications, by `outcome`.
pub const TOKEN_AUTHENTICATIONS: &str = "assimetria_auth_token_authentications_total";
/// API-key authentications, by `outcome`.
pub const API_KEY_AUTHENTICATIONS: &str = "assimetria_auth_api_key_authentications_total";
/// Attempts refused by the rate limiter, by `action`.
pub const RATE_LIMITED: &str = "assimetria_auth_rate_limited_total";
/// Argon2 jobs waiting for a worker.
pub const PASSWORD_QUEUE_DEPTH: &str = "assimetria_auth_password_queue_depth";
/// Seconds an argon2 job waited for a worker.
pub const PASSWORD_QUEUE_WAIT: &str = "assimetria_auth_password_queue_wait_seconds";
/// Seconds a password verification took, as its caller waited for it.
pub const PASSWORD_VERIFY: &str = "assimetria_auth_password_verify_seconds";

/// Gives every metric above its unit and help text, on the recorder installed now: call it once
/// after installing one (an exporter shows the text as `# HELP`). Recording works without it.
pub fn describe() {
    describe_counter!(LOGINS, Unit::Count, "Login attempts, by outcome.");
    describe_counter!(
        REFRESHES,
        Unit::Count,
        "Refresh-token presentations, by outcome."
    );
    describe_counter!(
        TOKEN_AUTHENTICATIONS,
        Unit::Count,
        "Access tokens refused, by outcome (accepted ones are not counted)."
    );
    describe_counter!(
        API_KEY_AUTHENTICATIONS,
        Unit::Count,
        "API-key authentications, by outcome."
    );
    describe_counter!(
        RATE_LIMITED,
        Unit::Count,
        "Attempts refused by the rate limiter, by action."
    );
    describe_gauge!(
        PASSWORD_QUEUE_DEPTH,
        Unit::Count,
        "Argon2 jobs waiting for a worker."
    );
    describe_histogram!(
        PASSWORD_QUEUE_WAIT,
        Unit::Seconds,
        "Seconds an argon2 job waited for a worker."
    );
    describe_histogram!(
        PASSWORD_VERIFY,
        Unit::Seconds,
        "Seconds a password verification took, queue included."
    );
}

// Every label below is a literal at its call site: `metrics` then builds the key in a `static`,
// and recording allocates nothing (the authentication path stays at zero allocations).

/// Counts a login by its result.
pub(crate) fn login<T>(result: &Result<T, Error>) {
    let c = match result {
        Ok(_) => counter!(LOGINS, "outcome" => "success"),
        Err(Error::InvalidCredentials) => counter!(LOGINS, "outcome" => "invalid_credentials"),
        Err(Error::RateLimited { .. }) => counter!(LOGINS, "outcome" => "rate_limited"),
        Err(Error::EmailNotVerified) => counter!(LOGINS, "outcome" => "email_not_verified"),
        Err(Error::Overloaded) => counter!(LOGINS, "outcome" => "overloaded"),
        Err(_) => counter!(LOGINS, "outcome" => "error"),
    };
    c.increment(1);
}

/// Counts a refresh by its result; `replayed` for a retry inside the grace window.
pub(crate) fn refresh<T>(result: &Result<T, Error>, replayed: bool) {
    let c = match result {
        Ok(_) if replayed => counter!(REFRESHES, "outcome" => "grace_retry"),
        Ok(_) => counter!(REFRESHES, "outcome" => "success"),
        Err(Error::InvalidRefreshToken) => counter!(REFRESHES, "outcome" => "invalid"),
        Err(Error::RefreshTokenReused) => counter!(REFRESHES, "outcome" => "reuse_detected"),
        Err(_) => counter!(REFRESHES, "outcome" => "error"),
    };
    c.increment(1);
}

/// Counts an access token's refusal. An accepted token is not counted: the success path is the
/// per-request hot path, where even a no-op counter costs a measurable share (`benches/hot_path`).
pub(crate) fn token_authentication(result: &Result<Arc<Principal>, Error>) {
    let c = match result {
        Ok(_) => return,
        Err(Error::InvalidToken(TokenError::Expired)) => {
            counter!(TOKEN_AUTHENTICATIONS, "outcome" => "expired")
        }
        Err(Error::InvalidToken(TokenError::Revoked)) => {
            counter!(TOKEN_AUTHENTICATIONS, "outcome" => "revoked")
        }
        Err(_) => counter!(TOKEN_AUTHENTICATIONS, "outcome" => "invalid"),
    };
    c.increment(1);
}

/// Counts an API-key authentication by its result.
pub(crate) fn api_key_authentication(result: &Result<Arc<Principal>, Error>) {
    let c = match result {
        Ok(_) => counter!(API_KEY_AUTHENTICATIONS, "outcome" => "success"),
        Err(Error::InvalidApiKey) => counter!(API_KEY_AUTHENTICATIONS, "outcome" => "invalid"),
        Err(_) => counter!(API_KEY_AUTHENTICATIONS, "outcome" => "error"),
    };
    c.increment(1);
}

/// The span field `outcome` of a result: `success` or the wire's error code.
pub(crate) fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(e) => e.code(),
    }
}

/// Runs a password verification, recording how long its caller waited for it (queue included)
/// in [`PASSWORD_VERIFY`].
pub(crate) async fn verification<T>(check: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = check.await;
    histogram!(PASSWORD_VERIFY).record(started.elapsed().as_secs_f64());
    out
}

/// An argon2 job on its way to a worker: counted in [`PASSWORD_QUEUE_DEPTH`] until a worker
/// [`starts`](Self::started) it (or it is dropped unrun).
#[derive(Debug)]
pub(crate) struct Queued {
    at: Instant,
}

impl Queued {
    /// A job enters the queue.
    pub(crate) fn enter() -> Self {
        gauge!(PASSWORD_QUEUE_DEPTH).increment(1.0);
        Self { at: Instant::now() }
    }

    /// A worker takes the job: its wait goes to [`PASSWORD_QUEUE_WAIT`].
    pub(crate) fn started(self) {
        histogram!(PASSWORD_QUEUE_WAIT).record(self.at.elapsed().as_secs_f64());
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        gauge!(PASSWORD_QUEUE_DEPTH).decrement(1.0);
    }
}
