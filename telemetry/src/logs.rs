//! Log lines on stderr: JSON for machines, text for people.
//!
//! A process writes **JSON lines** when stderr is not a terminal (a container, a log file, a
//! pipe) and **text** on a terminal; `TICKETFLOW_LOG_FORMAT=json|text` overrides the choice.
//! `RUST_LOG` filters either way.
//!
//! One JSON line per event, keys in this order:
//!
//! ```json
//! {"timestamp":"2026-05-04T09:12:03.512034Z","level":"INFO",
//!  "target":"ticketflow_telemetry::internal_events","message":"shard done",
//!  "fields":{"tickets":200,"ms":812},
//!  "span":{"name":"embedder shard","delivered":1,"run_id":"run-3f2a…","shard_id":3,"stage":"embedder","tickets":200},
//!  "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}
//! ```
//!
//! - `fields`: the event's own fields (without `message`);
//! - `span`: the fields of every span the event is in, outermost first (an inner span's field
//!   wins), plus the innermost span's `name` (its `otel.name` when it has one, as in the trace
//!   view); absent outside spans. The other `otel.*` fields steer span export and are left out;
//! - `trace_id`, `span_id`: the current OpenTelemetry span, when tracing is on. Search the log
//!   store for a trace id to get every line of a run's trace, across processes.

use std::fmt;
use std::io::IsTerminal;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::{MakeVisitor, RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// tracing-subscriber's human-readable lines (coloured on a terminal).
    Text,
}

impl LogFormat {
    /// The environment variable that overrides the automatic choice.
    pub const ENV: &'static str = "TICKETFLOW_LOG_FORMAT";

    /// `TICKETFLOW_LOG_FORMAT` if set, else JSON unless stderr is a terminal. An unknown value
    /// falls back to the automatic choice and is returned as the error's payload.
    pub fn from_env() -> (Self, Option<String>) {
        let setting = std::env::var(Self::ENV).ok();
        Self::choose(setting.as_deref(), std::io::stderr().is_terminal())
    }

    /// The decision of [`from_env`](Self::from_env), from its inputs.
    pub fn choose(setting: Option<&str>, stderr_is_terminal: bool) -> (Self, Option<String>) {
        let auto = if stderr_is_terminal {
            Self::Text
        } else {
            Self::Json
        };
        match setting.map(str::trim) {
            None | Some("") => (auto, None),
            Some(s) if s.eq_ignore_ascii_case("json") => (Self::Json, None),
            Some(s) if s.eq_ignore_ascii_case("text") => (Self::Text, None),
            Some(other) => (auto, Some(other.to_string())),
        }
    }
}

/// The JSON event format described in the module docs. Span fields are read from the
/// [`FormattedFields`] the fmt layer stores per span, so pair it with
/// `tracing_subscriber::fmt::format::JsonFields`.
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);

        let mut line = String::with_capacity(256);
        line.push('{');
        push_entry(&mut line, "timestamp", &Value::String(timestamp), true);
        push_entry(
            &mut line,
            "level",
            &Value::from(meta.level().as_str()),
            false,
        );
        push_entry(&mut line, "target", &Value::from(meta.target()), false);
        let message = visitor.message.take().unwrap_or_default();
        push_entry(&mut line, "message", &Value::String(message), false);
        push_entry(&mut line, "fields", &Value::Object(visitor.fields), false);

        if let Some(scope) = ctx.event_scope() {
            let mut fields = Map::new();
            let mut name = Value::Null;
            for span in scope.from_root() {
                name = Value::from(span.name());
                let extensions = span.extensions();
                let Some(stored) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                match serde_json::from_str::<Map<String, Value>>(&stored.fields) {
                    Ok(mut map) => {
                        // The span's name in traces, when it has one: "cleaner shard".
                        if let Some(otel_name) = map.remove("otel.name") {
                            name = otel_name;
                        }
                        fields.extend(map.into_iter().filter(|(k, _)| !k.starts_with("otel.")));
                    }
                    Err(_) if !stored.fields.is_empty() => {
                        fields.insert("fields".into(), Value::String(stored.fields.to_string()));
                    }
                    Err(_) => {}
                }
            }
            let mut span = Map::new();
            span.insert("name".into(), name);
            span.extend(fields);
            push_entry(&mut line, "span", &Value::Object(span), false);
        }

        // The OpenTelemetry layer attaches the entered span's context to the thread, so this is
        // the span the event happened in. Without that layer the context is empty.
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            push_entry(
                &mut line,
                "trace_id",
                &Value::String(sc.trace_id().to_string()),
                false,
            );
            push_entry(
                &mut line,
                "span_id",
                &Value::String(sc.span_id().to_string()),
                false,
            );
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

fn push_entry(line: &mut String, key: &str, value: &Value, first: bool) {
    if !first {
        line.push(',');
    }
    line.push_str(&Value::from(key).to_string());
    line.push(':');
    line.push_str(&value.to_string());
}

/// Collects an event's fields as JSON values, the message apart.
#[derive(Default)]
struct JsonVisitor {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl JsonVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else if !field.name().starts_with("log.") {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// tracing-subscriber's text field format without the `otel.*` fields, which only steer span
/// export (`otel.name`) and would repeat what the line already says.
#[derive(Default)]
pub struct TextFields(DefaultFields);

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut inner: DefaultVisitor<'w> = self.0.make_visitor(writer);
        fields.record(&mut SkipOtelFields(&mut inner));
        inner.finish()
    }
}

struct SkipOtelFields<'a, V>(&'a mut V);

impl<V: Visit> SkipOtelFields<'_, V> {
    fn keep(field: &Field) -> bool {
        !field.name().starts_with("otel.")
    }
}

impl<V: Visit> Visit for SkipOtelFields<'_, V> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if Self::keep(field) {
            self.0.record_f64(field, value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if Self::keep(field) {
            self.0.record_i64(field, value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if Self::keep(field) {
            self.0.record_u64(field, value);
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if Self::keep(field) {
            self.0.record_bool(field, value);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::keep(field) {
            self.0.record_str(field, value);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if Self::keep(field) {
            self.0.record_error(field, value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if Self::keep(field) {
            self.0.record_debug(field, value);
        }
    }
}

#[cfg(test)]
mod tests {

    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::test_support::Buffer;

    #[test]
    fn format_choice() {
        assert_eq!(LogFormat::choose(None, true), (LogFormat::Text, None));
        assert_eq!(LogFormat::choose(None, false), (LogFormat::Json, None));
        assert_eq!(
            LogFormat::choose(Some("TEXT"), false),
            (LogFormat::Text, None)
        );
        assert_eq!(
            LogFormat::choose(Some("json"), true),
            (LogFormat::Json, None)
        );
        assert_eq!(
            LogFormat::choose(Some("yaml"), false),
            (LogFormat::Json, Some("yaml".to_string()))
        );
    }

    fn capture(format: LogFormat, f: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(buffer.clone());
        match format {
            LogFormat::Json => {
                let layer = layer.fmt_fields(JsonFields::new()).event_format(JsonFormat);
                let subscriber = tracing_subscriber::registry().with(layer);
                tracing::subscriber::with_default(subscriber, f);
            }
            LogFormat::Text => {
                let layer = layer.fmt_fields(TextFields::default());
                let subscriber = tracing_subscriber::registry().with(layer);
                tracing::subscriber::with_default(subscriber, f);
            }
        }
        let bytes = buffer.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf8")
    }

    fn shard_span() -> tracing::Span {
        tracing::info_span!(
            "shard",
            otel.name = "cleaner shard",
            stage = "cleaner",
            run_id = "run-1",
            shard_id = 3_u32,
            tickets = tracing::field::Empty,
        )
    }

    #[test]
    fn json_lines_carry_message_fields_and_span_fields() {
        let out = capture(LogFormat::Json, || {
            tracing::info!(outside = true, "before");
            let span = shard_span();
            let _e = span.enter();
            span.record("tickets", 200_u32);
            tracing::warn!(ms = 12_u64, error = %"boom \"quoted\"", "shard done");
        });
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["message"], "before");
        assert_eq!(lines[0]["fields"]["outside"], true);
        assert!(lines[0].get("span").is_none());
        assert!(
            lines[0]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        let l = &lines[1];
        assert_eq!(l["level"], "WARN");
        assert_eq!(l["target"], module_path!());
        assert_eq!(l["message"], "shard done");
        assert_eq!(l["fields"]["ms"], 12);
        assert_eq!(l["fields"]["error"], "boom \"quoted\"");
        assert_eq!(l["span"]["name"], "cleaner shard", "the otel.name");
        assert_eq!(l["span"]["run_id"], "run-1");
        assert_eq!(l["span"]["shard_id"], 3);
        assert_eq!(l["span"]["stage"], "cleaner");
        assert_eq!(
            l["span"]["tickets"], 200,
            "fields recorded later are there too"
        );
        assert!(l["span"].get("otel.name").is_none());
        assert!(l.get("trace_id").is_none(), "tracing is off in unit tests");
        assert!(
            out.lines()
                .next()
                .is_some_and(|first| first.starts_with("{\"timestamp\":"))
        );
    }

    #[test]
    fn text_lines_leave_out_otel_fields() {
        let out = capture(LogFormat::Text, || {
            let span = shard_span();
            let _e = span.enter();
            tracing::info!(tickets = 200, "shard done");
        });
        assert!(out.contains("shard done"), "{out}");
        assert!(
            out.contains("run_id=\"run-1\"") && out.contains("shard_id=3"),
            "{out}"
        );
        assert!(!out.contains("otel.name"), "{out}");
    }
}
