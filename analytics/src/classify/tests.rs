//! End-to-end tests of the classifier on a small synthetic ticket set.

use super::*;

const CLASSES: [&str; 4] = ["Change", "Incident", "Problem", "Request"];
const DIM: usize = 16;

/// Word templates per class; a few words are shared so the task is not trivial.
const WORDS: [&[&str]; 4] = [
    &[
        "upgrade", "migrate", "schedule", "change", "version", "window", "system",
    ],
    &[
        "outage", "down", "error", "crashed", "urgent", "server", "system",
    ],
    &[
        "recurring",
        "slow",
        "intermittent",
        "again",
        "investigate",
        "root",
        "cause",
    ],
    &[
        "please", "access", "licence", "new", "account", "request", "add",
    ],
];
const QUEUES: [&str; 3] = ["IT Support", "Technical Support", "Customer Service"];

/// `n` examples; class `i % 4` except that Change is rare (1 in 8). Embeddings are noise plus a
/// class direction, tokens are drawn from the class template plus noise words.
fn synthetic(n: usize, seed: u64) -> (Vec<Example>, Vec<String>) {
    synthetic_with_signal(n, seed, 1.2)
}

/// [`synthetic`] with the strength of the embeddings' class direction chosen.
fn synthetic_with_signal(n: usize, seed: u64, signal: f32) -> (Vec<Example>, Vec<String>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut examples = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = if i % 8 == 0 { 0 } else { 1 + i % 3 };
        let mut embedding: Vec<f32> = (0..DIM).map(|_| rng.f32() - 0.5).collect();
        embedding[class] += signal;
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        embedding.iter_mut().for_each(|v| *v /= norm);
        let mut tokens: Vec<String> = (0..rng.usize(3..7))
            .map(|_| {
                let from = if rng.f32() < 0.75 {
                    class
                } else {
                    rng.usize(..4)
                };
                WORDS[from][rng.usize(..WORDS[from].len())].to_owned()
            })
            .collect();
        tokens.push(format!("ticket{}", rng.usize(..50)));
        examples.push(Example {
            embedding,
            tokens,
            queue: Some(QUEUES[rng.usize(..QUEUES.len())].to_owned()),
            priority: Some(["low", "medium", "high"][rng.usize(..3)].to_owned()),
            language: Some(if rng.bool() { "en" } else { "de" }.to_owned()),
            ..Example::default()
        });
        labels.push(CLASSES[class].to_owned());
    }
    (examples, labels)
}

fn config(features: &str) -> TrainConfig {
    TrainConfig {
        features: FeatureSet::parse(features).unwrap(),
        threads: 2,
        forest: ForestConfig {
            trees: 30,
            ..ForestConfig::default()
        },
        ..TrainConfig::default()
    }
}

#[test]
fn train_and_select_gives_a_consistent_report() {
    let (examples, labels) = synthetic(400, 1);
    let cfg = config("embeddings+metadata");
    let (model, report) = train_and_select(&examples, &labels, &cfg).unwrap();

    assert_eq!(model.classes, CLASSES);
    // Stratified 20% of 50/117/117/116 rows: 10 + 23 + 23 + 23.
    assert_eq!((report.train_rows, report.test_rows), (321, 79));
    assert_eq!(report.cv.len(), 2, "both candidates cross-validated");
    let best = report
        .cv
        .iter()
        .map(|c| c.mean_macro_f1)
        .fold(f64::MIN, f64::max);
    let chosen = report.cv.iter().find(|c| c.kind == report.chosen).unwrap();
    assert_eq!(chosen.mean_macro_f1, best, "the best candidate is chosen");
    for c in &report.cv {
        assert_eq!(c.fold_macro_f1.len(), 5);
        let mean = c.fold_macro_f1.iter().sum::<f64>() / 5.0;
        assert!((mean - c.mean_macro_f1).abs() < 1e-12);
    }

    let h = &report.holdout;
    assert_eq!(h.rows, 79);
    assert_eq!(h.confusion.iter().flatten().sum::<u64>(), 79);
    let supports: Vec<u64> = h.per_class.iter().map(|m| m.support).collect();
    assert_eq!(supports, [10, 23, 23, 23]);
    let diagonal: u64 = (0..4).map(|c| h.confusion[c][c]).sum();
    assert!((h.accuracy - diagonal as f64 / 79.0).abs() < 1e-12);
    assert_eq!(h.calibration.iter().map(|b| b.count).sum::<u64>(), 79);
    assert!(
        h.macro_avg.f1 > 0.8,
        "learnable data: macro-F1 {}",
        h.macro_avg.f1
    );

    // The report's holdout is exactly what the returned model predicts on the held-out rows.
    let (_, test) = stratified_split(&labels, cfg.test_fraction, cfg.seed);
    let probs = model.predict_proba_batch(
        &test
            .iter()
            .map(|&i| examples[i].clone())
            .collect::<Vec<_>>(),
    );
    let truth: Vec<usize> = test
        .iter()
        .map(|&i| CLASSES.iter().position(|c| *c == labels[i]).unwrap())
        .collect();
    assert_eq!(&evaluate(&model.classes, &truth, &probs), h);
}

#[test]
fn training_is_reproducible() {
    let (examples, labels) = synthetic(200, 2);
    let cfg = config("embeddings+lexical+metadata");
    let (a, ra) = train_and_select(&examples, &labels, &cfg).unwrap();
    let (b, rb) = train_and_select(&examples, &labels, &TrainConfig { threads: 1, ..cfg }).unwrap();
    assert_eq!(ra.holdout, rb.holdout);
    assert_eq!(ra.cv[0].fold_macro_f1, rb.cv[0].fold_macro_f1);
    assert_eq!(
        a.predict_proba_batch(&examples[..20]),
        b.predict_proba_batch(&examples[..20])
    );
}

#[test]
fn lexical_feature_sets_skip_the_forest() {
    let (examples, labels) = synthetic(120, 3);
    let (model, report) =
        train_and_select(&examples, &labels, &config("embeddings+lexical")).unwrap();
    assert_eq!(model.kind, ModelKind::LogisticRegression);
    assert_eq!(report.cv.len(), 1);
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].starts_with("random_forest"),
        "{:?}",
        report.skipped
    );
    let err = Classifier::fit(
        &examples,
        &labels,
        ModelKind::RandomForest,
        &config("lexical"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ClassifyError::UnsupportedFeatures { .. }),
        "{err}"
    );
}

#[test]
fn every_feature_set_and_model_learns_the_synthetic_task() {
    let (examples, labels) = synthetic(240, 4);
    for features in FeatureSet::COMPARED {
        for kind in ModelKind::ALL.into_iter().filter(|k| k.supports(features)) {
            let cfg = TrainConfig {
                features,
                ..config("lexical")
            };
            let cv = cross_validate(&examples, &labels, kind, &cfg).unwrap();
            assert!(
                cv.mean_macro_f1 > 0.6,
                "{features} {kind}: {}",
                cv.mean_macro_f1
            );
        }
    }
}

/// Predicts for awkward inputs with every model kind and a feature set it supports.
#[test]
fn predicts_for_missing_and_unseen_inputs() {
    let (examples, labels) = synthetic(160, 5);
    let awkward = [
        // Missing subject and body: no tokens.
        Example {
            tokens: vec![],
            ..examples[0].clone()
        },
        // Unknown language, unseen queue, no priority.
        Example {
            language: Some("xx".into()),
            queue: Some("Quantum Department".into()),
            priority: None,
            ..examples[1].clone()
        },
        // Nothing at all: the embedding is missing too.
        Example::default(),
        // Wrong embedding length and a NaN: treated as missing.
        Example {
            embedding: vec![f32::NAN; 3],
            ..examples[2].clone()
        },
    ];
    for (kind, features) in [
        (ModelKind::LogisticRegression, "embeddings+lexical+metadata"),
        (ModelKind::RandomForest, "embeddings+metadata"),
    ] {
        let model = Classifier::fit(&examples, &labels, kind, &config(features)).unwrap();
        for (i, example) in awkward.iter().enumerate() {
            let p = model.predict_proba(example);
            assert_eq!(p.len(), 4);
            assert!(
                p.iter().all(|v| v.is_finite() && *v >= 0.0),
                "{kind} case {i}: {p:?}"
            );
            assert!(
                (p.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                "{kind} case {i}: {p:?}"
            );
            let (class, prob) = model.predict(example);
            assert!(class < 4 && prob == p[class]);
        }
        assert!(model.check(&awkward[3]).is_err());
        assert!(model.check(&examples[3]).is_ok());
    }
}

#[test]
fn serde_round_trip_predicts_identically() {
    type RoundTrip = fn(&Classifier) -> Classifier;
    let round_trips: [(&str, RoundTrip); 2] = [
        ("JSON", |m| {
            serde_json::from_str(&serde_json::to_string(m).unwrap()).unwrap()
        }),
        ("MessagePack", |m| {
            rmp_serde::from_slice(&rmp_serde::to_vec_named(m).unwrap()).unwrap()
        }),
    ];
    let (examples, labels) = synthetic(160, 6);
    for (kind, features) in [
        (ModelKind::LogisticRegression, "embeddings+lexical+metadata"),
        (ModelKind::RandomForest, "embeddings+metadata"),
    ] {
        let model = Classifier::fit(&examples, &labels, kind, &config(features)).unwrap();
        let expected = model.predict_proba_batch(&examples);
        for (format, round_trip) in round_trips {
            let back = round_trip(&model);
            assert_eq!(
                back.predict_proba_batch(&examples),
                expected,
                "{kind} via {format}"
            );
            assert_eq!((back.kind, back.features), (model.kind, model.features));
        }
    }
}

#[test]
fn balanced_class_weights_raise_recall_of_the_rare_class() {
    // Change is 1 row in 8, and a weak embedding signal makes it hard, so weighting shows.
    let (examples, labels) = synthetic_with_signal(800, 7, 0.25);
    let recall = |balanced: bool| {
        let cfg = TrainConfig {
            class_weight_balanced: balanced,
            candidates: vec![ModelKind::LogisticRegression],
            ..config("embeddings")
        };
        let (_, report) = train_and_select(&examples, &labels, &cfg).unwrap();
        let change = &report.holdout.per_class[0];
        let predicted_change: u64 = report.holdout.confusion.iter().map(|row| row[0]).sum();
        (change.recall, predicted_change)
    };
    let (plain_recall, plain_predicted) = recall(false);
    let (balanced_recall, balanced_predicted) = recall(true);
    // Seen: 9 → 21 held-out rows predicted Change, recall 0.30 → 0.55.
    assert!(
        balanced_predicted > plain_predicted + 5,
        "{balanced_predicted} vs {plain_predicted}"
    );
    assert!(
        balanced_recall > plain_recall + 0.1,
        "{balanced_recall} vs {plain_recall}"
    );
}

#[test]
fn rejects_bad_training_input() {
    let (examples, labels) = synthetic(40, 8);
    let cfg = config("embeddings");
    let lr = ModelKind::LogisticRegression;
    assert_eq!(
        Classifier::fit(&examples, &labels[..39], lr, &cfg).unwrap_err(),
        ClassifyError::LengthMismatch {
            examples: 40,
            labels: 39
        }
    );
    let one_class = vec!["Incident".to_string(); 40];
    assert!(matches!(
        Classifier::fit(&examples, &one_class, lr, &cfg),
        Err(ClassifyError::TooFewClasses { found: 1 })
    ));
    let mut bad = examples.clone();
    bad[5].embedding.pop();
    assert!(matches!(
        Classifier::fit(&bad, &labels, lr, &cfg),
        Err(ClassifyError::EmbeddingLength { row: 5, .. })
    ));
    let folds_1 = TrainConfig { folds: 1, ..cfg };
    assert!(matches!(
        train_and_select(&examples, &labels, &folds_1),
        Err(ClassifyError::InvalidConfig(_))
    ));
}

#[test]
fn names_parse_and_print() {
    for features in FeatureSet::COMPARED {
        assert_eq!(FeatureSet::parse(&features.name()).unwrap(), features);
    }
    assert_eq!(FeatureSet::DEFAULT.name(), "embeddings+metadata+lexical");
    assert!(matches!(
        FeatureSet::parse(""),
        Err(ClassifyError::UnknownFeature(_))
    ));
    assert_eq!("rf".parse::<ModelKind>().unwrap(), ModelKind::RandomForest);
    assert_eq!(
        ModelKind::parse("Logistic-Regression").unwrap(),
        ModelKind::LogisticRegression
    );
    assert_eq!(
        serde_json::to_string(&ModelKind::RandomForest).unwrap(),
        "\"random_forest\""
    );
    let cfg: TrainConfig = serde_json::from_str(r#"{"folds": 3}"#).unwrap();
    assert_eq!(cfg.folds, 3);
    assert_eq!(cfg.features, FeatureSet::DEFAULT);
}
