//! Tracing end to end, on real servers: nats-server, Chroma, every stage as its own
//! `ticketflow worker`, and the coordinator, all exporting spans over OTLP/HTTP to a collector
//! that lives inside this test (a `TcpListener` that decodes the protobuf export requests).
//!
//! One run of 600 generated tickets in 3 shards must come out as **one trace**:
//!
//! ```text
//! coordinator run                      ticketflow-coordinator   (root: run_id, tickets, shards)
//! ├─ cleaner shard     shard_id=0..2   ticketflow-cleaner
//! │  └─ embedder shard                 ticketflow-embedder
//! │     └─ indexer shard               ticketflow-indexer
//! │        └─ trainer run              ticketflow-trainer       (under the last shard indexed)
//! ```
//!
//! and the workers' JSON log lines (their stderr is a file here, not a terminal) carry that
//! trace's id.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::Value;
use support::{StackEnv, generate_tickets, wait_until};

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    service_version: Option<String>,
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent_span_id: String,
    name: String,
    attributes: HashMap<String, Value>,
}

impl ReceivedSpan {
    fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn any_value(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        other => Value::String(format!("{other:?}")),
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, Value> {
    kvs.iter()
        .map(|kv| {
            let value = kv.value.as_ref().map_or(Value::Null, any_value);
            (kv.key.clone(), value)
        })
        .collect()
}

/// A minimal OTLP/HTTP traces endpoint: `POST /v1/traces` with an
/// `application/x-protobuf` body, several requests per (keep-alive) connection.
struct Collector {
    port: u16,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, e, st) = (spans.clone(), errors.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, e) = (s.clone(), e.clone());
                std::thread::spawn(move || {
                    if let Err(err) = serve_connection(conn, &s) {
                        e.lock().expect("lock").push(err);
                    }
                });
            }
        });
        Collector {
            port,
            spans,
            errors,
            stop,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("lock").clone()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("lock").clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves requests on one connection until the client closes it.
fn serve_connection(conn: TcpStream, spans: &Mutex<Vec<ReceivedSpan>>) -> Result<(), String> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(conn.try_clone().map_err(|e| e.to_string())?);
    let mut writer = conn;
    loop {
        // Request line; EOF between requests is the client closing a keep-alive connection.
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading request: {e}")),
        }
        if request_line.trim().is_empty() {
            continue;
        }
        let mut content_length = None;
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("reading headers: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse::<usize>().ok(),
                    "content-type" => content_type = value.to_string(),
                    _ => {}
                }
            }
        }
        let length =
            content_length.ok_or_else(|| format!("{}: no Content-Length", request_line.trim()))?;
        let mut body = vec![0_u8; length];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading body: {e}"))?;

        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, reply) = if method != "POST" || path != "/v1/traces" {
            ("404 Not Found", Vec::new())
        } else if content_type != "application/x-protobuf" {
            ("415 Unsupported Media Type", Vec::new())
        } else {
            let request = ExportTraceServiceRequest::decode(body.as_slice())
                .map_err(|e| format!("decoding export request: {e}"))?;
            let mut received = spans.lock().expect("lock");
            for resource_spans in &request.resource_spans {
                let resource = resource_spans
                    .resource
                    .as_ref()
                    .map(|r| attributes(&r.attributes))
                    .unwrap_or_default();
                let service = resource
                    .get("service.name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let version = resource
                    .get("service.version")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        received.push(ReceivedSpan {
                            service: service.clone(),
                            service_version: version.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            name: span.name.clone(),
                            attributes: attributes(&span.attributes),
                        });
                    }
                }
            }
            (
                "200 OK",
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        );
        writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&reply))
            .and_then(|()| writer.flush())
            .map_err(|e| format!("answering: {e}"))?;
    }
}

/// Whether `span`'s chain of parents (within `by_id`) reaches `ancestor`.
fn descends_from(
    span: &ReceivedSpan,
    ancestor: &str,
    by_id: &HashMap<&str, &ReceivedSpan>,
) -> bool {
    let mut parent = span.parent_span_id.as_str();
    for _ in 0..32 {
        if parent == ancestor {
            return true;
        }
        match by_id.get(parent) {
            Some(p) => parent = p.parent_span_id.as_str(),
            None => return false,
        }
    }
    false
}

#[test]
fn one_run_is_one_trace_across_the_coordinator_and_every_worker() {
    let Some(support::Services { nats, chroma, dir }) = support::Services::start() else {
        return;
    };
    let collector = Collector::start();
    let store_url = format!("file://{}", dir.path().join("store").display());
    let env = StackEnv::new(&nats, &chroma, &store_url, "tracing").with(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.endpoint()),
        // Export every 200 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
    ]);
    let mut workers = env.workers(1, dir.path(), &[]);
    support::wait_ready(&workers);

    let input = generate_tickets(dir.path(), 600, 7);
    let logs: Vec<&support::Proc> = workers.iter().collect();
    let (stdout, coordinator_log) = support::run_wait(&env, &input, 200, &logs);
    // "run <id> queued: <tickets> tickets in <shards> shards (…)"
    let words: Vec<&str> = stdout.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "queued:")
        .unwrap_or_else(|| panic!("no queued line in {stdout}"));
    let run_id = words[at - 1].to_string();
    let tickets: i64 = words[at + 1].parse().expect("tickets");
    let shards: i64 = words[at + 4].parse().expect("shards");
    assert_eq!(shards, 3, "{stdout}");

    // SIGTERM: each worker finishes, flushes its spans and exits.
    for w in &mut workers {
        assert!(
            w.terminate(Duration::from_secs(30)),
            "{} did not stop",
            w.name
        );
    }

    // The coordinator flushed before exiting and the workers on SIGTERM; allow for the last
    // export in flight.
    let wanted = ["coordinator", "cleaner", "embedder", "indexer", "trainer"];
    wait_until("spans from every process", Duration::from_secs(15), || {
        let services: BTreeSet<String> = collector.spans().into_iter().map(|s| s.service).collect();
        wanted
            .iter()
            .all(|w| services.contains(&format!("ticketflow-{w}")))
    });
    assert!(collector.errors().is_empty(), "{:?}", collector.errors());
    let spans = collector.spans();

    // The run span: a root, with the run's numbers.
    let run = spans
        .iter()
        .find(|s| s.name == "coordinator run" && s.attr_str("run_id") == Some(run_id.as_str()))
        .unwrap_or_else(|| panic!("no run span for {run_id} in {spans:#?}"));
    assert_eq!(run.service, "ticketflow-coordinator");
    assert!(
        run.parent_span_id.is_empty(),
        "the run span is a root: {run:?}"
    );
    assert_eq!(run.attr_i64("tickets"), Some(tickets));
    assert_eq!(run.attr_i64("shards"), Some(shards));
    assert_eq!(
        run.service_version.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let trace_id = run.trace_id.clone();

    // One trace: every process took part in it.
    let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let services: BTreeSet<&str> = in_trace.iter().map(|s| s.service.as_str()).collect();
    assert!(services.len() >= 4, "{services:?}");
    for w in wanted {
        assert!(
            services.contains(format!("ticketflow-{w}").as_str()),
            "{w}: {services:?}"
        );
    }
    let by_id: HashMap<&str, &ReceivedSpan> =
        in_trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();

    // Every shard went through every stage inside the run's trace.
    for shard in 0..shards {
        for stage in ["cleaner", "embedder", "indexer"] {
            let span = in_trace
                .iter()
                .find(|s| {
                    s.name == format!("{stage} shard")
                        && s.attr_i64("shard_id") == Some(shard)
                        && s.attr_str("stage") == Some(stage)
                })
                .unwrap_or_else(|| panic!("no {stage} span for shard {shard}: {in_trace:#?}"));
            assert_eq!(span.service, format!("ticketflow-{stage}"));
            assert_eq!(span.attr_str("run_id"), Some(run_id.as_str()));
            assert_eq!(span.attr_i64("tickets"), Some(200), "{span:?}");
            assert!(
                descends_from(span, &run.span_id, &by_id),
                "{stage} shard {shard} is not under the run span: {span:?}"
            );
        }
    }
    // The embedder's span is a child of the cleaner's for the same shard (the cleaner published
    // the embedder's message from inside its span).
    let embedder0 = in_trace
        .iter()
        .find(|s| s.name == "embedder shard" && s.attr_i64("shard_id") == Some(0))
        .expect("embedder shard 0");
    let parent = by_id
        .get(embedder0.parent_span_id.as_str())
        .expect("embedder parent in trace");
    assert_eq!(parent.name, "cleaner shard");
    assert_eq!(parent.attr_i64("shard_id"), Some(0));

    // The trainer continued the trace from the runs.completed message.
    let trainer = in_trace
        .iter()
        .find(|s| s.service == "ticketflow-trainer" && s.name == "trainer run")
        .unwrap_or_else(|| panic!("no trainer span in the trace: {in_trace:#?}"));
    assert_eq!(trainer.attr_str("run_id"), Some(run_id.as_str()));
    assert_eq!(trainer.attr_str("stage"), Some("trainer"));
    assert!(descends_from(trainer, &run.span_id, &by_id), "{trainer:?}");
    let last_indexer = by_id
        .get(trainer.parent_span_id.as_str())
        .expect("trainer parent in trace");
    assert_eq!(last_indexer.name, "indexer shard");

    // Logs: the workers' stderr is a file, so their lines are JSON, and the lines of this run
    // name its trace.
    let cleaner = workers
        .iter()
        .find(|w| w.name == "cleaner")
        .expect("cleaner");
    let log = std::fs::read_to_string(&cleaner.log).expect("cleaner log");
    let done: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "shard done")
        .collect();
    let shard_ids: BTreeSet<u64> = done
        .iter()
        .filter_map(|l| l["span"]["shard_id"].as_u64())
        .collect();
    assert_eq!(shard_ids, BTreeSet::from([0, 1, 2]), "{log}");
    for line in &done {
        assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
        assert_eq!(line["span"]["run_id"], run_id.as_str(), "{line}");
        assert_eq!(line["span"]["stage"], "cleaner", "{line}");
        assert_eq!(line["span"]["name"], "cleaner shard", "{line}");
        assert!(line["span"]["shard_id"].is_u64(), "{line}");
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string() && line["target"].is_string());
        let span_id = line["span_id"].as_str().expect("span_id");
        assert_eq!(
            by_id.get(span_id).map(|s| s.name.as_str()),
            Some("cleaner shard")
        );
    }
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "every worker log line is JSON:\n{log}"
    );
    // And the coordinator's "run queued" line, from inside the run span.
    let queued = coordinator_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "run queued")
        .unwrap_or_else(|| panic!("no run queued line:\n{coordinator_log}"));
    assert_eq!(queued["trace_id"], trace_id.as_str());
    assert_eq!(queued["span_id"], run.span_id.as_str());
}
