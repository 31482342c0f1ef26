//! End-to-end tests of the `ticketflow` binary: what a user types, what they get back.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use support::{model_ready, workspace};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ticketflow"))
}

fn run(cmd: &mut Command) -> Output {
    // Model paths default to var/… relative to the working directory, like `make demo`.
    cmd.current_dir(workspace())
        .output()
        .expect("run ticketflow")
}

/// `ticketflow ARGS`, run from the workspace.
fn ticketflow<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    run(bin().args(args))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the command succeeded (else shows its stderr); its stdout.
#[track_caller]
fn assert_ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

/// Asserts the command failed and its stderr says `msg`; that stderr.
#[track_caller]
fn assert_fails_with(out: &Output, msg: &str) -> String {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "succeeded, expected {msg:?}: {}{err}",
        stdout(out)
    );
    assert!(err.contains(msg), "{err}");
    err
}

/// A path as a command-line argument.
fn arg(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

/// A fresh temp dir for a test that needs the model; `None` (the test skips) without it.
fn model_tempdir() -> Option<tempfile::TempDir> {
    model_ready().then(|| tempfile::tempdir().expect("tempdir"))
}

fn read_npy(path: &Path) -> Array2<f32> {
    let file = std::fs::File::open(path).expect("open npy");
    Array2::<f32>::read_npy(file).expect("read npy")
}

#[test]
fn help_documents_every_subcommand() {
    let help = assert_ok(&ticketflow(["--help"]));
    for cmd in ["embed", "clean", "generate"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
        assert_ok(&ticketflow([cmd, "--help"]));
    }
    let embed_help = stdout(&ticketflow(["embed", "--help"]));
    for flag in [
        "--input",
        "--output",
        "--text-column",
        "--batch-size",
        "--threads",
    ] {
        assert!(embed_help.contains(flag), "embed --help lacks {flag}");
    }
}

#[test]
fn embed_writes_a_matrix_in_row_order_with_side_files() {
    let Some(dir) = model_tempdir() else {
        return;
    };
    let input = dir.path().join("tickets.csv");
    // Row 3 is empty and row 5 breaks the field count: both quarantined, the rest embedded.
    std::fs::write(
        &input,
        "subject,body,type,language\n\
         VPN down,\"The VPN client fails since this morning.<br>Error 809.\",Incident,en\n\
         ,Bitte um Zugang zum CRM für <name>.,Request,de\n\
         ,,Incident,en\n\
         Printer,The printer on floor 3 jams again,Problem,en\n\
         bad,row,with,too,many,fields\n",
    )
    .expect("write input");
    let output = dir.path().join("vectors.npy");
    let text = assert_ok(&ticketflow([
        "embed",
        "--input",
        arg(&input),
        "--output",
        arg(&output),
    ]));
    assert!(text.contains("embedded 3 rows (2 quarantined)"), "{text}");

    let vectors = read_npy(&output);
    assert_eq!(vectors.dim(), (3, 384));
    for row in vectors.rows() {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    let rows = std::fs::read_to_string(dir.path().join("vectors.rows.csv")).expect("rows file");
    let input_rows: Vec<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("row column"))
        .collect();
    assert_eq!(input_rows, vec!["1", "2", "4"]);
    let quarantine =
        std::fs::read_to_string(dir.path().join("vectors.quarantine.jsonl")).expect("quarantine");
    let reasons: Vec<serde_json::Value> = quarantine
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["row"], 3);
    assert_eq!(reasons[0]["reason"]["kind"], "empty_text");
    assert_eq!(reasons[1]["row"], 5);
    assert_eq!(reasons[1]["reason"]["kind"], "field_count");
}

#[derive(serde::Deserialize)]
struct Reference {
    items: Vec<RefItem>,
}

#[derive(serde::Deserialize)]
struct RefItem {
    text: String,
    embedding: Vec<f32>,
}

#[test]
fn embed_text_column_reproduces_sentence_transformers() {
    let Some(dir) = model_tempdir() else {
        return;
    };
    let fixture = workspace().join("tests/fixtures/parity/reference.json");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("parse");
    let input = dir.path().join("texts.csv");
    let mut w = csv::Writer::from_path(&input).expect("csv");
    w.write_record(["text", "other"]).expect("header");
    for item in &reference.items {
        w.write_record([item.text.as_str(), "x"]).expect("row");
    }
    w.flush().expect("flush");
    drop(w);
    let output = dir.path().join("v.npy");
    assert_ok(&ticketflow([
        "embed",
        "--input",
        arg(&input),
        "--output",
        arg(&output),
        "--text-column",
        "text",
        "--batch-size",
        "7",
    ]));
    let vectors = read_npy(&output);
    assert_eq!(vectors.nrows(), reference.items.len());
    for (i, item) in reference.items.iter().enumerate() {
        let dot: f32 = vectors
            .row(i)
            .iter()
            .zip(&item.embedding)
            .map(|(a, b)| a * b)
            .sum();
        assert!(dot >= 0.9999, "row {i}: cosine {dot} for {:?}", item.text);
    }
}

#[test]
fn bad_input_and_config_fail_fast_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("t.csv");
    std::fs::write(&input, "title,text\na,b\n").expect("write");
    let input = arg(&input);
    let vectors = dir.path().join("v.npy");
    let clean_output = dir.path().join("o.jsonl");
    assert_fails_with(
        &ticketflow(["clean", "--input", input, "--output", arg(&clean_output)]),
        "missing required column(s): subject, body",
    );
    let embed = ["embed", "--input", input, "--output", arg(&vectors)];
    assert_fails_with(
        &ticketflow(
            embed
                .iter()
                .chain(&["--ort-lib", "/nonexistent/libonnxruntime.so"]),
        ),
        "cannot load ONNX Runtime from /nonexistent",
    );
    assert_fails_with(
        &ticketflow(embed.iter().chain(&["--model-dir", "/nonexistent/model"])),
        "make setup",
    );
}

#[test]
fn generate_then_clean_gives_languages_and_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tickets = dir.path().join("t.csv");
    assert_ok(&ticketflow([
        "generate",
        "--rows",
        "200",
        "--output",
        arg(&tickets),
    ]));
    let cleaned = dir.path().join("c.jsonl");
    assert_ok(&ticketflow([
        "clean",
        "--input",
        arg(&tickets),
        "--output",
        arg(&cleaned),
    ]));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&cleaned)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 200);
    for l in &lines {
        assert!(!l["tokens"].as_array().expect("tokens").is_empty());
        let text = l["text"].as_str().expect("text");
        assert!(!text.contains("<br>") && !text.contains("\\n"), "{text}");
    }
}

/// A feature table with `n` rows in `languages`, bodies about `words` words long.
fn feature_table(path: &Path, n: usize, languages: &[&str], words: usize) {
    let mut w = csv::Writer::from_path(path).expect("csv");
    w.write_record([
        "id",
        "char_count",
        "word_count",
        "language",
        "queue",
        "priority",
        "has_subject",
        "placeholder_share",
        "predicted_type",
        "predicted_probability",
        "label",
    ])
    .expect("header");
    for i in 0..n {
        let wc = words + (i * 7) % 13;
        w.write_record([
            format!("t{i}"),
            (wc * 6 + i % 5).to_string(),
            wc.to_string(),
            languages[i % languages.len()].to_string(),
            ["IT", "Billing", "Product"][i % 3].to_string(),
            ["low", "medium", "high"][(i / 3) % 3].to_string(),
            if i % 4 != 0 { "1" } else { "0" }.to_string(),
            format!("{:.3}", (i % 10) as f64 / 100.0),
            ["Incident", "Request"][i % 2].to_string(),
            "0.8".to_string(),
            ["Incident", "Request"][i % 2].to_string(),
        ])
        .expect("row");
    }
    w.flush().expect("flush");
}

#[test]
fn drift_between_feature_tables_names_the_drifted_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = dir.path().join("reference.csv");
    let same = dir.path().join("same.csv");
    let shifted = dir.path().join("shifted.csv");
    feature_table(&reference, 400, &["en", "de"], 40);
    feature_table(&same, 300, &["en", "de"], 40);
    feature_table(&shifted, 300, &["es", "pt", "fr"], 160);

    // `drift` of `current` against the reference, with its report in `out`; its stdout.
    let drift = |current: &Path, out: &Path| {
        assert_ok(&ticketflow([
            "drift",
            "--reference",
            arg(&reference),
            "--current",
            arg(current),
            "--out",
            arg(out),
        ]))
    };
    let text = drift(&same, &dir.path().join("no-drift"));
    assert!(text.starts_with("no dataset drift"), "{text}");

    let out = dir.path().join("drift");
    let text = drift(&shifted, &out);
    // Three of seven columns moved: named, but under Evidently's half-of-the-columns rule.
    assert!(text.contains("3 of 7 columns drifted"), "{text}");
    for column in ["language", "char_count", "word_count"] {
        assert!(text.contains(column), "{column} not named: {text}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("json"))
            .expect("parse");
    assert_eq!(report["dataset"]["drifted_columns"], 3);
    assert_eq!(report["dataset"]["drifted"], false);
    assert_eq!(report["prediction"]["drifted"], false);
    let html = std::fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.contains("language"));
}

#[test]
fn profile_writes_html_and_json_with_the_right_numbers() {
    let Some(dir) = model_tempdir() else {
        return;
    };
    let input = dir.path().join("tickets.csv");
    let long_body = "The synchronisation service keeps failing. ".repeat(80);
    let csv = format!(
        "subject,body,answer,type,queue,priority,language\n\
         VPN down,The VPN fails every morning.,Restart it.,Incident,IT,high,en\n\
         VPN down,The VPN fails every morning.,,Incident,IT,low,en\n\
         ,Die Rechnung ist falsch und muss dringend korrigiert werden.,,Request,Billing,medium,\n\
         Sync broken,{long_body},,Problem,IT,high,en\n\
         broken,row\n"
    );
    std::fs::write(&input, csv).expect("write csv");
    let out = dir.path().join("profile");
    let profile = ["profile", "--input", arg(&input), "--out", arg(&out)];
    let text = assert_ok(&ticketflow(profile));
    assert!(
        text.contains("4 accepted, 1 quarantined, 1 duplicates"),
        "{text}"
    );
    assert!(text.contains("profile.html"), "{text}");

    let html = std::fs::read_to_string(out.join("profile.html")).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("http") && !html.contains("<script"));
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("profile.json")).expect("json"))
            .expect("parse");
    assert_eq!(p["rows"]["accepted"], 4);
    assert_eq!(p["rows"]["quarantined"], 1);
    assert_eq!(p["rows"]["quarantine_reasons"][0]["value"], "field_count");
    assert_eq!(p["rows"]["duplicates"], 1);
    assert_eq!(p["rows"]["duplicate_share"], 0.25);
    assert_eq!(p["tokens"]["counted"], 4);
    assert_eq!(p["tokens"]["over_limit"], 1);
    let missing = |column: &str| {
        p["missing"]
            .as_array()
            .expect("missing")
            .iter()
            .find(|c| c["value"] == column)
            .map(|c| c["count"].clone())
    };
    assert_eq!(missing("subject"), Some(1.into()));
    assert_eq!(missing("language"), Some(1.into()));
    assert_eq!(missing("answer"), Some(3.into()));
    let sources = p["language_source"].as_array().expect("sources");
    let detected = sources.iter().find(|c| c["value"] == "detected");
    assert_eq!(detected.map(|c| c["count"].clone()), Some(1.into()));

    // Without the tokenizer the command says how to get it.
    assert_fails_with(
        &ticketflow(profile.iter().chain(&["--model-dir", arg(dir.path())])),
        "run make setup",
    );
}

/// Defect (issue 23): "`auth.conf` last means complete" held only for a first write. With
/// `--force` the old `auth.conf` is already there, so a run interrupted after the new CA but
/// before the new client key left a mismatched set that the next run kept as complete.
#[test]
fn an_interrupted_forced_renewal_of_the_nats_secrets_is_not_taken_for_a_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("secrets");
    let secrets = |force: bool| {
        let mut cmd = bin();
        cmd.args(["nats-secrets", "--out"]).arg(&out);
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    assert!(secrets(false).status.success(), "a first set");
    let old_key = std::fs::read(out.join("client-key.pem")).expect("old client key");
    // Interrupt the renewal where it writes the client key: a folder stands in its way.
    std::fs::remove_file(out.join("client-key.pem")).expect("rm");
    std::fs::create_dir_all(out.join("client-key.pem/blocker")).expect("block");
    let renewal = secrets(true);
    assert!(!renewal.status.success(), "the renewal was interrupted");
    // What the interruption left: a new CA and server certificate beside the old client key.
    std::fs::remove_dir_all(out.join("client-key.pem")).expect("unblock");
    std::fs::write(out.join("client-key.pem"), &old_key).expect("old key back");
    // A mismatched set must not be kept.
    assert_fails_with(&secrets(false), "only some of the NATS secrets");
    assert!(secrets(true).status.success(), "--force makes a whole set");
    assert!(secrets(false).status.success(), "which is then kept");
}
