//! Tests of [`super`] (columns.rs), kept beside it so the module itself stays readable.

use super::distribution::numeric_distribution;
use super::*;
use crate::drift::Distribution;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Fixture {
    columns: BTreeMap<String, FixtureColumn>,
    dataset: DatasetDrift,
    /// The same tables with per-column methods and thresholds.
    overrides: Option<Overrides>,
}

#[derive(Deserialize)]
struct FixtureColumn {
    kind: String,
    reference: Vec<serde_json::Value>,
    current: Vec<serde_json::Value>,
    #[serde(flatten)]
    verdict: Verdict,
}

#[derive(Deserialize)]
struct Verdict {
    test: StatTest,
    statistic: f64,
    threshold: f64,
    drifted: bool,
}

#[derive(Deserialize)]
struct Overrides {
    options: BTreeMap<String, ColumnOptions>,
    columns: BTreeMap<String, Verdict>,
    dataset: DatasetDrift,
}

fn values(kind: &str, raw: &[serde_json::Value]) -> ColumnValues {
    if kind == "numeric" {
        ColumnValues::Numeric(raw.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
    } else {
        ColumnValues::Categorical(
            raw.iter()
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_default())
                .collect(),
        )
    }
}

fn load(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/drift")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("Evidently fixture is committed");
    serde_json::from_str(&text).expect("Evidently fixture parses")
}

/// Runs every column of an Evidently fixture through `column_drift` and compares test,
/// threshold, statistic (1e-6 relative; p-values below 1e-12 compared absolutely, since
/// Evidently's Z-test rounds its far tail to 0) and flag, then the dataset verdict.
fn check(
    name: &str,
    fixture: &Fixture,
    opts: &DriftOptions,
    verdicts: &BTreeMap<String, &Verdict>,
    expected: &DatasetDrift,
) {
    let mut results = Vec::new();
    for (column, f) in &fixture.columns {
        let r = values(&f.kind, &f.reference);
        let c = values(&f.kind, &f.current);
        let got = column_drift(column, &r, &c, opts).unwrap();
        let want = verdicts[column];
        assert_eq!(got.test, want.test, "{name} {column}: test");
        assert_eq!(got.threshold, want.threshold, "{name} {column}: threshold");
        let close = if want.statistic.abs() < 1e-12 {
            (got.statistic - want.statistic).abs() < 1e-12
        } else {
            ((got.statistic - want.statistic) / want.statistic).abs() < 1e-6
        };
        assert!(
            close,
            "{name} {column}: statistic {} vs Evidently {}",
            got.statistic, want.statistic
        );
        assert_eq!(got.drifted, want.drifted, "{name} {column}: drift flag");
        let total_r: f64 = got.distribution.reference.iter().sum();
        assert!(
            (total_r - 1.0).abs() < 1e-9,
            "{name} {column}: shares sum to 1"
        );
        results.push(got);
    }
    let dataset = dataset_drift(&results, opts.drift_share);
    assert_eq!(&dataset, expected, "{name}: dataset verdict");
}

fn check_against_evidently(name: &str) {
    let fixture = load(name);
    let defaults: BTreeMap<String, &Verdict> = fixture
        .columns
        .iter()
        .map(|(k, v)| (k.clone(), &v.verdict))
        .collect();
    check(
        name,
        &fixture,
        &DriftOptions::default(),
        &defaults,
        &fixture.dataset,
    );
    if let Some(o) = &fixture.overrides {
        let opts = DriftOptions {
            columns: o.options.clone(),
            ..DriftOptions::default()
        };
        let verdicts = o.columns.iter().map(|(k, v)| (k.clone(), v)).collect();
        check(
            &format!("{name} overrides"),
            &fixture,
            &opts,
            &verdicts,
            &o.dataset,
        );
    }
}

#[test]
fn drift_columns_agree_with_evidently_small_reference() {
    check_against_evidently("evidently_small.json");
}

#[test]
fn drift_columns_agree_with_evidently_large_reference() {
    let fixture = load("evidently_large.json");
    assert!(
        fixture.overrides.is_some(),
        "the large fixture also checks overrides"
    );
    check_against_evidently("evidently_large.json");
}

fn num(v: &[f64]) -> ColumnValues {
    ColumnValues::Numeric(v.to_vec())
}

fn cat(v: &[&str]) -> ColumnValues {
    ColumnValues::Categorical(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn drift_kind_follows_distinct_values() {
    assert_eq!(
        detect_kind(&num(&[0.0, 1.0]), &num(&[1.0])),
        Some(ColumnKind::Binary)
    );
    assert_eq!(
        detect_kind(&num(&[0.0, 1.0, 2.0]), &num(&[3.0, 4.0])),
        Some(ColumnKind::Categorical)
    );
    assert_eq!(
        detect_kind(&num(&[0.0, 1.0, 2.0]), &num(&[3.0, 4.0, 5.0])),
        Some(ColumnKind::Numeric)
    );
    // Missing values do not count as values.
    assert_eq!(
        detect_kind(&num(&[0.0, f64::NAN, f64::INFINITY]), &num(&[1.0])),
        Some(ColumnKind::Binary)
    );
    assert_eq!(
        detect_kind(&cat(&["a", "", "b"]), &cat(&["a"])),
        Some(ColumnKind::Binary)
    );
    assert_eq!(detect_kind(&cat(&["a"]), &num(&[1.0])), None);
}

#[test]
fn drift_test_choice_switches_at_1000_reference_rows() {
    for (kind, reference_rows, test) in [
        (ColumnKind::Numeric, 1000, StatTest::KolmogorovSmirnov),
        (ColumnKind::Numeric, 1001, StatTest::Wasserstein),
        (ColumnKind::Binary, 1000, StatTest::ZTest),
        (ColumnKind::Binary, 1001, StatTest::JensenShannon),
        (ColumnKind::Categorical, 10, StatTest::ChiSquare),
    ] {
        assert_eq!(
            default_test(kind, reference_rows),
            test,
            "{kind:?} with {reference_rows} reference rows"
        );
    }
    assert_eq!(default_threshold(StatTest::Wasserstein), 0.1);
    assert_eq!(default_threshold(StatTest::ZTest), 0.05);
    // KS flags p == threshold; chi-square does not.
    assert!(is_drift(StatTest::KolmogorovSmirnov, 0.05, 0.05));
    assert!(!is_drift(StatTest::ChiSquare, 0.05, 0.05));
    assert!(is_drift(StatTest::JensenShannon, 0.1, 0.1));
    assert!(!is_drift(StatTest::ZTest, f64::NAN, 0.05));
}

#[test]
fn drift_overrides_and_errors() {
    let mut opts = DriftOptions::default();
    opts.columns.insert(
        "x".into(),
        ColumnOptions {
            test: Some(StatTest::Wasserstein),
            threshold: Some(0.5),
        },
    );
    let r = num(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    let c = num(&[1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
    let d = column_drift("x", &r, &c, &opts).unwrap();
    assert_eq!((d.test, d.threshold), (StatTest::Wasserstein, 0.5));
    assert!(!d.drifted);
    // The override is per column.
    let d = column_drift("y", &r, &c, &opts).unwrap();
    assert_eq!(d.test, StatTest::KolmogorovSmirnov);

    opts.columns.insert(
        "lang".into(),
        ColumnOptions {
            test: Some(StatTest::KolmogorovSmirnov),
            threshold: None,
        },
    );
    let err = column_drift("lang", &cat(&["a", "b"]), &cat(&["a"]), &opts).unwrap_err();
    assert!(matches!(err, ColumnDriftError::UnsupportedTest { .. }));
    let err = column_drift(
        "x",
        &num(&[f64::NAN]),
        &num(&[1.0]),
        &DriftOptions::default(),
    );
    assert!(matches!(
        err,
        Err(ColumnDriftError::Empty {
            side: "reference",
            ..
        })
    ));
    let err = column_drift("x", &num(&[1.0]), &cat(&["a"]), &DriftOptions::default());
    assert!(matches!(err, Err(ColumnDriftError::KindMismatch { .. })));
}

#[test]
fn drift_binary_columns_use_evidentlys_z_test() {
    let r = cat(&[
        "True", "True", "False", "True", "False", "True", "True", "True",
    ]);
    let c = cat(&[
        "False", "False", "False", "True", "False", "False", "True", "False",
    ]);
    let d = column_drift("has_subject", &r, &c, &DriftOptions::default()).unwrap();
    assert_eq!((d.kind, d.test), (ColumnKind::Binary, StatTest::ZTest));
    let z = stats::proportions_z_test(6, 8, 2, 8).unwrap();
    assert_eq!(d.statistic, z.p_value);
    // One identical value on both sides: p = 1.
    let d = column_drift(
        "x",
        &cat(&["a", "a"]),
        &cat(&["a"]),
        &DriftOptions::default(),
    )
    .unwrap();
    assert_eq!(d.statistic, 1.0);
    assert!(!d.drifted);
}

#[test]
fn drift_distribution_bins_and_categories() {
    let r = num(&[12.0, 15.0, 40.0, 41.0, 100.0, 111.0]);
    let c = num(&[12.0, 20.0, 30.0, 111.0]);
    let d = numeric_distribution(
        &[12.0, 15.0, 40.0, 41.0, 100.0, 111.0],
        &[12.0, 20.0, 30.0, 111.0],
        10,
    );
    assert_eq!(d.labels.len(), 10);
    assert_eq!(d.labels[0], "12–21");
    assert_eq!(d.labels[9], "102–111");
    assert!((d.reference.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((d.current.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let full = column_drift("n", &r, &c, &DriftOptions::default()).unwrap();
    assert_eq!(full.distribution, d);

    let f = numeric_distribution(&[0.0, 0.05, 0.1], &[0.2, 0.3], 10);
    assert_eq!(f.labels[0], "0.00–0.03");
    assert_eq!(f.labels.len(), 10);

    // 25 categories: the 20 most frequent, then "other".
    let names: Vec<String> = (0..25).map(|i| format!("q{i:02}")).collect();
    let mut rv = Vec::new();
    for (i, n) in names.iter().enumerate() {
        for _ in 0..(30 - i) {
            rv.push(n.as_str());
        }
    }
    let d = column_drift(
        "queue",
        &cat(&rv),
        &cat(&["q00", "zz"]),
        &DriftOptions::default(),
    )
    .unwrap();
    assert_eq!(d.distribution.labels.len(), 21);
    assert_eq!(d.distribution.labels[0], "q00");
    assert_eq!(d.distribution.labels[1], "zz"); // half of current
    assert_eq!(d.distribution.labels[20], OTHER_LABEL);
    assert!((d.distribution.reference.iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
fn drift_dataset_share_and_threshold() {
    let col = |drifted| ColumnDrift {
        column: "c".into(),
        kind: ColumnKind::Numeric,
        test: StatTest::KolmogorovSmirnov,
        statistic: 0.5,
        threshold: 0.05,
        drifted,
        distribution: Distribution {
            labels: vec![],
            reference: vec![],
            current: vec![],
        },
    };
    let d = dataset_drift(&[col(true), col(false)], 0.5);
    assert_eq!((d.drifted_columns, d.share, d.drifted), (1, 0.5, true));
    let d = dataset_drift(&[col(true), col(false), col(false)], 0.5);
    assert!(!d.drifted);
    let d = dataset_drift(&[], 0.5);
    assert_eq!((d.columns, d.share, d.drifted), (0, 0.0, false));
}

/// How a synthetic table differs from the baseline.
struct Shape<'a> {
    /// Body length multiplier.
    longer: f64,
    languages: &'a [&'a str],
    subject_rate: f64,
    /// Weights of Incident, Request, Problem, Change.
    types: [f64; 4],
}

const BASELINE: Shape<'static> = Shape {
    longer: 1.0,
    languages: &["en", "de"],
    subject_rate: 0.85,
    types: [0.4, 0.3, 0.2, 0.1],
};

/// A synthetic ticket feature table of `rows` tickets.
fn tickets(rng: &mut fastrand::Rng, rows: usize, shape: &Shape) -> Vec<(String, ColumnValues)> {
    let mut chars = Vec::new();
    let mut words = Vec::new();
    let mut share = Vec::new();
    let (mut lang, mut queue, mut priority, mut subject, mut predicted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let pick = |rng: &mut fastrand::Rng, xs: &[&str]| xs[rng.usize(..xs.len())].to_owned();
    for _ in 0..rows {
        // Roughly log-normal lengths: a product of uniforms.
        let c = (400.0 * shape.longer * (0.5 + rng.f64()) * (0.5 + rng.f64())).round() + 20.0;
        chars.push(c);
        words.push((c / (5.5 + rng.f64())).round());
        share.push(if rng.f64() < 0.3 {
            0.0
        } else {
            (rng.f64() * 1e3).round() / 1e4
        });
        lang.push(pick(rng, shape.languages));
        queue.push(pick(
            rng,
            &["billing", "technical", "product", "returns", "sales"],
        ));
        priority.push(pick(rng, &["low", "medium", "high"]));
        subject.push((rng.f64() < shape.subject_rate).to_string());
        let mut u = rng.f64() * shape.types.iter().sum::<f64>();
        let mut t = 3;
        for (i, w) in shape.types.iter().enumerate() {
            if u < *w {
                t = i;
                break;
            }
            u -= w;
        }
        predicted.push(["Incident", "Request", "Problem", "Change"][t].to_owned());
    }
    vec![
        ("char_count".into(), ColumnValues::Numeric(chars)),
        ("word_count".into(), ColumnValues::Numeric(words)),
        ("placeholder_share".into(), ColumnValues::Numeric(share)),
        ("language".into(), ColumnValues::Categorical(lang)),
        ("queue".into(), ColumnValues::Categorical(queue)),
        ("priority".into(), ColumnValues::Categorical(priority)),
        ("has_subject".into(), ColumnValues::Categorical(subject)),
        (
            "predicted_type".into(),
            ColumnValues::Categorical(predicted),
        ),
    ]
}

fn halves(values: &ColumnValues, order: &[usize]) -> (ColumnValues, ColumnValues) {
    let half = order.len() / 2;
    match values {
        ColumnValues::Numeric(v) => (
            ColumnValues::Numeric(order[..half].iter().map(|&i| v[i]).collect()),
            ColumnValues::Numeric(order[half..].iter().map(|&i| v[i]).collect()),
        ),
        ColumnValues::Categorical(v) => (
            ColumnValues::Categorical(order[..half].iter().map(|&i| v[i].clone()).collect()),
            ColumnValues::Categorical(order[half..].iter().map(|&i| v[i].clone()).collect()),
        ),
    }
}

fn run(
    reference: &[(String, ColumnValues)],
    current: &[(String, ColumnValues)],
) -> (Vec<ColumnDrift>, DatasetDrift) {
    let opts = DriftOptions::default();
    let columns: Vec<ColumnDrift> = reference
        .iter()
        .zip(current)
        .map(|((name, r), (_, c))| column_drift(name, r, c, &opts).unwrap())
        .collect();
    let dataset = dataset_drift(&columns, opts.drift_share);
    (columns, dataset)
}

fn drifted(columns: &[ColumnDrift]) -> Vec<&str> {
    columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.column.as_str())
        .collect()
}

/// The shifted columns all drift, with at most one false alarm elsewhere (each unchanged
/// column has a 5% chance of one at p < 0.05).
#[track_caller]
fn assert_drifted(columns: &[ColumnDrift], expected: &[&str]) {
    let got = drifted(columns);
    for e in expected {
        assert!(got.contains(e), "{e} should drift; drifted: {got:?}");
    }
    let extra = got.iter().filter(|g| !expected.contains(g)).count();
    assert!(extra <= 1, "unexpected drift: {got:?}");
}

#[test]
fn drift_scenario_random_halves_do_not_drift() {
    // 1,600 rows (p-value tests) and 3,000 rows (distances), each cut into random halves.
    for (rows, seed) in [(1600, 11), (3000, 12)] {
        let mut rng = fastrand::Rng::with_seed(seed);
        let table = tickets(&mut rng, rows, &BASELINE);
        let mut order: Vec<usize> = (0..rows).collect();
        rng.shuffle(&mut order);
        let (reference, current): (Vec<_>, Vec<_>) = table
            .iter()
            .map(|(name, v)| {
                let (r, c) = halves(v, &order);
                ((name.clone(), r), (name.clone(), c))
            })
            .unzip();
        let (columns, dataset) = run(&reference, &current);
        let expected = if rows / 2 > LARGE_REFERENCE_ROWS {
            StatTest::Wasserstein
        } else {
            StatTest::KolmogorovSmirnov
        };
        assert_eq!(columns[0].test, expected);
        assert_drifted(&columns, &[]);
        assert!(!dataset.drifted, "{rows} rows: {:?}", drifted(&columns));
    }
}

#[test]
fn drift_scenario_new_languages_and_longer_bodies() {
    let mut rng = fastrand::Rng::with_seed(21);
    let reference = tickets(&mut rng, 800, &BASELINE);

    // Tickets in languages the reference never had.
    let languages = Shape {
        languages: &["en", "de", "fr", "es", "pt"],
        ..BASELINE
    };
    let (columns, dataset) = run(&reference, &tickets(&mut rng, 700, &languages));
    assert_drifted(&columns, &["language"]);
    assert_eq!(
        columns[3].statistic, 0.0,
        "new categories: chi-square p = 0"
    );
    assert!(!dataset.drifted);

    // Much longer bodies: both length columns move, the others do not.
    let longer = Shape {
        longer: 1.8,
        ..BASELINE
    };
    let (columns, dataset) = run(&reference, &tickets(&mut rng, 700, &longer));
    assert_drifted(&columns, &["char_count", "word_count"]);
    assert!(columns[0].statistic < 1e-10);
    assert!(!dataset.drifted);

    // With > 1,000 reference rows (distances), a run that changes in most ways drifts as a
    // dataset: 5 of 8 columns.
    let reference = tickets(&mut rng, 1500, &BASELINE);
    let everything = Shape {
        longer: 1.8,
        languages: &["fr", "es", "pt"],
        subject_rate: 0.5,
        types: [0.2, 0.2, 0.5, 0.1],
    };
    let (columns, dataset) = run(&reference, &tickets(&mut rng, 1200, &everything));
    assert_eq!(columns[0].test, StatTest::Wasserstein);
    assert_eq!(columns[3].test, StatTest::JensenShannon);
    assert_drifted(
        &columns,
        &[
            "char_count",
            "word_count",
            "language",
            "has_subject",
            "predicted_type",
        ],
    );
    assert!(dataset.drifted);
    assert!(dataset.share >= 5.0 / 8.0);
}
