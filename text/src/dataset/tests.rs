use std::io::Write;

use super::*;

const HEADER: &str = "subject,body,answer,type,queue,priority,language,tag_1,tag_2,extra\n";

fn file_with(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(bytes).expect("write");
    (dir, path)
}

fn load_bytes(name: &str, bytes: &[u8]) -> Result<Loaded, LoadError> {
    let (_dir, path) = file_with(name, bytes);
    load_tickets(&path, &LoadOptions::default())
}

fn reasons(loaded: &Loaded) -> Vec<(u64, QuarantineReason)> {
    loaded
        .quarantined
        .iter()
        .map(|q| (q.row, q.reason.clone()))
        .collect()
}

#[test]
fn reads_good_rows_with_extra_columns_and_tags() {
    let csv = format!(
        "{HEADER}VPN down,\"It fails, since <br> today\",ok,Incident,IT,high,en,vpn,,x\n,Body only,,Request,,,de,,,y\n"
    );
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    assert!(loaded.quarantined.is_empty(), "{:?}", loaded.quarantined);
    assert_eq!(loaded.tickets.len(), 2);
    let t = &loaded.tickets[0];
    assert_eq!(t.row, 1);
    assert_eq!(t.subject, "VPN down");
    assert_eq!(t.body, "It fails, since <br> today");
    assert_eq!(t.ticket_type.as_deref(), Some("Incident"));
    assert_eq!(t.tags, vec!["vpn".to_string()]);
    let t2 = &loaded.tickets[1];
    assert_eq!(t2.subject, "");
    assert_eq!(t2.queue, None, "empty optional fields become None");
    assert_eq!(t2.language.as_deref(), Some("de"));
}

#[test]
fn missing_required_columns_is_one_error_naming_them() {
    let err = load_bytes("t.csv", b"title,text,type\na,b,Incident\n").expect_err("must fail");
    match &err {
        LoadError::MissingColumns { missing, .. } => {
            assert_eq!(missing, &vec!["subject".to_string(), "body".to_string()])
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("subject, body"), "{msg}");
    assert!(msg.contains("found: title, text, type"), "{msg}");
}

#[test]
fn empty_file_and_header_only() {
    assert!(matches!(
        load_bytes("t.csv", b""),
        Err(LoadError::Empty { .. })
    ));
    let loaded =
        load_bytes("t.csv", HEADER.as_bytes()).expect("header only is a valid, empty load");
    assert!(loaded.tickets.is_empty() && loaded.quarantined.is_empty());
}

#[test]
fn broken_quoting_is_quarantined_and_the_load_goes_on() {
    // Row 2 has too many fields (an unquoted comma); row 3 opens a quote that never closes, which
    // swallows the rest of the file into one field.
    let csv = format!(
        "{HEADER}ok,fine,,Incident,,,en,,,\nbad,one,two,three,,,,,,,,\ngood,row,,Request,,,en,,,\n\"open,never closed\nlast,row,,Change,,,en,,,\n"
    );
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    let got = reasons(&loaded);
    assert_eq!(loaded.tickets.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        (
            2,
            QuarantineReason::FieldCount {
                expected: 10,
                found: 12
            }
        )
    );
    assert_eq!(got[1].0, 4);
    assert!(matches!(got[1].1, QuarantineReason::FieldCount { .. }));
    assert_eq!(loaded.quarantined[1].line, 5, "line of the record start");
}

#[test]
fn invalid_utf8_is_quarantined_with_its_column() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"caf\xe9 broken,latin-1 body,,Incident,,,fr,,,\n");
    bytes.extend_from_slice(b"fine,body,,Incident,,,en,,,\n");
    let loaded = load_bytes("t.csv", &bytes).expect("load");
    assert_eq!(loaded.tickets.len(), 1);
    assert_eq!(
        reasons(&loaded),
        vec![(
            1,
            QuarantineReason::InvalidUtf8 {
                column: "subject".into()
            }
        )]
    );
    assert!(loaded.quarantined[0].excerpt.contains("broken"));
}

#[test]
fn invalid_utf8_in_an_unused_column_is_harmless() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"s,b,,Incident,,,en,,,\xff\xfe\n");
    let loaded = load_bytes("t.csv", &bytes).expect("load");
    assert_eq!(loaded.tickets.len(), 1);
}

#[test]
fn empty_subject_and_body_is_quarantined() {
    let csv = format!("{HEADER}  ,\"\",,Incident,,,en,,,\n");
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    assert_eq!(reasons(&loaded), vec![(1, QuarantineReason::EmptyText)]);
}

#[test]
fn oversized_field_is_quarantined() {
    let big = "x".repeat(2_000);
    let csv = format!("{HEADER}s,{big},,Incident,,,en,,,\ns,small,,Incident,,,en,,,\n");
    let (_dir, path) = file_with("t.csv", csv.as_bytes());
    let opts = LoadOptions {
        max_field_bytes: 1_000,
        ..LoadOptions::default()
    };
    let loaded = load_tickets(&path, &opts).expect("load");
    assert_eq!(loaded.tickets.len(), 1);
    assert_eq!(
        reasons(&loaded),
        vec![(
            1,
            QuarantineReason::OversizedField {
                column: "body".into(),
                bytes: 2_000,
                limit: 1_000
            }
        )]
    );
}

#[test]
fn content_ids_are_stable_and_distinct() {
    let csv = format!("{HEADER}a,b,,Incident,,,en,,,\nab,,,Incident,,,en,,,\n");
    let first = load_bytes("t.csv", csv.as_bytes()).expect("load");
    let again = load_bytes("t.csv", csv.as_bytes()).expect("load");
    let ids: Vec<_> = first.tickets.iter().map(|t| t.id.clone()).collect();
    let ids_again: Vec<_> = again.tickets.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, ids_again);
    assert_ne!(ids[0], ids[1], "length prefixes keep (a,b) and (ab,) apart");
    assert_eq!(ids[0].len(), 32);
}

#[test]
fn identical_rows_are_quarantined_as_duplicates_not_dropped() {
    let csv = format!("{HEADER}a,b,,Incident,,,en,,,\na,b,,Incident,,,en,,,\n");
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    assert_eq!(loaded.tickets.len(), 1);
    assert_eq!(
        reasons(&loaded),
        vec![(
            2,
            QuarantineReason::DuplicateId {
                id: loaded.tickets[0].id.clone(),
                first_row: 1
            }
        )]
    );
}

#[test]
fn an_id_column_is_used_when_present() {
    let csv = "ticket_id,subject,body\nT-1,a,b\n,c,d\n";
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    assert_eq!(loaded.tickets[0].id, "T-1");
    // Without an explicit --id-column an empty id falls back to the content hash.
    assert_eq!(loaded.tickets[1].id.len(), 32);

    let (_dir, path) = file_with("t.csv", csv.as_bytes());
    let opts = LoadOptions {
        id_column: Some("ticket_id".into()),
        ..LoadOptions::default()
    };
    let loaded = load_tickets(&path, &opts).expect("load");
    assert_eq!(reasons(&loaded), vec![(2, QuarantineReason::EmptyId)]);
}

#[test]
fn byte_order_mark_and_crlf_are_accepted() {
    let csv = "\u{feff}subject,body\r\nhello,world\r\n";
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    assert_eq!(loaded.tickets.len(), 1);
    assert_eq!(loaded.tickets[0].body, "world");
}

#[test]
fn jsonl_rows_and_bad_lines() {
    let jsonl = concat!(
        "{\"subject\":\"VPN\",\"body\":\"down\",\"type\":\"Incident\",\"priority\":2}\n",
        "\n",
        "not json\n",
        "[1,2]\n",
        "{\"subject\":\"x\"}\n",
        "{\"subject\":null,\"body\":\"only body\",\"language\":\"de\"}\n",
    );
    let loaded = load_bytes("t.jsonl", jsonl.as_bytes()).expect("load");
    assert_eq!(loaded.tickets.len(), 2);
    assert_eq!(loaded.tickets[0].priority.as_deref(), Some("2"));
    assert_eq!(loaded.tickets[1].subject, "");
    let got = reasons(&loaded);
    assert_eq!(got.len(), 3);
    assert!(matches!(got[0], (2, QuarantineReason::InvalidJson { .. })));
    assert!(matches!(got[1], (3, QuarantineReason::InvalidJson { .. })));
    assert_eq!(
        got[2],
        (
            4,
            QuarantineReason::MissingField {
                column: "body".into()
            }
        )
    );
    assert_eq!(
        loaded.quarantined[0].line, 3,
        "blank lines count as lines, not rows"
    );
}

#[test]
fn jsonl_without_required_keys_fails_like_a_csv_header() {
    let err = load_bytes("t.jsonl", b"{\"text\":\"a\"}\n").expect_err("must fail");
    assert!(matches!(err, LoadError::MissingColumns { .. }), "{err:?}");
}

#[test]
fn quarantine_file_is_json_lines_with_a_message() {
    let csv = format!("{HEADER}  ,,,Incident,,,en,,,\n");
    let loaded = load_bytes("t.csv", csv.as_bytes()).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("q.jsonl");
    write_quarantine(&out, &loaded.quarantined).expect("write");
    let text = std::fs::read_to_string(&out).expect("read");
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("json");
    assert_eq!(v["row"], 1);
    assert_eq!(v["reason"]["kind"], "empty_text");
    assert_eq!(v["message"], "subject and body are both empty");
}

#[test]
fn the_shared_dev_data_loads_cleanly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tickets_dev.csv");
    if !path.exists() {
        eprintln!(
            "skipping: {} not found (../shared/data is absent)",
            path.display()
        );
        return;
    }
    let loaded = load_tickets(&path, &LoadOptions::default()).expect("load");
    let accepted = loaded.tickets.len();
    assert_eq!(
        accepted + loaded.quarantined.len(),
        3_553,
        "every row is accounted for"
    );
    assert!(
        accepted > 3_500,
        "accepted {accepted}: {:?}",
        loaded.quarantined
    );
}

/// An unclosed quote makes the rest of a CSV file one record: the loader must stop at the
/// record limit, not read the file into memory, and say where the record starts.
#[test]
fn an_unclosed_quote_stops_at_the_record_limit() {
    let mut csv = format!("{HEADER}s,fine,,Incident,,,en,,,\ns,\"never closed,,Incident,,,en,,,\n");
    // 8 MiB of plausible rows after the quote, all swallowed by it.
    let row = "s,more text that is really inside the open quote,,Request,,,en,,,\n";
    while csv.len() < 8 << 20 {
        csv.push_str(row);
    }
    let (_dir, path) = file_with("t.csv", csv.as_bytes());
    let opts = LoadOptions {
        max_field_bytes: 64 << 10,
        max_record_bytes: 256 << 10,
        ..LoadOptions::default()
    };
    let mut reader = TicketReader::open(&path, &opts).expect("open");
    let first = reader.next().expect("a first row").expect("row 1 reads");
    assert!(matches!(first, TicketOutcome::Accepted(_)), "{first:?}");
    let err = reader
        .next()
        .expect("an outcome for the open quote")
        .expect_err("the over-long record stops the load");
    match &err {
        LoadError::RecordTooLarge { line, limit, .. } => {
            assert_eq!(*line, 3, "the record starts on line 3: {err}");
            assert_eq!(*limit, 256 << 10);
        }
        other => panic!("expected RecordTooLarge, got {other}"),
    }
    assert!(err.to_string().contains("unclosed quote"), "{err}");
    assert!(reader.next().is_none(), "nothing after the stop");
    // And the whole-file loader fails with the same error instead of a giant quarantined row.
    assert!(matches!(
        load_tickets(&path, &opts),
        Err(LoadError::RecordTooLarge { line: 3, .. })
    ));
}

/// A JSON line over the record limit is quarantined and skipped; the lines after it load.
#[test]
fn an_over_long_json_line_is_quarantined_and_skipped() {
    let long = "x".repeat(300 << 10);
    let jsonl = format!(
        "{{\"subject\":\"a\",\"body\":\"b\"}}\n{{\"subject\":\"{long}\n{{\"subject\":\"c\",\"body\":\"d\"}}\n"
    );
    let (_dir, path) = file_with("t.jsonl", jsonl.as_bytes());
    let opts = LoadOptions {
        max_field_bytes: 64 << 10,
        max_record_bytes: 256 << 10,
        ..LoadOptions::default()
    };
    let loaded = load_tickets(&path, &opts).expect("load");
    assert_eq!(loaded.tickets.len(), 2, "the lines around it load");
    assert_eq!(loaded.quarantined.len(), 1);
    assert_eq!(loaded.quarantined[0].line, 2);
    assert_eq!(
        loaded.quarantined[0].reason,
        QuarantineReason::OversizedRecord { limit: 256 << 10 }
    );
}
