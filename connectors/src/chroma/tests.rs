//! Tests of [`super`] (chroma.rs), kept beside it so the module itself stays readable.

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use super::*;

fn record(id: &str, embedding: Vec<f32>) -> VectorRecord {
    VectorRecord {
        id: id.into(),
        embedding,
        document: String::new(),
        metadata: Map::new(),
    }
}

#[test]
fn config_debug_redacts_token_and_url_password() {
    let cfg = ChromaConfig {
        auth_token: Some("s3cret-token".into()),
        ..ChromaConfig::new("http://user:hunter2@chroma:8000", "tickets")
    };
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(shown.contains("chroma:8000"), "{shown}");
}

#[test]
fn token_file_is_trimmed_and_must_not_be_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, "  tok-1\n").expect("write");
    // The binary reads the token as it reads every secret (crate::secret), with Chroma's names.
    let token_from_file = |path: &std::path::Path| {
        crate::secret::Secret::from_value_or_file(None, TOKEN_ENV, Some(path), TOKEN_FILE_ENV)
            .map(|s| s.map(|s| s.expose().to_owned()))
            .map_err(ChromaError::from)
    };
    assert_eq!(
        token_from_file(&path).ok().flatten().as_deref(),
        Some("tok-1")
    );
    std::fs::write(&path, "\n").expect("write");
    assert!(matches!(
        token_from_file(&path),
        Err(ChromaError::TokenFile(_))
    ));
    let missing = token_from_file(&dir.path().join("missing"));
    assert!(matches!(missing, Err(ChromaError::TokenFile(_))));
}

#[test]
fn transient_classification_follows_status() {
    let http = |status| ChromaError::Http {
        op: "t",
        status,
        kind: String::new(),
        message: String::new(),
    };
    for s in [408, 429, 500, 502, 503, 504] {
        assert!(http(s).is_transient(), "{s}");
    }
    for s in [400, 401, 403, 404, 409, 410, 422] {
        assert!(!http(s).is_transient(), "{s}");
    }
    let timeout = ChromaError::Timeout {
        op: "t",
        timeout: Duration::from_secs(1),
    };
    assert!(timeout.is_transient());
    assert!(!ChromaError::Config("x".into()).is_transient());
}

#[test]
fn http_error_reads_chroma_body_or_falls_back_to_text() {
    let e = http_error(
        "t",
        StatusCode::BAD_REQUEST,
        br#"{"error":"InvalidArgumentError","message":"Invalid where clause"}"#,
    );
    assert!(
        matches!(&e, ChromaError::Http { status: 400, kind, message, .. }
            if kind == "InvalidArgumentError" && message == "Invalid where clause")
    );
    let e = http_error("t", StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert!(
        matches!(&e, ChromaError::Http { status: 502, kind, message, .. }
            if kind == "Bad Gateway" && message.contains("bad gateway"))
    );
    assert!(e.is_transient());
}

#[test]
fn records_are_validated_before_sending() {
    let ok = [record("a", vec![1.0, 0.0]), record("b", vec![0.0, 1.0])];
    assert!(validate_records("upsert", &ok).is_ok());
    let cases = [
        vec![record("", vec![1.0])],
        vec![record("a", vec![])],
        vec![record("a", vec![1.0, 0.0]), record("b", vec![1.0])],
        vec![record("a", vec![1.0, f32::NAN])],
        vec![record("a", vec![f32::INFINITY])],
    ];
    for case in cases {
        let err = validate_records("upsert", &case).err();
        assert!(
            matches!(err, Some(ChromaError::InvalidInput { .. })),
            "{case:?}: {err:?}"
        );
    }
}

#[test]
fn space_is_read_from_configuration_or_legacy_metadata() {
    let c = |cfg: Value, meta: Option<Value>| wire::Collection {
        id: "id".into(),
        configuration_json: Some(cfg),
        metadata: meta.and_then(|m| m.as_object().cloned()),
    };
    let hnsw = c(json!({"hnsw": {"space": "l2"}, "spann": null}), None);
    assert_eq!(collection_space(&hnsw), Some("l2"));
    let spann = c(json!({"hnsw": null, "spann": {"space": "cosine"}}), None);
    assert_eq!(collection_space(&spann), Some("cosine"));
    let legacy = c(json!({}), Some(json!({"hnsw:space": "ip"})));
    assert_eq!(collection_space(&legacy), Some("ip"));
    assert_eq!(collection_space(&c(json!({}), None)), None);
}

#[test]
fn a_repeated_id_keeps_its_last_record_in_place() {
    let records = [
        record("a", vec![1.0]),
        record("b", vec![2.0]),
        record("a", vec![3.0]),
        record("c", vec![4.0]),
    ];
    let kept: Vec<(&str, f32)> = last_of_each_id(&records)
        .iter()
        .map(|r| (r.id.as_str(), r.embedding[0]))
        .collect();
    assert_eq!(kept, [("b", 2.0), ("a", 3.0), ("c", 4.0)]);
}

#[test]
fn same_vector_allows_one_float_step_only() {
    let v = [0.3f32, -0.5, 0.01, 0.0];
    let nudged: Vec<f32> = v.iter().map(|x| x * (1.0 + f32::EPSILON)).collect();
    assert!(same_vector(&nudged, &v));
    assert!(!same_vector(&[0.3, -0.5, 0.0101, 0.0], &v));
    assert!(!same_vector(&v[..3], &v));
    assert!(same_vector(&[0.0, 0.0], &[0.0, 0.0]));
    assert!(!same_vector(&[f32::NAN], &[1.0]));
}

#[test]
fn empty_filters_are_dropped() {
    assert_eq!(non_empty_filter(Some(json!({}))), None);
    assert_eq!(non_empty_filter(None), None);
    let f = json!({"a": {"$eq": 1}});
    assert_eq!(non_empty_filter(Some(f.clone())), Some(f));
}

#[test]
fn snippet_cuts_long_bodies_on_char_boundaries() {
    let long = "é".repeat(1000);
    let s = snippet(long.as_bytes());
    assert_eq!(s.chars().count(), 301);
    assert!(s.ends_with('…'));
    assert_eq!(snippet(b"short"), "short");
}

/// The tests below count `ticketflow_chroma_errors_total{operation="heartbeat"}`, which is
/// process-wide: one runs at a time, so no other test's failed heartbeat lands in a count.
static HEARTBEAT_COUNTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A one-connection-per-response HTTP server on a free local port: answers the `i`-th request
/// with `responses[i]` (status line, JSON body) and hands back the requests it read.
fn scripted_server(
    responses: Vec<(&'static str, &'static str)>,
) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let mut requests = Vec::new();
        for (status, body) in responses {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.expect("write");
            requests.push(String::from_utf8_lossy(&request).into_owned());
        }
        requests
    });
    (url, server)
}

#[tokio::test]
async fn a_failed_call_is_counted_as_transient_or_permanent_as_its_error_says() {
    let _serial = HEARTBEAT_COUNTS.lock().await;
    let errors = |error_type| {
        crate::test_metrics::counter(
            "ticketflow_chroma_errors_total",
            &[("operation", "heartbeat"), ("error_type", error_type)],
        )
        .unwrap_or(0.0)
    };
    let before = (errors("transient"), errors("permanent"));
    let scripted = r#"{"error":"Test","message":"scripted"}"#;
    let (url, server) = scripted_server(vec![
        ("503 Service Unavailable", scripted),
        ("400 Bad Request", scripted),
    ]);
    let cfg = ChromaConfig::new(url, "x");
    let unavailable = ChromaClient::connect(&cfg).await.expect_err("503");
    assert!(unavailable.is_transient(), "{unavailable:?}");
    let bad = ChromaClient::connect(&cfg).await.expect_err("400");
    assert!(!bad.is_transient(), "{bad:?}");
    server.await.expect("server task");
    assert_eq!(
        (errors("transient"), errors("permanent")),
        (before.0 + 1.0, before.1 + 1.0)
    );
}

#[tokio::test]
async fn the_token_goes_in_a_header_and_a_503_is_transient() {
    let _serial = HEARTBEAT_COUNTS.lock().await;
    let (url, server) = scripted_server(vec![(
        "503 Service Unavailable",
        r#"{"error":"Unavailable","message":"warming up"}"#,
    )]);
    let cfg = ChromaConfig {
        auth_token: Some("tok-123".into()),
        ..ChromaConfig::new(url, "x")
    };
    let err = ChromaClient::connect(&cfg).await.expect_err("503");
    assert!(
        matches!(&err, ChromaError::Http { status: 503, kind, .. } if kind == "Unavailable"),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(!err.to_string().contains("tok-123"));
    let requests = server.await.expect("server task");
    let request = requests[0].to_ascii_lowercase();
    assert!(request.starts_with("get /api/v2/heartbeat "), "{request}");
    assert!(
        request.contains("\r\nx-chroma-token: tok-123\r\n"),
        "{request}"
    );
}
