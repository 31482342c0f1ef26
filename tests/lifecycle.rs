//! The model lifecycle on the real stack (nats-server, Chroma, every stage a `ticketflow worker`
//! process), as a new user lives it: `make demo` on synthetic tickets, then their own labelled
//! tickets, then predictions and a retrain.
//!
//! What must hold:
//! - the synthetic run's model never becomes `latest` or the drift reference of the user's data
//!   (data sets: the demo's run is in `demo`, the user's in `default`);
//! - the first run of a data set says "no reference yet" instead of comparing itself with itself;
//! - `predict --model latest` uses the user's model, and writes `auto`;
//! - an inference run is judged against the right reference with production's predictions, and
//!   writes `auto` into Chroma;
//! - a weaker challenger on the same data is rejected, with both scores (on the same rows) in
//!   its card.
//!
//! The user's data is the first rows of `../shared/data/tickets_dev.csv` when it is there, else
//! generated tickets of another seed.

mod support;

use std::path::{Path, PathBuf};

use support::{StackEnv, generate, read_json as json, slice_csv};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};

/// The user's own labelled tickets: the dev data when present.
fn user_data(dir: &Path) -> PathBuf {
    let all = dir.join("user_all.csv");
    support::dev_tickets(&all, 1_100, 777);
    all
}

/// `ticketflow <args>`, which must succeed: the run id it names (empty for commands that name
/// none) and its stdout.
fn run(env: &StackEnv, args: &[&str], logs: &[&support::Proc]) -> (String, String) {
    let stdout = support::run_ok(env, args, logs);
    let run_id = stdout
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (run_id, stdout)
}

#[test]
fn demo_data_never_judges_the_users_model_and_a_weaker_challenger_is_rejected() {
    let Some(support::Services { nats, chroma, dir }) = support::Services::start() else {
        return;
    };
    let store_dir = dir.path().join("store");
    let store_url = format!("file://{}", store_dir.display());
    let env = StackEnv::new(&nats, &chroma, &store_url, "lifecycle");
    let workers = env.workers(1, dir.path(), &[]);
    let logs: Vec<&support::Proc> = workers.iter().collect();

    // 1. `make demo`: synthetic tickets in the data set `demo`.
    let synthetic = dir.path().join("synthetic.csv");
    generate(&synthetic, 600, 42);
    let (demo_run, demo_out) = run(
        &env,
        &[
            "run",
            "--input",
            &synthetic.to_string_lossy(),
            "--dataset",
            "demo",
            "--shard-size",
            "300",
            "--wait",
        ],
        &logs,
    );
    assert!(demo_out.contains("promoted to latest"), "{demo_out}");
    assert!(demo_out.contains("no reference yet"), "{demo_out}");

    // 2. The user's own labelled tickets, in the default data set.
    let all = user_data(dir.path());
    let labelled = dir.path().join("user_labelled.csv");
    slice_csv(&all, &labelled, 0, 800, None);
    let (user_run, user_out) = run(
        &env,
        &[
            "run",
            "--input",
            &labelled.to_string_lossy(),
            "--shard-size",
            "400",
            "--wait",
        ],
        &logs,
    );
    assert_ne!(user_run, demo_run);
    assert!(user_out.contains("promoted to latest"), "{user_out}");
    // Not compared with the synthetic run: the default data set had no reference yet.
    assert!(user_out.contains("no reference yet"), "{user_out}");
    let latest = json(&store_dir.join("datasets/default/latest.json"));
    assert_eq!(latest["run_id"], user_run.as_str());
    let demo_latest = json(&store_dir.join("datasets/demo/latest.json"));
    assert_eq!(demo_latest["run_id"], demo_run.as_str());
    let card = json(&store_dir.join(format!("models/{user_run}/card.json")));
    assert_eq!(card["dataset"], "default");
    assert!(
        card["champion"].is_null(),
        "first model of the data set: {card}"
    );
    let routing = &card["routing"];
    assert!(routing["target_precision"].as_f64() == Some(0.85), "{card}");
    assert!(
        store_dir
            .join(format!("models/{user_run}/precision_coverage.svg"))
            .is_file()
    );
    // The drift result says there was nothing to compare with, and wrote no self-comparison.
    let result = json(&store_dir.join(format!("runs/{user_run}/result.json")));
    assert!(result["drift"]["reference"].is_null(), "{result}");
    assert!(
        !store_dir
            .join(format!("runs/{user_run}/drift/report.json"))
            .exists()
    );
    // Its feature table carries the model's out-of-fold predictions (no production model yet).
    let features = std::fs::read_to_string(store_dir.join(format!("runs/{user_run}/features.csv")))
        .expect("features");
    let header = features.lines().next().expect("header");
    assert!(
        header.contains(
            "predicted_type,predicted_probability,auto,oof_predicted_type,oof_probability,label"
        ),
        "{header}"
    );

    // 3. predict --model latest uses the user's model and says which tickets are routed.
    let new = dir.path().join("user_new.csv");
    slice_csv(&all, &new, 800, 150, None);
    let predictions = dir.path().join("predictions.csv");
    let (_, predict_out) = run(
        &env,
        &[
            "predict",
            "--input",
            &new.to_string_lossy(),
            "--output",
            &predictions.to_string_lossy(),
            "--model",
            "latest",
        ],
        &logs,
    );
    assert!(
        predict_out.contains(&format!("with model {user_run}")),
        "{predict_out}"
    );
    let text = std::fs::read_to_string(&predictions).expect("predictions");
    assert!(
        text.starts_with("id,row,predicted_type,probability,auto,auto_reason,p_"),
        "{text:.200}"
    );
    assert!(
        text.lines().skip(1).all(|l| l
            .split(',')
            .nth(4)
            .is_some_and(|a| a == "true" || a == "false")),
        "{text:.400}"
    );

    // 4. An inference run of new tickets: judged against the user's run with production's
    //    predictions, and `auto` lands in Chroma.
    let unlabelled = dir.path().join("user_unlabelled.csv");
    slice_csv(&all, &unlabelled, 800, 150, Some("type"));
    let (infer_run, infer_out) = run(
        &env,
        &[
            "run",
            "--input",
            &unlabelled.to_string_lossy(),
            "--shard-size",
            "150",
            "--wait",
        ],
        &logs,
    );
    assert!(infer_out.contains("routed automatically"), "{infer_out}");
    let result = json(&store_dir.join(format!("runs/{infer_run}/result.json")));
    assert_eq!(result["drift"]["reference"], user_run.as_str(), "{result}");
    assert_eq!(result["predictions"]["model_run"], user_run.as_str());
    let report = json(&store_dir.join(format!("runs/{infer_run}/drift/report.json")));
    assert_eq!(
        report["predictions"]["reference"], "out_of_fold",
        "{report}"
    );
    assert_eq!(report["predictions"]["current"], "production");
    let rt = support::runtime();
    let chroma_client = rt
        .block_on(ChromaClient::connect(&ChromaConfig::new(
            &chroma.url,
            "lifecycle",
        )))
        .expect("chroma");
    let infer_features =
        std::fs::read_to_string(store_dir.join(format!("runs/{infer_run}/features.csv")))
            .expect("features");
    let ids: Vec<String> = infer_features
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 150);
    let records = rt.block_on(chroma_client.get(&ids)).expect("get");
    assert_eq!(records.len(), 150);
    assert!(
        records
            .iter()
            .all(|r| r.metadata.get("auto").is_some_and(|a| a.is_boolean())),
        "auto in every record's metadata"
    );

    // 5. A weaker challenger on the same data (metadata features only) is rejected, with both
    //    scores on the same rows in its card, and `latest` stays.
    let (_, train_out) = run(
        &env,
        &[
            "train",
            "--run",
            &user_run,
            "--features",
            "metadata",
            "--model-id",
            "weak",
        ],
        &logs,
    );
    let weak = json(&store_dir.join("models/weak/card.json"));
    assert_eq!(weak["verdict"]["verdict"], "rejected", "{train_out}");
    assert_eq!(weak["champion"]["champion"], user_run.as_str());
    assert_eq!(weak["champion"]["comparable"], true);
    let challenger = weak["champion"]["challenger_holdout_macro_f1"]
        .as_f64()
        .expect("challenger score");
    let champion = weak["champion"]["champion_holdout_macro_f1"]
        .as_f64()
        .expect("champion score");
    assert!(challenger < champion, "{weak}");
    assert_eq!(
        json(&store_dir.join("datasets/default/latest.json"))["run_id"],
        user_run.as_str()
    );
    drop(workers);
}
