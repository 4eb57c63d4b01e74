//! What the two example servers share, written once so that each server file shows only its web
//! framework: the environment they read ([`Settings`]), the service they build from it
//! ([`Settings::start`]: store, master key, mailer, the admin account), the development mailer
//! ([`OutboxMailer`]), the master key file ([`master_key`]), the demo resources ([`demo`]),
//! the bulk importer ([`import_lines`]), the OpenAPI document they serve ([`openapi`]),
//! `GET /metrics` ([`Metrics`]), logging and shutdown.
//!
//! `examples/web/server.rs` (axum) and `examples/web/server_actix.rs` (actix-web) serve the same
//! API from it; `tests/equivalence.rs` checks that they answer alike.

pub mod demo;
mod import;
pub mod master_key;
pub mod metrics;
pub mod openapi;
mod outbox;
mod settings;

pub use demo::{DemoData, DemoError, Resource};
pub use import::{ImportCounts, import_lines};
pub use metrics::Metrics;
pub use outbox::OutboxMailer;
pub use settings::Settings;

/// The examples' error: whatever stops a server from starting, with a message saying which
/// setting or step failed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): a level (`debug`), or targets with
/// levels (`assimetria_auth=debug,warn`).
pub fn init_logging() -> Result<(), BoxError> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => text
            .parse::<Targets>()
            .map_err(|e| format!("RUST_LOG: {e}"))?,
        _ => Targets::new().with_default(tracing::Level::INFO),
    };
    // Colour only on a terminal: a log file or a CI log gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init()?;
    Ok(())
}

/// Resolves at the first `SIGINT` (Ctrl-C) or `SIGTERM`: the signal to stop taking connections
/// and let the requests in flight finish.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// `url` without its password, for the log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_hide_the_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/auth"),
            "postgres://app:***@db:5432/auth"
        );
        assert_eq!(
            redact_url("sqlite://auth.db?mode=rwc"),
            "sqlite://auth.db?mode=rwc"
        );
    }
}
