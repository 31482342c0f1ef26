//! Distributed traces: `tracing` spans exported as OpenTelemetry spans over OTLP/HTTP.
//!
//! Tracing is **off unless an OTLP endpoint is configured**, and then nothing is built: no
//! exporter, no batch thread, no OpenTelemetry layer. It is configured with the standard
//! variables, read by the OpenTelemetry SDK itself:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector base URL, e.g. `http://jaeger:4318` (`/v1/traces` is appended) |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full traces URL, used as is (wins over the above) |
//! | `OTEL_SERVICE_NAME` | overrides the per-role default (`ticketflow-embedder`, …) |
//! | `OTEL_RESOURCE_ATTRIBUTES` | extra resource attributes, `k=v,k2=v2` |
//! | `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none` | turn tracing off despite an endpoint |
//! | `OTEL_TRACES_SAMPLER` (+ `_ARG`) | e.g. `parentbased_traceidratio` with `0.1` |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_*` | batch span processor tuning (ms) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | auth headers, export timeout |
//!
//! The protocol is always `http/protobuf` (no gRPC stack in the binary); point the endpoint at
//! the collector's HTTP port (4318).
//!
//! Spans are exported in batches from the SDK's own thread. A batch job exits soon after its
//! last span ends, so [`TracerGuard`] flushes on drop: keep it alive until the end of `main`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// Set once the OpenTelemetry layer is installed; the propagation helpers check it, so with
/// tracing off a publish costs one atomic load.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported by this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn mark_enabled() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// What the environment asks for, decided before anything is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// Where spans go, for the start-up log line (the exporter reads the variables itself).
    pub endpoint: String,
    /// The `service.name` to set, or `None` when the environment names the service.
    pub service_name: Option<String>,
    /// A protocol other than `http/protobuf` was asked for; it is ignored, with a warning.
    pub unsupported_protocol: Option<String>,
}

impl TraceSettings {
    /// Reads the process environment. `None` means tracing stays off.
    pub fn from_env(default_service: &str) -> Option<Self> {
        Self::from_lookup(default_service, |key| std::env::var(key).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (tests pass a map).
    pub fn from_lookup(
        default_service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let set = |key: &str| {
            var(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        if set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none")) {
            return None;
        }
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))?;
        let named_by_env = set("OTEL_SERVICE_NAME").is_some()
            || set("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
                attrs
                    .split(',')
                    .any(|kv| kv.trim_start().starts_with("service.name="))
            });
        let unsupported_protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .filter(|p| p != "http/protobuf");
        Some(Self {
            endpoint,
            service_name: (!named_by_env).then(|| default_service.to_string()),
            unsupported_protocol,
        })
    }
}

/// Builds the tracer provider: OTLP/HTTP exporter, batch span processor, resource with
/// `service.name` and `service.version`. The sampler comes from `OTEL_TRACES_SAMPLER`
/// (default: parent-based, always on).
pub fn build_provider(
    settings: &TraceSettings,
    service_version: &str,
) -> Result<(SdkTracerProvider, SdkTracer), opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    let mut resource = Resource::builder().with_attribute(KeyValue::new(
        "service.version",
        service_version.to_string(),
    ));
    if let Some(name) = &settings.service_name {
        resource = resource.with_service_name(name.clone());
    }
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("ticketflow");
    Ok((provider, tracer))
}

/// Flushes and shuts the tracer provider down when dropped, so the spans of a process that is
/// about to exit still reach the collector. A no-op when tracing is off.
#[must_use = "spans are flushed when the guard drops: keep it until the end of main"]
#[derive(Default)]
pub struct TracerGuard {
    provider: Option<SdkTracerProvider>,
}

impl TracerGuard {
    pub(crate) fn new(provider: Option<SdkTracerProvider>) -> Self {
        Self { provider }
    }

    /// True when this process exports spans.
    pub fn is_active(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TracerGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Bounded: an unreachable collector delays the exit by at most this long.
            if let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
                eprintln!("warning: flushing traces failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Option<TraceSettings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TraceSettings::from_lookup("ticketflow-cleaner", |k| vars.get(k).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(settings(&[]), None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]), None);
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        assert!(settings(&on).is_some());
        assert_eq!(
            settings(&[on[0], ("OTEL_SDK_DISABLED", "TRUE")]),
            None,
            "OTEL_SDK_DISABLED wins"
        );
        assert_eq!(settings(&[on[0], ("OTEL_TRACES_EXPORTER", "none")]), None);
        assert!(
            settings(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/v1/traces")]).is_some()
        );
    }

    #[test]
    fn service_name_defaults_per_role_unless_the_environment_names_it() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let s = settings(&[on]).expect("on");
        assert_eq!(s.service_name.as_deref(), Some("ticketflow-cleaner"));
        assert_eq!(s.endpoint, "http://c:4318");
        let s = settings(&[on, ("OTEL_SERVICE_NAME", "my-cleaner")]).expect("on");
        assert_eq!(
            s.service_name, None,
            "the SDK reads OTEL_SERVICE_NAME itself"
        );
        let s = settings(&[on, ("OTEL_RESOURCE_ATTRIBUTES", "a=b, service.name=c")]).expect("on");
        assert_eq!(s.service_name, None);
        let s = settings(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect("on");
        assert_eq!(s.unsupported_protocol.as_deref(), Some("grpc"));
    }
}
