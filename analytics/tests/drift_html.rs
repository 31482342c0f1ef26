//! The drift report's HTML page: one self-contained document, escaped, with the JSON's numbers.
//!
//! The first tests read the markup. The last one opens the page in headless Chromium (Debian
//! package `chromium`, installed by `make setup`), takes a screenshot and dumps the rendered DOM.
//! Without Chromium that test is skipped, unless `TICKETFLOW_REQUIRE_CHROMIUM=1`, where it fails.
//! Set `TICKETFLOW_DRIFT_SCREENSHOT=path.png` to keep the screenshot, and the page next to it as
//! `path.html` (the docs' example image is made that way).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use ticketflow_testkit::Requirement;

use ticketflow_analytics::classify::evaluate;
use ticketflow_analytics::drift::report_page::render_drift_report;
use ticketflow_analytics::drift::{
    ColumnDrift, ColumnKind, CoverageChange, DatasetDrift, Distribution, DriftReport,
    EmbeddingDrift, PredictionSource, PredictionSources, QualityComparison, StatTest,
};

const SCRIPT_CATEGORY: &str = "<script>alert(1)</script>";
const SCRIPT_CATEGORY_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";
const ODD_COLUMN: &str = "queue \"name\" & <b>owner</b>";

fn dist(labels: &[&str], reference: &[f64], current: &[f64]) -> Distribution {
    Distribution {
        labels: labels.iter().map(|s| s.to_string()).collect(),
        reference: reference.to_vec(),
        current: current.to_vec(),
    }
}

fn column(
    name: &str,
    kind: ColumnKind,
    test: StatTest,
    statistic: f64,
    threshold: f64,
    distribution: Distribution,
) -> ColumnDrift {
    let drifted = if test.is_p_value() {
        statistic < threshold
    } else {
        statistic >= threshold
    };
    ColumnDrift {
        column: name.to_string(),
        kind,
        test,
        statistic,
        threshold,
        drifted,
        distribution,
    }
}

/// Thirty languages, so the chart has to sum the small ones into "other".
fn many_languages() -> Distribution {
    let labels: Vec<String> = (0..30).map(|i| format!("lang-{i:02}")).collect();
    let weights: Vec<f64> = (0..30).map(|i| 1.0 / f64::from(i + 1)).collect();
    let total: f64 = weights.iter().sum();
    let reference: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let mut current = reference.clone();
    current.swap(0, 3);
    Distribution {
        labels,
        reference,
        current,
    }
}

fn classes() -> Vec<String> {
    ["Change", "Incident", "Problem", "Request"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A confident prediction of `class` among four.
fn predict(class: usize, p: f32) -> Vec<f32> {
    (0..4)
        .map(|c| if c == class { p } else { (1.0 - p) / 3.0 })
        .collect()
}

fn report() -> DriftReport {
    let columns = vec![
        column(
            "priority",
            ColumnKind::Categorical,
            StatTest::ChiSquare,
            0.4321987654,
            0.05,
            dist(
                &["low", "medium", "high", "critical"],
                &[0.3, 0.4, 0.2, 0.1],
                &[0.28, 0.41, 0.21, 0.1],
            ),
        ),
        column(
            "body_length",
            ColumnKind::Numeric,
            StatTest::KolmogorovSmirnov,
            0.0012345678,
            0.05,
            dist(
                &["0–50", "50–120", "120–300", "300–800", "800–4000"],
                &[0.1, 0.3, 0.35, 0.2, 0.05],
                &[0.05, 0.15, 0.3, 0.3, 0.2],
            ),
        ),
        column(
            "channel",
            ColumnKind::Categorical,
            StatTest::JensenShannon,
            0.2345678901,
            0.1,
            dist(
                &["email", "chat & phone", SCRIPT_CATEGORY, "portal"],
                &[0.5, 0.3, 0.0, 0.2],
                &[0.2, 0.3, 0.25, 0.25],
            ),
        ),
        column(
            "has_attachment",
            ColumnKind::Binary,
            StatTest::ZTest,
            0.87654321,
            0.05,
            dist(&["false", "true"], &[0.7, 0.3], &[0.69, 0.31]),
        ),
        column(
            ODD_COLUMN,
            ColumnKind::Numeric,
            StatTest::Wasserstein,
            0.05123456,
            0.1,
            dist(&["0–1", "1–2", "2–3"], &[0.2, 0.5, 0.3], &[0.22, 0.48, 0.3]),
        ),
        column(
            "language",
            ColumnKind::Categorical,
            StatTest::ChiSquare,
            1.5e-9,
            0.05,
            many_languages(),
        ),
    ];
    let drifted_columns = columns.iter().filter(|c| c.drifted).count();
    let share = drifted_columns as f64 / columns.len() as f64;

    let class_names = classes();
    let type_labels: Vec<&str> = class_names.iter().map(String::as_str).collect();
    let prediction = column(
        "predicted_type",
        ColumnKind::Categorical,
        StatTest::ChiSquare,
        0.0004567891,
        0.05,
        dist(
            &type_labels,
            &[0.1, 0.5, 0.15, 0.25],
            &[0.05, 0.62, 0.13, 0.2],
        ),
    );
    let target = column(
        "type",
        ColumnKind::Categorical,
        StatTest::ChiSquare,
        0.2109876,
        0.05,
        dist(
            &type_labels,
            &[0.1, 0.5, 0.15, 0.25],
            &[0.09, 0.52, 0.15, 0.24],
        ),
    );

    // Reference: 9 of 10 right. Current: 6 of 10, Change mostly missed.
    let reference_truth = [0, 1, 1, 1, 2, 2, 3, 3, 3, 1];
    let reference_pred = [0, 1, 1, 1, 2, 1, 3, 3, 3, 1];
    let current_truth = [0, 0, 1, 1, 1, 2, 2, 3, 3, 0];
    let current_pred = [1, 3, 1, 1, 2, 2, 1, 3, 3, 0];
    let probs =
        |pred: &[usize]| -> Vec<Vec<f32>> { pred.iter().map(|&c| predict(c, 0.8)).collect() };
    let quality = QualityComparison {
        reference: evaluate(&class_names, &reference_truth, &probs(&reference_pred)),
        current: evaluate(&class_names, &current_truth, &probs(&current_pred)),
        reference_rows: 10,
        current_rows: 10,
        reference_excluded: 0,
        current_excluded: 3,
    };

    DriftReport {
        reference: "tickets-2025-05".to_string(),
        current: "tickets-2025-06".to_string(),
        generated_at_ms: 1_750_000_000_000,
        reference_rows: 800,
        current_rows: 950,
        dataset: DatasetDrift {
            columns: columns.len(),
            drifted_columns,
            share,
            threshold: 0.5,
            drifted: share >= 0.5,
        },
        columns,
        embedding: Some(EmbeddingDrift {
            reference_rows: 800,
            current_rows: 950,
            domain_classifier_auc: 0.8123456789,
            auc_threshold: 0.55,
            drifted: true,
            mmd: 0.0123456789,
            mmd_p_value: 0.000999,
            permutations: 1000,
        }),
        prediction: Some(prediction),
        target: Some(target),
        predictions: Some(PredictionSources {
            reference: PredictionSource::OutOfFold,
            current: PredictionSource::Production,
        }),
        challenger_quality: Some(quality.current.clone()),
        coverage: Some(CoverageChange {
            reference: 0.41,
            current: 0.33,
        }),
        quality: Some(quality),
    }
}

/// The text between `start` and the end of its section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id} missing"));
    let len = html[start..].find("</section>").expect("section is closed");
    &html[start..start + len]
}

#[test]
fn is_one_self_contained_document() {
    let html = render_drift_report(&report());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    for (open, close) in [
        ("<html", "</html>"),
        ("<head>", "</head>"),
        ("<body>", "</body>"),
        ("<style>", "</style>"),
    ] {
        assert_eq!(html.matches(open).count(), 1, "{open}");
        assert_eq!(html.matches(close).count(), 1, "{close}");
    }
    for (open, close) in [
        ("<section", "</section>"),
        ("<table", "</table>"),
        ("<svg", "</svg>"),
        ("<details", "</details>"),
        ("<tr", "</tr>"),
    ] {
        assert_eq!(
            html.matches(open).count(),
            html.matches(close).count(),
            "{open} balanced"
        );
    }
    let lower = html.to_lowercase();
    for banned in [
        "http://",
        "https://",
        "//fonts",
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "url(",
        "@import",
        "javascript:",
    ] {
        assert!(!lower.contains(banned), "found {banned:?}");
    }
}

#[test]
fn data_is_escaped() {
    let r = report();
    let html = render_drift_report(&r);
    assert!(html.contains(SCRIPT_CATEGORY_ESCAPED));
    assert!(!html.contains(SCRIPT_CATEGORY));
    assert!(html.contains("queue &quot;name&quot; &amp; &lt;b&gt;owner&lt;/b&gt;"));
    assert!(!html.contains("<b>owner"));
    assert!(html.contains("chat &amp; phone"));
}

#[test]
fn columns_show_their_json_statistics_drifted_first() {
    let r = report();
    let html = render_drift_report(&r);
    let json = serde_json::to_string(&r).unwrap();
    let table = section(&html, "columns");

    // Four significant digits on the page, the exact JSON number in the tooltip.
    let shown = [
        ("priority", "0.4322"),
        ("body_length", "0.001235"),
        ("channel", "0.2346"),
        ("has_attachment", "0.8765"),
        (
            "queue &quot;name&quot; &amp; &lt;b&gt;owner&lt;/b&gt;",
            "0.05123",
        ),
        ("language", "1.5e-09"),
    ];
    for (c, (name, text)) in r.columns.iter().zip(shown) {
        let exact = serde_json::to_string(&c.statistic).unwrap();
        assert!(
            json.contains(&format!("\"statistic\":{exact}")),
            "{exact} is the JSON's number"
        );
        let cell = format!("<span class=\"n\" title=\"{exact}\">{text}</span>");
        assert!(
            table.contains(&format!("<th scope=\"row\">{name}</th>")),
            "{name}"
        );
        assert!(table.contains(&cell), "{name}: {cell}");
    }
    assert!(table.contains("title=\"0.05\">0.05</span>"), "threshold");
    assert!(table.contains("title=\"0.1\">0.1</span>"), "threshold");

    // Drifted rows (body_length, channel, language) before the others.
    let row = |name: &str| {
        table
            .find(&format!("<th scope=\"row\">{name}</th>"))
            .unwrap_or_else(|| panic!("{name} row"))
    };
    let last_drifted = ["body_length", "channel", "language"]
        .map(row)
        .into_iter()
        .max();
    let first_stable = ["priority", "has_attachment"].map(row).into_iter().min();
    assert!(last_drifted < first_stable);
    assert!(row("body_length") < row("channel") && row("channel") < row("language"));

    // One chart per column, each with a title; verdicts in words, not only colour.
    assert_eq!(table.matches("<svg").count(), r.columns.len());
    for chart in table.split("<svg").skip(1) {
        let opening = chart.find('>').unwrap();
        assert!(
            chart[..opening].contains("role=\"img\""),
            "an image to assistive tech"
        );
        assert!(
            chart[opening + 1..].starts_with("<title>"),
            "the chart's first child is its title"
        );
    }
    assert_eq!(table.matches("Drift detected").count(), 3);
    assert_eq!(table.matches("No drift").count(), 3);
    assert!(table.contains("other (19)"), "small languages summed");
    assert!(table.contains("<td class=\"kind\">numeric</td><td>Kolmogorov–Smirnov</td>"));
}

#[test]
fn summary_embedding_prediction_and_quality() {
    let r = report();
    let html = render_drift_report(&r);
    assert!(html.contains("2025-06-15 15:06:40 UTC"), "generated time");
    assert!(html.contains("800 rows") && html.contains("950 rows"));

    let summary = section(&html, "summary");
    assert!(summary.contains("Dataset drift detected"));
    assert!(summary.contains(
        "<strong>3 of 6 columns drifted</strong> (share <span class=\"n\" title=\"0.5\">0.5</span>, \
         threshold <span class=\"n\" title=\"0.5\">0.5</span>)"
    ));
    assert!(summary.contains("AUC <span class=\"n\" title=\"0.8123456789\">0.8123</span>"));
    assert!(summary.contains("MMD p-value <span class=\"n\" title=\"0.000999\">0.000999</span>"));
    assert!(summary.contains("Prediction drift"));

    let embedding = section(&html, "embedding");
    assert!(embedding.contains("<title>Domain classifier ROC AUC 0.8123 against threshold 0.55"));
    assert!(
        embedding.contains("title=\"0.0123456789\">0.01235</span>"),
        "MMD"
    );
    assert!(embedding.contains("<dd>1000</dd>"), "permutations");

    let prediction = section(&html, "prediction");
    assert!(prediction.contains("title=\"0.0004567891\">0.0004568</span>"));
    assert!(prediction.contains("Drift detected"));
    let target = section(&html, "target");
    assert!(target.contains("No drift"));

    let quality = section(&html, "quality");
    // Which predictions were scored is said in words on the page.
    assert!(quality.contains(
        "reference — the run&#39;s own model, out of fold; current — production (the latest model before the run)"
    ), "{quality}");
    let routing = section(&html, "routing");
    assert!(routing.contains("Coverage: share routed automatically by production"));
    assert!(routing.contains("title=\"0.41\">0.41</span>"), "{routing}");
    assert!(routing.contains("production vs the run's own model out of fold"));
    let q = r.quality.as_ref().unwrap();
    assert_eq!(q.current.accuracy, 0.6);
    assert!(quality.contains(
        "<th scope=\"row\">Accuracy</th><td class=\"num\"><span class=\"n\" title=\"0.9\">0.9</span></td>\
         <td class=\"num\"><span class=\"n\" title=\"0.6\">0.6</span></td>"
    ));
    let macro_f1 = serde_json::to_string(&q.current.macro_avg.f1).unwrap();
    assert!(quality.contains(&format!("title=\"{macro_f1}\"")));
    // The current confusion matrix: Change (true) was predicted as Change, Incident and Request
    // once each.
    assert!(
        quality.contains("title=\"true Change, predicted Incident: 1 of 3 rows (0.3333)\">1</td>")
    );
    assert!(quality.contains("Per-class F1"));
}

#[test]
fn a_minimal_report_renders() {
    let r = DriftReport {
        reference: "run <a>".into(),
        current: "run 'b' & c".into(),
        generated_at_ms: 0,
        reference_rows: 0,
        current_rows: 0,
        dataset: DatasetDrift {
            columns: 0,
            drifted_columns: 0,
            share: 0.0,
            threshold: 0.5,
            drifted: false,
        },
        columns: vec![],
        embedding: None,
        prediction: None,
        target: None,
        quality: None,
        predictions: None,
        challenger_quality: None,
        coverage: None,
    };
    let html = render_drift_report(&r);
    assert!(html.contains("No dataset drift"));
    assert!(html.contains("No columns were compared."));
    assert!(html.contains("1970-01-01 00:00:00 UTC"));
    assert!(html.contains("<title>Drift report: run &lt;a&gt; vs run &#39;b&#39; &amp; c</title>"));
    assert!(!html.contains("<a>"));
    assert!(!html.contains("id=\"embedding\"") && !html.contains("id=\"quality\""));
}

/// Runs `cmd`, killing it after `limit`.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("chromium runs"),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("chromium did not finish within {limit:?}");
        }
    }
}

fn chromium(profile: &Path, extra: &[String]) -> Command {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra);
    cmd
}

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        Requirement::Chromium
            .missing("chromium missing (Debian package `chromium`): run `make setup`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let png = dir.path().join("report.png");
    std::fs::write(&page, render_drift_report(&report())).unwrap();
    let url = format!("file://{}", page.display());

    let started = Instant::now();
    let shot = run_with_timeout(
        chromium(
            &dir.path().join("profile-shot"),
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,2000".to_string(),
                url.clone(),
            ],
        ),
        Duration::from_secs(120),
    );
    eprintln!("chromium screenshot took {:?}", started.elapsed());
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot is {size} bytes; chromium said: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    if let Some(keep) = std::env::var_os("TICKETFLOW_DRIFT_SCREENSHOT") {
        std::fs::copy(&png, &keep).expect("copy the screenshot");
        std::fs::copy(&page, Path::new(&keep).with_extension("html")).expect("copy the page");
    }

    let started = Instant::now();
    let dump = run_with_timeout(
        chromium(
            &dir.path().join("profile-dom"),
            &[
                "--dump-dom".to_string(),
                "--enable-logging=stderr".to_string(),
                "--v=0".to_string(),
                url,
            ],
        ),
        Duration::from_secs(120),
    );
    eprintln!("chromium --dump-dom took {:?}", started.elapsed());
    let dom = String::from_utf8_lossy(&dump.stdout);
    let log = String::from_utf8_lossy(&dump.stderr);
    assert!(dump.status.success(), "chromium failed: {log}");
    assert!(dom.contains("Dataset drift detected"), "{dom}");
    assert!(dom.contains("3 of 6 columns drifted"));
    assert!(
        dom.contains(SCRIPT_CATEGORY_ESCAPED),
        "the category stays text"
    );
    // Page-level console messages (script errors, failed loads) are logged as CONSOLE lines.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
}
