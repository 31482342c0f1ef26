//! A corpus of nasty input files, each with its stated outcome: a clear error, or per-row
//! quarantine with a reason and a count, never a crash or a silent drop. The files are made by
//! the test (one is 10 MB), run through `ticketflow clean`, which reads exactly as the
//! coordinator does (the same streaming loader), and the outcome is checked from the exit
//! status, the one-line error, the output rows and the quarantine file.
//!
//! | file | stated outcome |
//! | --- | --- |
//! | empty file | error: "the file is empty (no header row)" |
//! | header only | success, 0 tickets, 0 quarantined |
//! | missing required columns | error naming the missing and the found columns |
//! | broken quotes | the broken record quarantined (`field_count`, with its line), the load goes on; an unclosed quote swallows the rest of the file into that one record |
//! | Latin-1 bytes | that row quarantined (`invalid_utf8`, naming the column), the others kept |
//! | NUL bytes | accepted; NULs removed from the prepared text |
//! | a 10 MB body | that row quarantined (`oversized_field`, with size and limit), the others kept |
//! | formula-injection strings | accepted as text; neutralised in every CSV we write |
//! | 50,000 repeated placeholders | accepted; counted as placeholders; cleaned in linear time |

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const HEADER: &str = "id,subject,body,answer,type,queue,priority,language\n";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ticketflow"))
}

struct Outcome {
    out: Output,
    rows: Vec<Value>,
    quarantine: Vec<Value>,
}

impl Outcome {
    fn stderr_last_line(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    }
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn clean(dir: &Path, name: &str, bytes: &[u8]) -> Outcome {
    let input = dir.join(name);
    std::fs::write(&input, bytes).expect("write input");
    let output: PathBuf = dir.join(format!("{name}.out.jsonl"));
    let out = bin()
        .args(["clean", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .expect("run ticketflow clean");
    Outcome {
        rows: jsonl(&output),
        quarantine: jsonl(&dir.join(format!("{name}.out.quarantine.jsonl"))),
        out,
    }
}

fn reason_kinds(o: &Outcome) -> Vec<String> {
    o.quarantine
        .iter()
        .map(|q| q["reason"]["kind"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn empty_header_only_and_missing_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = clean(dir.path(), "empty.csv", b"");
    assert!(!o.out.status.success());
    assert!(
        o.stderr_last_line()
            .contains("the file is empty (no header row)"),
        "{}",
        o.stderr_last_line()
    );

    let o = clean(dir.path(), "header.csv", HEADER.as_bytes());
    assert!(o.out.status.success(), "{}", o.stderr_last_line());
    assert!(o.rows.is_empty() && o.quarantine.is_empty());

    let o = clean(dir.path(), "missing.csv", b"title,text\na,b\n");
    assert!(!o.out.status.success());
    let line = o.stderr_last_line();
    assert!(
        line.starts_with("error: ")
            && line.contains("missing required column(s): subject, body")
            && line.contains("found: title, text"),
        "{line}"
    );
}

#[test]
fn broken_quotes_latin1_and_nul_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER}1,fine,a body,,Request,IT,low,en\n2,one,too,many,fields,,,,,,\n3,\"open quote,never closed\n4,next,row,,Incident,IT,high,en\n"
    );
    let o = clean(dir.path(), "quotes.csv", csv.as_bytes());
    assert!(o.out.status.success());
    // A row with extra fields is quarantined alone. A quote that never closes swallows every
    // line after it into one record (that is what CSV means), quarantined with the line it
    // starts on; rows before it are kept.
    assert_eq!(reason_kinds(&o), ["field_count", "field_count"]);
    assert_eq!(o.quarantine[0]["row"], 2);
    assert_eq!(o.quarantine[1]["line"], 4);
    assert_eq!(o.rows.len(), 1);
    assert_eq!(o.rows[0]["id"], "1");

    let mut latin1 = HEADER.as_bytes().to_vec();
    latin1.extend_from_slice(b"1,Caf\xe9,r\xe9seau en panne,,Incident,IT,high,fr\n");
    latin1.extend_from_slice(b"2,ok,fine,,Request,IT,low,en\n");
    let o = clean(dir.path(), "latin1.csv", &latin1);
    assert!(o.out.status.success());
    assert_eq!(reason_kinds(&o), ["invalid_utf8"]);
    assert_eq!(o.quarantine[0]["reason"]["column"], "subject");
    assert_eq!(o.quarantine[0]["row"], 1);
    assert_eq!(o.rows.len(), 1);

    let nul = format!("{HEADER}1,VPN\0 down,the VPN\0\0 drops,,Incident,IT,high,en\n");
    let o = clean(dir.path(), "nul.csv", nul.as_bytes());
    assert!(o.out.status.success());
    assert!(o.quarantine.is_empty());
    let text = o.rows[0]["text"].as_str().expect("text");
    assert!(!text.contains('\0'), "{text:?}");
    assert!(text.contains("VPN") && text.contains("drops"), "{text:?}");
}

#[test]
fn ten_megabyte_body_is_quarantined_not_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = format!(
        "{HEADER}1,Huge,{},,Incident,IT,high,en\n2,small,ok body,,Request,IT,low,en\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let o = clean(dir.path(), "big.csv", big.as_bytes());
    assert!(o.out.status.success());
    assert_eq!(reason_kinds(&o), ["oversized_field"]);
    let q = &o.quarantine[0]["reason"];
    assert_eq!(q["column"], "body");
    assert_eq!(q["bytes"], 10 * 1024 * 1024);
    assert_eq!(q["limit"], 1024 * 1024);
    assert_eq!(o.rows.len(), 1);
    let summary = String::from_utf8_lossy(&o.out.stdout);
    assert!(summary.contains("(1 quarantined)"), "{summary}");
}

/// An unclosed quote near the top of a big export: the CSV parser would read the rest of the
/// file into one record. The loader stops at the record limit with one clear line naming where
/// the record starts, instead of holding the file in memory.
#[test]
fn an_unclosed_quote_in_a_big_export_stops_at_the_record_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv =
        format!("{HEADER}1,fine,a body,,Request,IT,low,en\n2,\"open quote,never closed\n");
    while csv.len() < 4 << 20 {
        csv.push_str("3,swallowed,by the open quote,,Incident,IT,high,en\n");
    }
    let input = dir.path().join("open.csv");
    std::fs::write(&input, &csv).expect("write");
    let out = bin()
        .args(["clean", "--max-record-bytes", "2097152", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("open.out.jsonl"))
        .output()
        .expect("run ticketflow clean");
    assert!(!out.status.success(), "a 4 MB record was read");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the record starting at line 3 is longer than 2097152 bytes")
            && stderr.contains("unclosed quote"),
        "{stderr}"
    );
}

#[test]
fn formula_injection_is_text_and_neutralised_in_csv_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER}=HYPERLINK(\"http://evil\"),=1+2 subject,body +cmd,,Incident,@SUM(A1),-high,en\n"
    );
    let o = clean(dir.path(), "formula.csv", csv.as_bytes());
    assert!(o.out.status.success());
    assert!(o.quarantine.is_empty());
    assert_eq!(
        o.rows[0]["id"], "=HYPERLINK(\"http://evil\")",
        "kept as data"
    );

    // The CSV outputs carry input values: `embed`'s row file (needs the model from `make
    // setup`), the feature table and predictions.csv (same helper, unit-tested in ml::csv_safe
    // and drift::feature_table).
    if !support::model_ready() {
        return;
    }
    let vectors = dir.path().join("v.npy");
    support::output_ok(
        bin()
            .current_dir(support::workspace())
            .args(["embed", "--input"])
            .arg(dir.path().join("formula.csv"))
            .arg("--output")
            .arg(&vectors),
        "embed",
    );
    let rows = std::fs::read_to_string(dir.path().join("v.rows.csv")).expect("rows.csv");
    let line = rows.lines().nth(1).expect("a row");
    assert!(line.contains("'=HYPERLINK"), "{line}");
}

#[test]
fn repeated_placeholders_are_counted_not_choked_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER}1,x,{},,Incident,IT,high,en\n",
        "<name> ".repeat(50_000)
    );
    let started = std::time::Instant::now();
    let o = clean(dir.path(), "placeholders.csv", csv.as_bytes());
    assert!(o.out.status.success());
    assert!(o.quarantine.is_empty());
    let tokens = o.rows[0]["tokens"].as_array().expect("tokens");
    assert_eq!(
        tokens.iter().filter(|t| *t == "<name>").count(),
        50_000,
        "every placeholder kept as one token"
    );
    // Not a timing assertion: a generous bound that only catches quadratic blow-ups.
    assert!(started.elapsed().as_secs() < 60);
}

/// Configuration errors fail at start, before waiting for any server, with one line that says
/// what to fix.
#[test]
fn config_errors_fail_fast_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["worker", "cleaner", "--nats-url", "nats//typo:4222"],
            "is not a NATS server address",
        ),
        (
            &["worker", "cleaner", "--store", "ftp://host/dir"],
            "unsupported scheme \"ftp\"",
        ),
        (
            &["worker", "indexer", "--chroma-url", "chroma:8000"],
            "must be an http:// or https:// address",
        ),
        (
            &["worker", "trainer", "--pushgateway-url", "pushgateway:9091"],
            "is not an http(s) URL",
        ),
        (
            &["worker", "embedder", "--model-dir", "/nonexistent/model"],
            "make setup",
        ),
        (
            &["worker", "embedder", "--ort-lib", "/etc/hostname"],
            "cannot load ONNX Runtime from /etc/hostname",
        ),
        (&["worker", "washer"], "unrecognized subcommand 'washer'"),
        (
            &["worker", "cleaner", "--ack-wait-secs", "0"],
            "--ack-wait-secs (TICKETFLOW_ACK_WAIT_SECS) must be at least 1 (got 0)",
        ),
        (
            &["worker", "embedder", "--batch-size", "0"],
            "--batch-size (TICKETFLOW_BATCH_SIZE) must be at least 1 (got 0)",
        ),
        (
            &["worker", "trainer", "--target-precision", "1.5"],
            "--target-precision (TICKETFLOW_TARGET_PRECISION) must be in (0, 1] (got 1.5)",
        ),
        (
            &["worker", "cleaner", "--batch-size", "8"],
            "unexpected argument '--batch-size'",
        ),
        (
            &["worker", "cleaner", "--metrics-addr", "nine-four-six-four"],
            "invalid value 'nine-four-six-four'",
        ),
    ];
    for (args, expected) in cases {
        let mut child = bin()
            .args(*args)
            // Nothing listens here: a process that got as far as NATS would wait, not fail.
            .env("NATS_URL", "nats://127.0.0.1:9")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?} did not fail fast");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
            .expect("read stderr");
        assert!(!status.success(), "{args:?} succeeded");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line\n{err}");
        assert!(errors[0].contains(expected), "{args:?}: {}", errors[0]);
    }
}

/// A setting out of its range is refused (exit 1) with a line naming the flag and its variable,
/// also when it comes from the environment; a flag of another stage is a usage error (exit 2).
#[test]
fn out_of_range_settings_are_rejected_not_clamped() {
    let out = bin()
        .args(["worker", "trainer"])
        .env("TICKETFLOW_TRAIN_MAX_ROWS", "0")
        .env("NATS_URL", "nats://127.0.0.1:9")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--train-max-rows (TICKETFLOW_TRAIN_MAX_ROWS) must be at least 1 (got 0)"),
        "{err}"
    );
    let out = bin()
        .args(["worker", "indexer", "--reuse-vectors", "false"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unexpected argument '--reuse-vectors'"),
        "{err}"
    );
}
