//! One call at the top of `main` sets up logs and traces for the whole process:
//!
//! ```text
//! registry
//!  ├─ OpenTelemetry layer  (only with an OTLP endpoint; spans at INFO and above)
//!  └─ fmt layer → stderr   (JSON or text, filtered by RUST_LOG)
//! ```
//!
//! ```no_run
//! let _telemetry = ticketflow_telemetry::init(&ticketflow_telemetry::InitOptions {
//!     service_name: "ticketflow-cleaner",
//!     service_version: env!("CARGO_PKG_VERSION"),
//!     default_filter: "info",
//! });
//! // … the whole program; spans are flushed when `_telemetry` drops.
//! ```
//!
//! Each layer has its own filter: `RUST_LOG` decides which lines are written, and does not
//! thin the traces (a `RUST_LOG=warn` process still exports its spans).

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::logs::{JsonFormat, LogFormat, TextFields};
use crate::traces::{TraceSettings, TracerGuard, build_provider, mark_enabled};

/// Who this process is, for the logs and traces it emits.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions<'a> {
    /// `service.name` unless `OTEL_SERVICE_NAME` says otherwise, e.g. `ticketflow-embedder`.
    pub service_name: &'a str,
    /// `service.version` resource attribute.
    pub service_version: &'a str,
    /// The log filter when `RUST_LOG` is unset or invalid, e.g. `info,ort=warn`.
    pub default_filter: &'a str,
}

/// Keeps the telemetry pipeline alive; dropping it flushes pending spans. Hold it in `main`
/// until the process is about to exit (on the error path too).
#[must_use = "spans are flushed when the guard drops: keep it until the end of main"]
#[derive(Default)]
pub struct TelemetryGuard {
    tracer: TracerGuard,
}

impl TelemetryGuard {
    /// True when this process exports spans.
    pub fn tracing(&self) -> bool {
        self.tracer.is_active()
    }
}

/// Installs the global subscriber: logs on stderr, plus span export when `OTEL_*` asks for it.
/// Never fails the process: a tracing set-up problem is logged and tracing stays off. Calling
/// it twice keeps the first subscriber.
pub fn init(opts: &InitOptions<'_>) -> TelemetryGuard {
    let (format, bad_format) = LogFormat::from_env();
    let (filter, bad_filter) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(e) => {
            let unset = std::env::var_os(EnvFilter::DEFAULT_ENV).is_none();
            (
                EnvFilter::new(opts.default_filter),
                (!unset).then(|| e.to_string()),
            )
        }
    };

    // async-nats logs the whole CONNECT message, credentials included, at trace level: cap it
    // at debug whatever RUST_LOG asks (a cap, never a raise), so no log level leaks a NATS
    // password or token.
    let filter = filter.and(
        Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_target("async_nats", LevelFilter::DEBUG),
    );

    let settings = TraceSettings::from_env(opts.service_name);
    let mut trace_error = None;
    let (provider, otel_layer) = match &settings {
        Some(settings) => match build_provider(settings, opts.service_version) {
            Ok((provider, tracer)) => {
                let layer = tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(span_filter());
                (Some(provider), Some(layer))
            }
            Err(e) => {
                trace_error = Some(e.to_string());
                (None, None)
            }
        },
        None => (None, None),
    };

    let ansi = format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt_layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonFormat)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .fmt_fields(TextFields::default())
            .with_filter(filter)
            .boxed(),
    };

    // The boxed fmt layer is typed for the bare registry, so it goes on first.
    let installed = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .is_ok();
    let provider = if installed { provider } else { None };
    if installed && provider.is_some() {
        mark_enabled();
    }

    if let Some(value) = bad_format {
        tracing::warn!(value, "unknown {}: use json or text", LogFormat::ENV);
    }
    if let Some(error) = bad_filter {
        tracing::warn!(%error, default = opts.default_filter, "invalid RUST_LOG; using the default");
    }
    if let Some(error) = trace_error {
        tracing::warn!(%error, "tracing disabled: cannot set up the OTLP exporter");
    }
    if let (Some(settings), Some(_)) = (&settings, &provider) {
        if let Some(protocol) = &settings.unsupported_protocol {
            tracing::warn!(%protocol, "only http/protobuf is supported; exporting with it");
        }
        tracing::debug!(endpoint = %settings.endpoint, "exporting traces over OTLP/HTTP");
    }
    TelemetryGuard {
        tracer: TracerGuard::new(provider),
    }
}

/// Which spans become OpenTelemetry spans: INFO and above, without the libraries whose spans
/// would be noise or feed back into the exporter (the exporter's own HTTP client).
fn span_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("ort", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("opentelemetry-otlp", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
}

#[cfg(test)]
mod tests {

    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::*;
    use crate::test_support::Buffer;
    use crate::trace_context::{extract_context, inject_context};

    #[test]
    fn without_an_endpoint_init_installs_no_otel_layer() {
        if TraceSettings::from_env("ticketflow-test").is_some() {
            eprintln!("skipping: this environment sets an OTLP endpoint");
            return;
        }
        let guard = init(&InitOptions {
            service_name: "ticketflow-test",
            service_version: "0.0.0",
            default_filter: "info",
        });
        assert!(!guard.tracing());
        assert!(!crate::traces::enabled());
        // The global subscriber has no OpenTelemetry layer to give a span a parent.
        let span = tracing::info_span!("no otel");
        use tracing_opentelemetry::SetParentError::{LayerNotFound, SpanDisabled};
        assert!(matches!(
            span.set_parent(opentelemetry::Context::new()),
            Err(LayerNotFound | SpanDisabled) // disabled: a RUST_LOG above info
        ));
    }

    /// The layers `init` installs with tracing on (an SDK without exporter: spans get ids but
    /// go nowhere): the JSON line names the span's trace, and a consumer that extracts the
    /// published context continues the same trace.
    #[test]
    fn with_the_otel_layer_logs_carry_trace_ids_and_context_crosses_headers() {
        use opentelemetry::trace::TracerProvider as _;
        let provider = SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(buffer.clone())
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonFormat),
            )
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_filter(span_filter()),
            );
        let (trace_id, headers, child_trace, child_parent_ok) =
            tracing::subscriber::with_default(subscriber, || {
                let run = tracing::info_span!("run", otel.name = "coordinator run");
                let _e = run.enter();
                tracing::info!("run queued");
                let cx = run.context();
                let trace_id = cx.span().span_context().trace_id();
                let mut headers = async_nats::HeaderMap::new();
                inject_context(&tracing::Span::current().context(), &mut headers);

                // The consumer side: a new root span, parented from the headers.
                let shard = tracing::info_span!(parent: None, "shard");
                let parent_ok = shard.set_parent(extract_context(&headers)).is_ok();
                let child_trace = shard.context().span().span_context().trace_id();
                (trace_id, headers, child_trace, parent_ok)
            });
        assert!(child_parent_ok);
        assert_eq!(
            child_trace, trace_id,
            "the consumer continues the publisher's trace"
        );
        let traceparent = headers.get("traceparent").map(|v| v.as_str().to_string());
        assert!(
            traceparent
                .as_deref()
                .is_some_and(|t| t.starts_with(&format!("00-{trace_id}-"))),
            "{traceparent:?}"
        );
        let out = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf8");
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(line["message"], "run queued");
        assert_eq!(line["trace_id"], trace_id.to_string());
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    }
}
