//! The drift report's quality must never come from in-sample predictions.
//!
//! A labelled run whose labels are noise: a model can memorise its own training rows (in-sample
//! macro-F1 near 1) but cannot predict anything it did not see (out of fold, near chance). The
//! trainer's pieces, as `Trainer::process` chains them (`train_run` on a real file store, then
//! `feature_table`, then the drift comparison), must report the out-of-fold number. Feeding the freshly
//! trained model's in-sample predictions into the table, as the first round did, fails this test.

mod support;

use support::{file_store, labelled_ticket, lr_config, manifest, runtime};
use ticketflow_analytics::classify::{Example, evaluate};
use ticketflow_analytics::drift::DriftOptions;
use ticketflow_analytics::drift::compare::compare;
use ticketflow_analytics::drift::feature_table::feature_table;
use ticketflow_lifecycle::registry::QualityGate;
use ticketflow_lifecycle::training::{Incumbent, train_run};
use ticketflow_schemas::{CleanTicket, RunProgress};

const CLASSES: [&str; 4] = ["Change", "Incident", "Problem", "Request"];

/// Tickets whose words are their own (so a model can memorise them) and whose labels are noise.
fn noisy_run(n: usize) -> Vec<(CleanTicket, Vec<f32>)> {
    let mut next = ticketflow_testkit::xorshift(11);
    (0..n)
        .map(|i| {
            let tokens: Vec<String> = (0..6).map(|_| format!("w{}", next() % 5_000)).collect();
            let mut v: Vec<f32> = (0..384)
                .map(|_| (next() % 1_000) as f32 / 1_000.0 - 0.5)
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            let ticket = labelled_ticket(i, tokens, CLASSES[(next() % 4) as usize]);
            (ticket, v)
        })
        .collect()
}

#[test]
fn drift_quality_uses_out_of_fold_predictions_not_in_sample_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(dir.path());
    let tickets = noisy_run(400);
    let manifest = manifest("run-noise", "noise.csv");
    let progress = RunProgress::new("run-noise", 1, 0);
    let cfg = lr_config("embeddings+lexical");
    let gate = QualityGate {
        min_macro_f1: 0.0,
        tolerance: 1.0,
        ..QualityGate::default()
    };
    let rt = runtime();
    let outcome = rt
        .block_on(train_run(
            &store,
            "run-noise",
            &manifest,
            &progress,
            &tickets,
            &cfg,
            gate,
            &Incumbent {
                latest: None,
                champion: None,
            },
            None,
        ))
        .expect("train");
    let classifier = outcome.classifier.expect("trained");

    // In sample, the model looks excellent: that is what must not be reported.
    let examples: Vec<Example> = tickets
        .iter()
        .map(|(t, v)| Example::from_clean_ticket(t, v.clone()))
        .collect();
    let truth: Vec<usize> = tickets
        .iter()
        .map(|(t, _)| {
            let label = t.ticket_type.as_deref().unwrap_or_default();
            classifier
                .classes
                .iter()
                .position(|c| c == label)
                .expect("class")
        })
        .collect();
    let in_sample = evaluate(
        &classifier.classes,
        &truth,
        &classifier.predict_proba_batch(&examples),
    )
    .macro_avg
    .f1;

    let table = feature_table(
        tickets.iter().map(|(t, _)| t),
        None,
        outcome.out_of_fold.as_ref(),
    );
    let report = compare(
        "reference",
        &table,
        "current",
        &table,
        None,
        &DriftOptions::default(),
        0,
    );
    let reported = report
        .quality
        .as_ref()
        .expect("quality from out-of-fold predictions")
        .current
        .macro_avg
        .f1;
    assert!(
        in_sample > 0.8,
        "the model memorises its rows (in-sample {in_sample:.3}), or this test proves nothing"
    );
    assert!(
        reported < 0.45,
        "reported quality {reported:.3} is not out of fold (labels are noise; in-sample {in_sample:.3})"
    );
}
