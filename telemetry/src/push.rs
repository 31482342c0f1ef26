//! Pushing a batch job's results to a Prometheus Pushgateway.
//!
//! The coordinator and the trainer's per-run work are batch jobs: nothing would be there to
//! scrape when Prometheus comes by, so they push their numbers once at the end. Each push
//! `PUT`s the job's whole group (`/metrics/job/<job>`), replacing the previous run's series;
//! the history lives in Prometheus, and `run_id` labels tell the runs apart there.
//!
//! Written over our `reqwest` client rather than the `prometheus` crate's `push` feature:
//! that feature pulls a second, blocking HTTP stack (and protobuf) into an async program for
//! one `PUT` of text.
//!
//! ```
//! use ticketflow_telemetry::push::BatchMetrics;
//!
//! let mut batch = BatchMetrics::new();
//! batch.gauge("ticketflow_run_tickets", "Tickets in the run.", &[("run_id", "r1")], 3553.0);
//! assert!(batch.render().contains("ticketflow_run_tickets{run_id=\"r1\"} 3553"));
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

/// Gauges describing one finished batch job, built up then pushed in one request.
#[derive(Default)]
pub struct BatchMetrics {
    registry: Registry,
    families: BTreeMap<String, (Vec<String>, GaugeVec)>,
}

impl BatchMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name{labels} = value`. Every use of one name must pass the same label names
    /// (Prometheus requires it); a mismatch is dropped with an error log rather than a panic.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let names: Vec<String> = labels.iter().map(|(k, _)| (*k).to_string()).collect();
        if !self.families.contains_key(name) {
            let label_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let made = GaugeVec::new(Opts::new(name, help), &label_refs)
                .map_err(|e| e.to_string())
                .and_then(|g| {
                    self.registry
                        .register(Box::new(g.clone()))
                        .map(|()| g)
                        .map_err(|e| e.to_string())
                });
            match made {
                Ok(g) => {
                    self.families.insert(name.to_string(), (names.clone(), g));
                }
                Err(e) => {
                    tracing::error!(metric = name, error = %e, "invalid batch metric");
                    return;
                }
            }
        }
        let Some((expected, family)) = self.families.get(name) else {
            return;
        };
        if *expected != names {
            tracing::error!(metric = name, "batch metric used with different labels");
            return;
        }
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        family.with_label_values(&values).set(value);
    }

    /// The text exposition that will be pushed.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding batch metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("pushgateway URL {url:?} is not an http(s) URL")]
    BadUrl { url: String },
    #[error("pushing to {url}: {detail}")]
    Failed { url: String, detail: String },
}

/// Where batch metrics go. `TICKETFLOW_PUSHGATEWAY_URL`, e.g. `http://pushgateway:9091`.
#[derive(Clone, Debug)]
pub struct Pushgateway {
    base: String,
    http: reqwest::Client,
}

impl Pushgateway {
    pub fn new(url: &str) -> Result<Self, PushError> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PushError::BadUrl { url: url.into() });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PushError::Failed {
                url: base.clone(),
                detail: e.to_string(),
            })?;
        Ok(Self { base, http })
    }

    /// Replaces the group `job` with `metrics`. Tries twice: a push is cheap and a transient
    /// failure should not cost the run its numbers.
    pub async fn push(&self, job: &str, metrics: &BatchMetrics) -> Result<(), PushError> {
        let url = format!("{}/metrics/job/{job}", self.base);
        let body = metrics.render();
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let sent = self
                .http
                .put(&url)
                .header(reqwest::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(job, url = %url, "pushed batch metrics");
                    return Ok(());
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    last = format!("HTTP {status}: {}", text.trim());
                }
                Err(e) => last = e.without_url().to_string(),
            }
        }
        Err(PushError::Failed { url, detail: last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_keep_their_labels_and_values() {
        let mut b = BatchMetrics::new();
        b.gauge(
            "ticketflow_model_f1",
            "F1.",
            &[("run_id", "r"), ("class", "Incident")],
            0.5,
        );
        b.gauge(
            "ticketflow_model_f1",
            "F1.",
            &[("run_id", "r"), ("class", "Change")],
            0.75,
        );
        // Wrong label set: ignored, not a panic.
        b.gauge("ticketflow_model_f1", "F1.", &[("run_id", "r")], 1.0);
        let text = b.render();
        assert!(
            text.contains("ticketflow_model_f1{class=\"Incident\",run_id=\"r\"} 0.5"),
            "{text}"
        );
        assert!(text.contains("ticketflow_model_f1{class=\"Change\",run_id=\"r\"} 0.75"));
        assert_eq!(text.matches("ticketflow_model_f1{").count(), 2);
    }

    #[test]
    fn rejects_urls_that_are_not_http() {
        assert!(Pushgateway::new("pushgateway:9091").is_err());
        assert!(Pushgateway::new("http://pushgateway:9091/").is_ok());
    }
}
