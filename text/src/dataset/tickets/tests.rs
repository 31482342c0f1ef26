//! The two-read duplicate-id check against the one-read map it replaced.

use std::collections::HashMap;
use std::io::Write;

use super::*;

fn file_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
    (dir, path)
}

fn chunks_of(chunk_entries: usize) -> DuplicateIdOptions {
    DuplicateIdOptions {
        chunk_entries,
        spill_dir: None,
    }
}

fn outcomes(path: &Path, opts: &LoadOptions, chunk_entries: usize) -> Vec<TicketOutcome> {
    TicketReader::open_with(path, opts, &chunks_of(chunk_entries))
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("read")
}

/// What the reader answered before the two reads: one read, a map from every accepted id to
/// its row.
fn with_one_read_and_a_map(path: &Path, opts: &LoadOptions) -> Vec<TicketOutcome> {
    let mut seen: HashMap<u128, u64> = HashMap::new();
    RecordReader::open(path, ticket_columns(opts), opts)
        .expect("open")
        .map(|outcome| match outcome.expect("read") {
            RecordOutcome::Quarantined(q) => TicketOutcome::Quarantined(q),
            RecordOutcome::Record(record) => {
                let line = record.line;
                match row_outcome(record, opts.id_column.is_some()) {
                    TicketOutcome::Accepted(t) => match seen.get(&id_key(&t.id)) {
                        Some(&first_row) => TicketOutcome::Quarantined(Quarantined {
                            row: t.row,
                            line,
                            excerpt: super::super::excerpt(t.subject.as_bytes()),
                            reason: QuarantineReason::DuplicateId {
                                id: t.id,
                                first_row,
                            },
                        }),
                        None => {
                            seen.insert(id_key(&t.id), t.row);
                            TicketOutcome::Accepted(t)
                        }
                    },
                    quarantined => quarantined,
                }
            }
        })
        .collect()
}

fn duplicates(outcomes: &[TicketOutcome]) -> Vec<(u64, String, u64)> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            TicketOutcome::Quarantined(Quarantined {
                row,
                reason: QuarantineReason::DuplicateId { id, first_row },
                ..
            }) => Some((*row, id.clone(), *first_row)),
            _ => None,
        })
        .collect()
}

/// Ids repeated far apart, a row with an empty text and a row with a broken field count before
/// an id's first ticket (neither is its first occurrence), and an empty id.
const WITH_IDS: &str = "id,subject,body\n\
    A,s1,b1\n\
    B,,\n\
    C,s3,b3\n\
    B,s4,b4,extra\n\
    D,s5,b5\n\
    E,s6,b6\n\
    A,s7,b7\n\
    B,s8,b8\n\
    F,s9,b9\n\
    ,s10,b10\n\
    B,s11,b11\n\
    G,s12,b12\n\
    A,s13,b13\n";

#[test]
fn duplicates_across_chunk_boundaries_point_at_the_first_ticket() {
    let (_dir, path) = file_with("t.csv", WITH_IDS);
    let opts = LoadOptions {
        id_column: Some("id".into()),
        ..LoadOptions::default()
    };
    let expected = vec![
        (7, "A".to_string(), 1),
        (11, "B".to_string(), 8),
        (13, "A".to_string(), 1),
    ];
    for chunk in [2, 3, 4, 1_000] {
        let got = outcomes(&path, &opts, chunk);
        assert_eq!(duplicates(&got), expected, "chunk of {chunk}");
        assert_eq!(
            got,
            with_one_read_and_a_map(&path, &opts),
            "chunk of {chunk}"
        );
    }
    let quarantined = |reason: fn(&QuarantineReason) -> bool| {
        outcomes(&path, &opts, 2)
            .into_iter()
            .filter_map(|o| match o {
                TicketOutcome::Quarantined(q) if reason(&q.reason) => Some(q.row),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(quarantined(|r| *r == QuarantineReason::EmptyText), vec![2]);
    assert_eq!(quarantined(|r| *r == QuarantineReason::EmptyId), vec![10]);
    assert_eq!(
        quarantined(|r| matches!(r, QuarantineReason::FieldCount { .. })),
        vec![4]
    );
}

#[test]
fn content_ids_find_identical_rows_across_chunk_boundaries() {
    let mut csv = String::from("subject,body,type\n");
    for i in 0..60 {
        // Rows 1..=20 are distinct; rows 21..=60 repeat them twice over.
        csv.push_str(&format!("subject {},body {},Incident\n", i % 20, i % 20));
    }
    let (_dir, path) = file_with("t.csv", &csv);
    let opts = LoadOptions::default();
    let got = outcomes(&path, &opts, 4);
    assert_eq!(got, with_one_read_and_a_map(&path, &opts));
    let found = duplicates(&got);
    assert_eq!(found.len(), 40);
    assert!(
        found
            .iter()
            .all(|(row, _, first)| (row - 1) % 20 + 1 == *first)
    );
}

#[test]
fn the_shared_dev_data_gives_the_same_outcomes_at_any_chunk_size() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tickets_dev.csv");
    if !path.exists() {
        eprintln!("skipping: {} not found", path.display());
        return;
    }
    let opts = LoadOptions::default();
    let reference = with_one_read_and_a_map(&path, &opts);
    for chunk in [64, DEFAULT_CHUNK_ENTRIES] {
        assert!(outcomes(&path, &opts, chunk) == reference, "chunk {chunk}");
    }
}

#[test]
fn the_id_index_does_not_grow_with_the_input() {
    let chunk = 100;
    let mut csv = String::from("id,subject,body\n");
    for i in 0..10 * chunk {
        // Every tenth row repeats an id from far earlier.
        let id = if i % 10 == 9 { i / 2 } else { i };
        csv.push_str(&format!("T{id},s,b\n"));
    }
    let (_dir, path) = file_with("t.csv", &csv);
    let opts = LoadOptions::default();
    let reader = TicketReader::open_with(&path, &opts, &chunks_of(chunk)).expect("open");
    let summary = *reader.duplicate_ids();
    assert_eq!(summary.rows, 10 * chunk as u64);
    assert_eq!(summary.candidates, 10 * chunk as u64);
    assert_eq!(summary.id_sort.spilled_runs, 10);
    assert!(
        summary.id_sort.peak_resident_records <= chunk,
        "{summary:?}"
    );
    assert!(
        summary.repeat_sort.peak_resident_records <= chunk,
        "{summary:?}"
    );
    let got: Vec<TicketOutcome> = reader.collect::<Result<_, _>>().expect("read");
    assert_eq!(duplicates(&got).len() as u64, summary.repeats);
    assert_eq!(got, with_one_read_and_a_map(&path, &opts));
}

#[test]
fn small_inputs_never_spill() {
    let (_dir, path) = file_with("t.csv", WITH_IDS);
    let reader = TicketReader::open(&path, &LoadOptions::default()).expect("open");
    assert_eq!(reader.duplicate_ids().id_sort.spilled_runs, 0);
    assert_eq!(reader.duplicate_ids().repeat_sort.spilled_runs, 0);
}

#[test]
fn a_spill_directory_that_cannot_be_written_is_one_error_naming_it() {
    let (dir, path) = file_with("t.csv", WITH_IDS);
    let missing = dir.path().join("no-such-dir");
    let options = DuplicateIdOptions {
        chunk_entries: 2,
        spill_dir: Some(missing.clone()),
    };
    let err = match TicketReader::open_with(&path, &LoadOptions::default(), &options) {
        Ok(_) => panic!("spilling into a missing directory must fail"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("duplicate-id check"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
}
