//! A registered model's bytes never change (issue 23, defect 1).
//!
//! The trainer can train run R again after R's model became `latest`: a redrive that adds
//! shards, a retry after a later step failed, a second trainer. It used to judge the new model
//! as "the first model of this data set" (the champion R was filtered out as itself) and wrote
//! `models/R/model.msgpack` *before* the verdict: a rejected model then sat under the id that
//! `latest` names, and production loaded its bytes. Now a model id is written once; a retrain
//! with other bytes gets a new id (`R.2`) and is judged against R like any challenger.

mod support;

use support::{file_store, labelled_ticket, lr_config, runtime};
use ticketflow_analytics::classify::Example;
use ticketflow_connectors::store::keys;
use ticketflow_lifecycle::registry::{GateVerdict, QualityGate, Registry};
use ticketflow_lifecycle::training::{load_champion, train_run};
use ticketflow_schemas::{CleanTicket, Dataset, RunManifest, RunProgress};

const CLASSES: [&str; 4] = ["Change", "Incident", "Problem", "Request"];
const WORDS: [&str; 4] = ["upgrade", "outage", "recurring", "please"];

/// `n` tickets whose first word says their type; with `noise`, labels are random instead.
fn tickets(n: usize, noise: bool) -> Vec<(CleanTicket, Vec<f32>)> {
    let mut next = ticketflow_testkit::xorshift(if noise { 17 } else { 3 });
    (0..n)
        .map(|i| {
            let class = i % 4;
            let label = if noise {
                CLASSES[(next() % 4) as usize]
            } else {
                CLASSES[class]
            };
            let tokens: Vec<String> = std::iter::once(WORDS[class].to_string())
                .chain((0..4).map(|_| format!("w{}", next() % 50)))
                .collect();
            let ticket = labelled_ticket(i, tokens, label);
            (ticket, Vec::new())
        })
        .collect()
}

fn manifest() -> RunManifest {
    support::manifest("run-r", "r.csv")
}

#[test]
fn a_retrain_of_the_latest_run_never_overwrites_the_model_production_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(dir.path());
    let cfg = lr_config("lexical");
    let lenient = QualityGate {
        min_macro_f1: 0.5,
        min_compare_rows: 10,
        ..QualityGate::default()
    };
    let rt = runtime();
    let manifest = manifest();
    let progress = RunProgress::new("run-r", 1, 0);
    let dataset = Dataset::default();
    let registry = Registry::new(store.clone());

    // Run R trains a good model: the data set's latest.
    let good = tickets(400, false);
    let incumbent = rt.block_on(load_champion(&store, &dataset)).expect("none");
    let first = rt
        .block_on(train_run(
            &store, "run-r", &manifest, &progress, &good, &cfg, lenient, &incumbent, None,
        ))
        .expect("train");
    assert!(matches!(
        first.summary.verdict,
        Some(GateVerdict::Promoted { .. })
    ));
    let bytes_before = rt
        .block_on(store.get(&keys::model("run-r")))
        .expect("model");

    // R is trained again (a redrive added noisy tickets): a worse model, which must be judged
    // against R and rejected, and must not touch R's bytes.
    let worse = tickets(400, true);
    let incumbent = rt.block_on(load_champion(&store, &dataset)).expect("R");
    assert_eq!(incumbent.latest.as_deref(), Some("run-r"));
    let second = rt
        .block_on(train_run(
            &store, "run-r", &manifest, &progress, &worse, &cfg, lenient, &incumbent, None,
        ))
        .expect("train again");
    assert!(
        matches!(second.summary.verdict, Some(GateVerdict::Rejected { .. })),
        "judged against R: {:?} {:?}",
        second.summary.verdict,
        second.summary.champion
    );
    let card = second.summary.card.expect("card");
    assert_ne!(card, keys::model_card("run-r"), "a new model id");
    assert_eq!(
        rt.block_on(store.get(&keys::model("run-r")))
            .expect("model"),
        bytes_before,
        "the model latest names is unchanged"
    );
    let (latest, model) = rt
        .block_on(registry.load("latest", &dataset))
        .expect("latest");
    assert_eq!(latest, "run-r");
    let probe = Example::from_tokens(vec!["outage".into(), "w1".into()]);
    assert_eq!(model.classes[model.predict(&probe).0], "Incident");
    let r_card = rt.block_on(registry.card("run-r")).expect("R's card");
    assert!(matches!(r_card.verdict, GateVerdict::Promoted { .. }));

    // The same model trained again (a retry) is the same model: no new id, no new verdict.
    let incumbent = rt.block_on(load_champion(&store, &dataset)).expect("R");
    let again = rt
        .block_on(train_run(
            &store, "run-r", &manifest, &progress, &good, &cfg, lenient, &incumbent, None,
        ))
        .expect("train the same again");
    assert_eq!(
        again.summary.card.as_deref(),
        Some(keys::model_card("run-r").as_str())
    );
    assert!(matches!(
        again.summary.verdict,
        Some(GateVerdict::Promoted { .. })
    ));
}
