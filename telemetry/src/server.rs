//! The HTTP endpoints every long-running process serves:
//!
//! | path | answers |
//! | --- | --- |
//! | `/metrics` | the Prometheus text exposition of [`crate::metrics::registry`] |
//! | `/healthz` | `200 ok` while the process is alive and serving (the liveness probe) |
//! | `/readyz` | `200` when every readiness check passes, else `503` naming the ones that fail |
//!
//! Readiness checks are the process's dependencies: a worker is ready when it is connected to
//! NATS and can reach what its stage needs (object store, Chroma). Kubernetes takes an unready
//! pod out of rotation without restarting it, which is what a worker cut off from Chroma needs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The outcome of one readiness check: `Err` says what is wrong.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// Named readiness checks, run on every `/readyz` request (each bounded by a timeout).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, CheckFn)>,
}

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check; `name` appears in the `/readyz` body.
    pub fn with_check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()) as CheckFuture)));
        self
    }

    /// Runs every check; the report has one `name: ok|error` line per check.
    pub async fn evaluate(&self) -> (bool, String) {
        let mut ready = true;
        let mut report = String::new();
        for (name, check) in &self.checks {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
            match outcome {
                Ok(()) => report.push_str(&format!("{name}: ok\n")),
                Err(e) => {
                    ready = false;
                    report.push_str(&format!("{name}: {e}\n"));
                }
            }
        }
        (ready, report)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "cannot listen for metrics on {addr}: {source} (set TICKETFLOW_METRICS_ADDR to a free address)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running metrics server; dropping it does not stop it (it lives as long as the runtime).
pub struct MetricsServer {
    /// The bound address (useful when asked for port 0).
    pub local_addr: SocketAddr,
}

/// Binds `addr` now (so a taken port fails the process at start) and serves in the background.
pub async fn serve(addr: SocketAddr, readiness: Readiness) -> Result<MetricsServer, ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(readiness));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %local_addr, "serving /metrics, /healthz and /readyz");
    Ok(MetricsServer { local_addr })
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        crate::metrics::render(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    let (ready, report) = readiness.evaluate().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await.expect("write");
        let mut buf = String::new();
        conn.read_to_string(&mut buf).await.expect("read");
        let status = buf
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, buf)
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness_that_follows_its_checks() {
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = healthy.clone();
        let readiness = Readiness::new()
            .with_check("nats", || async { Ok(()) })
            .with_check("chroma", move || {
                let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err("connection refused".into())
                    }
                }
            });
        let server = serve("127.0.0.1:0".parse().expect("addr"), readiness)
            .await
            .expect("bind");
        let addr = server.local_addr;

        let (status, body) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("ticketflow_build_info"), "{body}");

        assert_eq!(http_get(addr, "/healthz").await.0, 200);

        let (status, body) = http_get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("nats: ok"), "{body}");
        assert!(body.contains("chroma: connection refused"), "{body}");

        healthy.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(http_get(addr, "/readyz").await.0, 200);
    }

    #[tokio::test]
    async fn a_taken_port_is_a_clear_error() {
        let first = serve("127.0.0.1:0".parse().expect("addr"), Readiness::new())
            .await
            .expect("bind");
        let Err(err) = serve(first.local_addr, Readiness::new()).await else {
            panic!("second bind on the same port succeeded");
        };
        assert!(err.to_string().contains("TICKETFLOW_METRICS_ADDR"), "{err}");
    }
}
