//! The model registry on a real (file) object store: a trained model round-trips and predicts
//! the same, and the quality gate moves `latest` only for a good enough model.

use ticketflow_connectors::store::{S3Options, Store, StoreConfig};
use ticketflow_ml::classify::{
    Classifier, Example, FeatureSet, ModelKind, TrainConfig, train_and_select,
};
use ticketflow_workers::registry::{GateVerdict, LATEST_KEY, QualityGate, Registration, Registry};

const CLASSES: [&str; 4] = ["Incident", "Request", "Problem", "Change"];
const WORDS: [&[&str]; 4] = [
    &["outage", "down", "error", "urgent", "crash"],
    &["please", "access", "licence", "order", "grant"],
    &["recurring", "root", "cause", "again", "slow"],
    &["upgrade", "migrate", "configure", "window", "plan"],
];

/// A small labelled set whose classes differ in their words and their embedding direction.
fn data(n: usize, seed: u64) -> (Vec<Example>, Vec<String>) {
    let mut rng = fastrand_like(seed);
    let mut examples = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let c = i % 4;
        let mut embedding = vec![0.0_f32; 384];
        for (j, x) in embedding.iter_mut().enumerate() {
            *x = (rng() - 0.5) * 0.2 + if j % 4 == c { 0.3 } else { 0.0 };
        }
        let norm = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        embedding.iter_mut().for_each(|x| *x /= norm);
        let tokens = (0..4)
            .map(|k| WORDS[c][(i + k) % WORDS[c].len()].to_string())
            .collect();
        examples.push(Example {
            embedding,
            tokens,
            queue: Some(["IT", "Billing"][i % 2].to_string()),
            priority: Some("medium".into()),
            language: Some("en".into()),
        });
        labels.push(CLASSES[c].to_string());
    }
    (examples, labels)
}

/// A tiny deterministic generator (xorshift) so the test needs no extra crate.
fn fastrand_like(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f32 / 10_000.0
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        features: FeatureSet::parse("embeddings+lexical+metadata").expect("feature set"),
        folds: 3,
        candidates: vec![ModelKind::LogisticRegression],
        ..TrainConfig::default()
    }
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        url: format!("file://{}", dir.display()),
        s3: S3Options::default(),
    })
    .expect("store")
}

fn registration<'a>(
    run_id: &'a str,
    labels: &'a [String],
    cfg: &'a TrainConfig,
    report: &'a ticketflow_ml::classify::TrainReport,
) -> Registration<'a> {
    Registration {
        run_id,
        input: "tickets.csv",
        data_digest: "d",
        embed_input: "normalized",
        labels,
        config: cfg,
        report,
        now_ms: 1,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_registered_model_round_trips_and_predicts_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::new(store(dir.path()));
    let (examples, labels) = data(200, 3);
    let cfg = config();
    let (model, report) = train_and_select(&examples, &labels, &cfg).expect("train");
    let card = rt()
        .block_on(registry.register(
            &model,
            registration("run-a", &labels, &cfg, &report),
            QualityGate::default(),
        ))
        .expect("register");
    assert!(matches!(
        card.verdict,
        GateVerdict::Promoted { previous: None }
    ));
    for file in [
        "model.msgpack",
        "card.json",
        "evaluation.json",
        "evaluation.md",
    ] {
        assert!(
            dir.path().join("models/run-a").join(file).exists(),
            "{file}"
        );
    }
    let (run, loaded): (String, Classifier) =
        rt().block_on(registry.load("latest")).expect("load latest");
    assert_eq!(run, "run-a");
    // Unseen queue, no language, no tokens: still answers, and identically.
    let (fresh, _) = data(20, 99);
    let mut odd = fresh[0].clone();
    odd.queue = Some("Never seen".into());
    odd.language = None;
    odd.tokens.clear();
    for e in fresh.iter().chain([&odd]) {
        assert_eq!(model.predict_proba(e), loaded.predict_proba(e));
    }
    let card_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("models/run-a/card.json")).expect("card"),
    )
    .expect("json");
    assert_eq!(card_json["rows_total"], 200);
    assert_eq!(
        card_json["embedding_model"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    assert!(card_json["holdout"]["macro_f1"].as_f64().expect("f1") > 0.9);
}

#[test]
fn the_gate_keeps_latest_on_a_worse_model_and_moves_it_on_a_better_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::new(store(dir.path()));
    let cfg = config();
    let gate = QualityGate {
        min_macro_f1: 0.5,
        tolerance: 0.02,
    };
    let (examples, labels) = data(200, 5);
    let (good, good_report) = train_and_select(&examples, &labels, &cfg).expect("train");
    rt().block_on(registry.register(
        &good,
        registration("good", &labels, &cfg, &good_report),
        gate,
    ))
    .expect("register good");

    // Random labels: the model learns nothing, its held-out macro-F1 is near chance.
    let mut rng = fastrand_like(17);
    let noisy: Vec<String> = labels
        .iter()
        .map(|_| CLASSES[(rng() * 4.0) as usize % 4].to_string())
        .collect();
    let (bad, bad_report) = train_and_select(&examples, &noisy, &cfg).expect("train");
    let card = rt()
        .block_on(registry.register(&bad, registration("bad", &noisy, &cfg, &bad_report), gate))
        .expect("register bad");
    assert!(
        matches!(card.verdict, GateVerdict::Rejected { .. }),
        "{:?}",
        card.verdict
    );
    let latest = rt()
        .block_on(registry.latest())
        .expect("latest")
        .expect("some");
    assert_eq!(latest.run_id, "good", "a worse model does not move latest");
    assert!(
        dir.path().join("models/bad/model.msgpack").exists(),
        "rejected model is kept"
    );

    let (better, better_report) = train_and_select(&examples, &labels, &cfg).expect("train");
    let card = rt()
        .block_on(registry.register(
            &better,
            registration("better", &labels, &cfg, &better_report),
            gate,
        ))
        .expect("register better");
    assert!(matches!(card.verdict, GateVerdict::Promoted { .. }));
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(LATEST_KEY)).expect("latest"))
            .expect("json");
    assert_eq!(latest["run_id"], "better");
}

#[test]
fn loading_without_any_model_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::new(store(dir.path()));
    let err = rt()
        .block_on(registry.load("latest"))
        .err()
        .expect("no model");
    assert!(
        err.to_string().contains("train on a labelled run first"),
        "{err}"
    );
    let err = rt()
        .block_on(registry.load("nope"))
        .err()
        .expect("no model");
    assert!(err.to_string().contains("not found"), "{err}");
}
