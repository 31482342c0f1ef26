//! W3C trace context over NATS message headers: how one run becomes one trace across
//! processes.
//!
//! A span lives in one process. To continue a trace in the process that consumes a message,
//! the publisher writes its current span's identity into the message headers, in the W3C
//! format every OpenTelemetry SDK speaks:
//!
//! ```text
//! traceparent: 00-<32 hex trace id>-<16 hex parent span id>-01
//! tracestate:  vendor=value,…          (only when there is one)
//! ```
//!
//! The consumer reads it back and makes its own span a child of that parent:
//!
//! ```text
//! coordinator: span "coordinator run" ──publish──► headers ──► cleaner: span "cleaner shard"
//!              inject_current(&mut headers)                  set_parent_from_headers(&span, …)
//! ```
//!
//! `Bus::publish` injects on every publish; the stage loop extracts on every message it pulls.
//! With tracing off (no OTLP endpoint) both are no-ops: no header is added, nothing is parsed.

use async_nats::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes propagation fields into NATS headers.
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

/// Reads propagation fields from NATS headers.
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Writes `cx`'s span context (`traceparent`, and `tracestate` when set) into `headers`.
/// Nothing is written for a context without a valid span.
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

/// The context carried by `headers` (an empty context when they carry none).
pub fn extract_context(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(headers))
}

/// Injects the current `tracing` span's context into `headers`, so the consumer of this
/// message continues the trace. A no-op when tracing is off.
pub fn inject_current(headers: &mut HeaderMap) {
    if !crate::traces::enabled() {
        return;
    }
    inject_context(&tracing::Span::current().context(), headers);
}

/// Makes `span` a child of the span that published the message with these `headers`. Call it
/// right after creating the span, before it is entered. A no-op when tracing is off or the
/// message carries no context (for instance, published by an older version).
pub fn set_parent_from_headers(span: &tracing::Span, headers: Option<&HeaderMap>) {
    if !crate::traces::enabled() {
        return;
    }
    let Some(headers) = headers else { return };
    let cx = extract_context(headers);
    if !opentelemetry::trace::TraceContextExt::has_active_span(&cx) {
        return;
    }
    if let Err(e) = span.set_parent(cx) {
        tracing::debug!(error = %e, "cannot continue the publisher's trace");
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    use super::*;

    #[test]
    fn inject_then_extract_round_trips_over_nats_headers() {
        let sent = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
            SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("vendor", "v1")]).expect("state"),
        );
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", "run-1.raw.0");
        inject_context(
            &Context::new().with_remote_span_context(sent.clone()),
            &mut headers,
        );
        assert_eq!(
            headers.get("traceparent").map(|v| v.as_str()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(
            headers.get("tracestate").map(|v| v.as_str()),
            Some("vendor=v1")
        );
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some("run-1.raw.0"),
            "other headers are kept"
        );

        let got = extract_context(&headers);
        let got = got.span().span_context().clone();
        assert!(got.is_remote());
        assert_eq!(got.trace_id(), sent.trace_id());
        assert_eq!(got.span_id(), sent.span_id());
        assert!(got.is_sampled());
        assert_eq!(got.trace_state().header(), "vendor=v1");
    }

    #[test]
    fn nothing_is_injected_without_a_span_and_nothing_extracted_from_bare_headers() {
        let mut headers = HeaderMap::new();
        inject_context(&Context::new(), &mut headers);
        assert!(headers.get("traceparent").is_none());
        assert!(!extract_context(&headers).has_active_span());
    }

    #[test]
    fn with_tracing_off_publishing_adds_no_header() {
        // No OTLP endpoint in unit tests: `init` was never asked to trace.
        assert!(!crate::traces::enabled());
        let span = tracing::info_span!("publisher");
        let _entered = span.enter();
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        assert_eq!(headers.iter().count(), 0);
    }
}
