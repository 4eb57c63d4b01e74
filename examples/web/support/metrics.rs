//! `GET /metrics` for both servers: with the `metrics` feature, a Prometheus recorder
//! (`metrics-exporter-prometheus`, without its own HTTP listener) collects what the crate records
//! (`assimetria_auth::observe`), and the servers render it on their own port. Without the
//! feature nothing is installed and the route is not mounted: `/metrics` is a 404 like any
//! unknown path.
//!
//! The route is not authenticated: it shows counts and latencies, never a user, an address or a
//! credential, but it does show traffic and failure rates. Keep it off the public internet (let
//! the reverse proxy refuse `/metrics`, or scrape from inside the network).

use crate::BoxError;

/// The `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How often the recorder's upkeep runs (it trims what histograms keep between scrapes).
#[cfg(feature = "metrics")]
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The installed recorder's handle: renders the metrics for `GET /metrics`.
#[derive(Clone, Debug)]
pub struct Metrics {
    #[cfg(feature = "metrics")]
    handle: metrics_exporter_prometheus::PrometheusHandle,
}

impl Metrics {
    /// With the `metrics` feature: installs the Prometheus recorder as the process's `metrics`
    /// recorder, describes the crate's metrics, starts the upkeep thread, and returns the
    /// handle. Without it: `None`, and the servers mount no `/metrics`.
    pub fn install() -> Result<Option<Metrics>, BoxError> {
        #[cfg(feature = "metrics")]
        {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("metrics recorder: {e}"))?;
            assimetria_auth::observe::describe();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                })?;
            tracing::info!("GET /metrics enabled (Prometheus text format)");
            Ok(Some(Metrics { handle }))
        }
        #[cfg(not(feature = "metrics"))]
        Ok(None)
    }

    /// The metrics in the Prometheus text format (served as [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        #[cfg(feature = "metrics")]
        return self.handle.render();
        #[cfg(not(feature = "metrics"))]
        String::new()
    }
}
