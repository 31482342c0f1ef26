//! Tests of [`super`] (stats.rs), kept beside it so the module itself stays readable.

use super::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// The cases under `key` in the scipy fixture.
fn fixture_cases<T: DeserializeOwned>(key: &str) -> Vec<T> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/drift/scipy.json");
    let text = std::fs::read_to_string(&path).expect("scipy fixture is committed");
    let mut fixture: serde_json::Value = serde_json::from_str(&text).expect("scipy fixture parses");
    serde_json::from_value(fixture[key].take()).unwrap_or_else(|e| panic!("{key} cases: {e}"))
}

/// A sample: a plain list or a `sequence` recipe (see `scripts/make_drift_fixtures.py`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Sample {
    Plain(Vec<f64>),
    Recipe { sequence: Sequence },
}

#[derive(Deserialize)]
struct Sequence {
    n: u64,
    mult: u64,
    modulus: u64,
    scale: f64,
    offset: f64,
}

impl Sample {
    fn values(&self) -> Vec<f64> {
        match self {
            Sample::Plain(v) => v.clone(),
            Sample::Recipe { sequence: s } => (0..s.n)
                .map(|i| ((i * s.mult) % s.modulus) as f64 / s.modulus as f64 * s.scale + s.offset)
                .collect(),
        }
    }
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    eprintln!(
        "RELERR {what}: {:e}",
        ((actual - expected) / expected).abs()
    );
    let ok = if expected == 0.0 || actual == 0.0 {
        (actual - expected).abs() <= 1e-300
    } else {
        ((actual - expected) / expected).abs() <= rel
    };
    assert!(ok, "{what}: got {actual:e}, scipy {expected:e}");
}

#[test]
fn drift_ks_2samp_matches_scipy() {
    #[derive(Deserialize)]
    struct Case {
        name: String,
        a: Sample,
        b: Sample,
        statistic: f64,
        p_value: f64,
        method: String,
    }
    let cases: Vec<Case> = fixture_cases("ks_2samp");
    assert!(cases.len() >= 15);
    let mut methods = std::collections::BTreeSet::new();
    for c in cases {
        let r = ks_2samp(&c.a.values(), &c.b.values()).unwrap();
        let method = match r.method {
            KsMethod::Exact => "exact",
            KsMethod::Asymptotic => "asymptotic",
        };
        assert_eq!(method, c.method, "{}", c.name);
        methods.insert(method);
        assert_close(r.statistic, c.statistic, 1e-12, &format!("{} D", c.name));
        assert_close(r.p_value, c.p_value, 1e-9, &format!("{} p", c.name));
        // Symmetric in its arguments.
        let s = ks_2samp(&c.b.values(), &c.a.values()).unwrap();
        assert_close(s.p_value, r.p_value, 1e-12, &format!("{} swapped", c.name));
    }
    assert_eq!(methods.len(), 2, "both branches covered");
}

/// Checks a survival function `sf(n, x)` against the fixture's scipy values under `key`.
fn assert_sf_matches_scipy(key: &str, label: &str, sf: fn(u64, f64) -> f64) {
    #[derive(Deserialize)]
    struct Case {
        n: u64,
        x: f64,
        sf: f64,
    }
    for c in fixture_cases::<Case>(key) {
        assert_close(
            sf(c.n, c.x),
            c.sf,
            1e-9,
            &format!("{label} n={} x={}", c.n, c.x),
        );
    }
}

#[test]
fn drift_kstwo_sf_matches_scipy_in_every_branch() {
    assert_sf_matches_scipy("kstwo_sf", "kstwo", kstwo_sf);
}

#[test]
fn drift_smirnov_matches_scipy() {
    assert_sf_matches_scipy("smirnov_sf", "smirnov", smirnov_sf);
}

#[test]
fn drift_chi_square_matches_evidently_and_scipy() {
    #[derive(Deserialize)]
    struct Case {
        name: String,
        reference: std::collections::BTreeMap<String, f64>,
        current: std::collections::BTreeMap<String, f64>,
        /// A number, or "inf" for a new category.
        statistic: serde_json::Value,
        p_value: f64,
    }
    for c in fixture_cases::<Case>("chi_square") {
        let keys: std::collections::BTreeSet<&String> =
            c.reference.keys().chain(c.current.keys()).collect();
        let r: Vec<f64> = keys
            .iter()
            .map(|k| *c.reference.get(*k).unwrap_or(&0.0))
            .collect();
        let q: Vec<f64> = keys
            .iter()
            .map(|k| *c.current.get(*k).unwrap_or(&0.0))
            .collect();
        let got = chi_square(&r, &q).unwrap();
        match c.statistic.as_f64() {
            Some(s) => assert_close(got.statistic, s, 1e-12, &format!("{} stat", c.name)),
            None => assert!(got.statistic.is_infinite(), "{}", c.name),
        }
        assert_close(got.p_value, c.p_value, 1e-9, &format!("{} p", c.name));
    }
}

#[test]
fn drift_z_test_matches_evidently() {
    #[derive(Deserialize)]
    struct Case {
        reference_n: u64,
        reference_successes: u64,
        current_n: u64,
        current_successes: u64,
        z: f64,
        p_value: f64,
        p_value_evidently: f64,
    }
    for c in fixture_cases::<Case>("z_test") {
        let r = proportions_z_test(
            c.reference_successes,
            c.reference_n,
            c.current_successes,
            c.current_n,
        )
        .unwrap();
        assert_close(r.statistic, c.z, 1e-12, "z");
        assert_close(r.p_value, c.p_value, 1e-9, "p");
        assert!(
            (r.p_value - c.p_value_evidently).abs() < 1e-15,
            "{} vs Evidently {}",
            r.p_value,
            c.p_value_evidently
        );
    }
    // Both sides all one value: Evidently's special case.
    assert_eq!(proportions_z_test(10, 10, 5, 5).unwrap().p_value, 1.0);
    assert!(proportions_z_test(3, 2, 1, 1).is_err());
}

#[test]
fn drift_wasserstein_matches_scipy() {
    #[derive(Deserialize)]
    struct Case {
        name: String,
        a: Sample,
        b: Sample,
        distance: f64,
        reference_std: f64,
        normed: f64,
    }
    for c in fixture_cases::<Case>("wasserstein") {
        let (a, b) = (c.a.values(), c.b.values());
        assert_close(
            wasserstein_distance(&a, &b).unwrap(),
            c.distance,
            1e-9,
            &c.name,
        );
        assert_close(population_std(&a), c.reference_std, 1e-9, &c.name);
        assert_close(
            wasserstein_distance_norm(&a, &b).unwrap(),
            c.normed,
            1e-9,
            &c.name,
        );
    }
}

#[test]
fn drift_jensen_shannon_matches_scipy() {
    #[derive(Deserialize)]
    struct Case {
        name: String,
        p: Vec<f64>,
        q: Vec<f64>,
        distance: f64,
    }
    for c in fixture_cases::<Case>("jensen_shannon") {
        let d = jensen_shannon_distance(&c.p, &c.q).unwrap();
        if c.distance == 0.0 {
            assert!(d.abs() < 1e-12, "{}", c.name);
        } else {
            assert_close(d, c.distance, 1e-9, &c.name);
        }
    }
}

#[test]
fn drift_sturges_histogram_matches_numpy() {
    #[derive(Deserialize)]
    struct Case {
        name: String,
        values: Vec<f64>,
        edges: Vec<f64>,
        counts: Vec<u64>,
    }
    for c in fixture_cases::<Case>("sturges_histogram") {
        let edges = sturges_bin_edges(&c.values).unwrap();
        // serde_json's default float parser may be one ulp off for long decimals.
        assert_eq!(edges.len(), c.edges.len(), "{}", c.name);
        for (e, f) in edges.iter().zip(&c.edges) {
            assert_close(*e, *f, 1e-15, &c.name);
        }
        assert_eq!(histogram(&c.values, &edges), c.counts, "{}", c.name);
    }
}

#[test]
fn drift_stats_reject_bad_input() {
    assert_eq!(ks_2samp(&[], &[1.0]), Err(StatsError::EmptySample("first")));
    assert_eq!(
        ks_2samp(&[1.0], &[f64::NAN]),
        Err(StatsError::NaN("second"))
    );
    assert!(chi_square(&[1.0, 2.0], &[1.0]).is_err());
    assert!(chi_square(&[0.0, 0.0], &[1.0, 1.0]).is_err());
    assert!(jensen_shannon_distance(&[1.0, -1.0], &[1.0, 1.0]).is_err());
    assert!(wasserstein_distance(&[], &[1.0]).is_err());
}

#[test]
fn drift_chi_square_edge_cases() {
    // A category only current has: infinite statistic, p = 0.
    let r = chi_square(&[10.0, 0.0], &[5.0, 1.0]).unwrap();
    assert!(r.statistic.is_infinite());
    assert_eq!(r.p_value, 0.0);
    // One category: identical distributions.
    assert_eq!(chi_square(&[4.0], &[9.0]).unwrap().p_value, 1.0);
    // Categories absent from both sides are ignored.
    let a = chi_square(&[10.0, 20.0, 0.0], &[12.0, 18.0, 0.0]).unwrap();
    let b = chi_square(&[10.0, 20.0], &[12.0, 18.0]).unwrap();
    assert_eq!(a, b);
}
