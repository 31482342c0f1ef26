//! Property tests ("fuzzing" with shrinking) of the code that reads data from outside: the
//! loader and the cleaner must never panic, and every row must end up accepted or quarantined
//! with a reason, never silently dropped.
//!
//! `cargo test -p ticketflow-text --test fuzz`; `PROPTEST_CASES=5000` for a longer run. The inputs
//! are built from the pieces real exports break with (quotes, delimiters, line breaks, invalid
//! UTF-8, NUL bytes, BOMs, placeholders, HTML), mixed with arbitrary bytes.

use proptest::prelude::*;
use ticketflow_text::dataset::{LoadOptions, load_tickets};
use ticketflow_text::text::prepare;

const HEADER: &str = "subject,body,answer,type,queue,priority,language\n";

/// Fragments that stress CSV and JSON parsers and the text cleaner.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\xe9".to_vec()),
        Just(b"<name>".to_vec()),
        Just(b"<acc_num>".to_vec()),
        Just(b"<br>".to_vec()),
        Just(b"\\n".to_vec()),
        Just(b"=HYPERLINK(\"x\")".to_vec()),
        Just("Grüße, señor — 你好 🙂".as_bytes().to_vec()),
        Just(b"{\"subject\":".to_vec()),
        Just(b"}".to_vec()),
        // Whole rows, so that well-formed and empty-text records are common too.
        Just(b"\nVPN down,It drops every hour,,Incident,IT,high,en\n".to_vec()),
        Just(b"\n,,,Request,IT,low,en\n".to_vec()),
        "[a-zA-Z ]{0,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..60).prop_map(|parts| parts.concat())
}

fn load(name: &str, bytes: &[u8]) -> Result<ticketflow_text::dataset::Loaded, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let opts = LoadOptions {
        max_field_bytes: 4096,
        ..LoadOptions::default()
    };
    load_tickets(&path, &opts).map_err(|e| e.to_string())
}

/// Data records in `bytes` (header excluded), counted by the csv crate itself with the loader's
/// settings (flexible field counts, blank lines skipped).
fn csv_records(bytes: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    reader.byte_records().count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any CSV body under a valid header: no panic, and a clean error or one outcome per record.
    #[test]
    fn csv_loader_never_panics(tail in body()) {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        if let Ok(loaded) = load("t.csv", &bytes) {
            // Exactly one outcome per record the CSV parser sees: nothing dropped, nothing
            // counted twice.
            prop_assert_eq!(
                loaded.tickets.len() + loaded.quarantined.len(),
                csv_records(&bytes),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
            for q in &loaded.quarantined {
                prop_assert!(q.row >= 1);
                prop_assert!(!q.reason.to_string().is_empty());
            }
            for t in &loaded.tickets {
                prop_assert!(!(t.subject.trim().is_empty() && t.body.trim().is_empty()));
            }
        }
    }

    /// Arbitrary bytes, header included.
    #[test]
    fn csv_loader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = load("t.csv", &bytes);
    }

    /// JSON lines: any mix of valid objects, broken lines and junk; exactly one outcome per
    /// non-blank line.
    #[test]
    fn jsonl_loader_never_panics(lines in prop::collection::vec(prop_oneof![
        body(),
        ("[a-z ]{0,20}", "(b|)").prop_map(|(s, b)| format!("{{\"subject\":\"{s}\",\"body\":\"{b}\"}}").into_bytes()),
    ], 0..20)) {
        let bytes = lines.join(&b'\n');
        if let Ok(loaded) = load("t.jsonl", &bytes) {
            let records = bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
            prop_assert_eq!(loaded.tickets.len() + loaded.quarantined.len(), records, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    /// The cleaner on any text: no panic; the counts it reports are consistent.
    #[test]
    fn cleaner_never_panics(subject in body(), text in body(), lang in prop::option::of("[a-z]{0,3}")) {
        let subject = String::from_utf8_lossy(&subject);
        let text = String::from_utf8_lossy(&text);
        let p = prepare(&subject, &text, lang.as_deref());
        prop_assert!(p.placeholder_count() <= p.tokens.len());
    }

    /// Deeply repeated placeholders and HTML: linear work, no blow-up, no panic.
    #[test]
    fn repeated_placeholders(n in 0usize..20_000) {
        let body = "<name> <acc_num><br>".repeat(n);
        let p = prepare("", &body, Some("en"));
        prop_assert!(p.placeholder_count() <= p.tokens.len());
    }
}
