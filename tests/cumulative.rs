//! A cumulative daily export on the real stack (nats-server, Chroma, every stage a `ticketflow
//! worker` process): each day's file is yesterday's plus new tickets, as the CronJob meets it.
//!
//! What must hold (the model side's promise):
//! - a day 2 whose model is genuinely better (five times the data) is promoted: the champion is
//!   scored only on tickets neither model trained on, never on its own training tickets, and the
//!   card says on how many;
//! - a day 3 whose model is worse (a trainer misconfigured to metadata features) is rejected on
//!   those tickets, and `latest` stays;
//! - production's quality in the drift report and its routing figures leave out the tickets it
//!   trained on, by count;
//! - a ticket in a language absent from training is not routed, and says why;
//! - a drifted batch is predicted but not routed, with the suspension reason, through `predict`
//!   and through an inference run (Chroma, `result.json`, the routing state); `ticketflow
//!   routing resume` routes again.
//!
//! The labelled tickets are the English and German rows of `../shared/data/tickets_dev.csv`
//! when it is there, else generated ones; the shifted batch is generated Spanish, French and
//! Portuguese tickets.

mod support;

use std::path::{Path, PathBuf};

use support::{StackEnv, filter_csv, generate, read_json, run_id_from};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};

/// English and German labelled tickets: the dev data when present, else generated.
fn labelled_source(dir: &Path) -> PathBuf {
    let raw = dir.join("source_raw.csv");
    support::dev_tickets(&raw, 4_000, 2_024);
    let source = dir.join("source.csv");
    filter_csv(&raw, &source, None, |_, rec, header| {
        let lang = header.iter().position(|h| h == "language");
        lang.is_some_and(|c| matches!(&rec[c], "en" | "de"))
    });
    source
}

/// The first `n` records of `source`: a cumulative export of `n` tickets.
fn day(source: &Path, to: &Path, n: usize) -> PathBuf {
    assert_eq!(
        support::slice_csv(source, to, 0, n, None),
        n,
        "source too short"
    );
    to.to_path_buf()
}

/// CSV rows of a predictions file as (auto, auto_reason).
fn routing_columns(path: &Path) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(path).expect("predictions");
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (auto, reason) = (col("auto"), col("auto_reason"));
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            (rec[auto].to_string(), rec[reason].to_string())
        })
        .collect()
}

#[test]
fn cumulative_days_are_judged_on_unseen_tickets_and_shifted_batches_are_not_routed() {
    let Some(support::Services { nats, chroma, dir }) = support::Services::start() else {
        return;
    };
    let store_dir = dir.path().join("store");
    let store_url = format!("file://{}", store_dir.display());
    // int8 vectors halve the embedding time; the floor is low so the small day 1 is promoted
    // and judged against on day 2.
    let env = StackEnv::new(&nats, &chroma, &store_url, "cumulative").with(vec![
        ("TICKETFLOW_PRECISION".into(), "int8".into()),
        ("TICKETFLOW_MIN_MACRO_F1".into(), "0.2".into()),
    ]);
    let mut workers = env.workers(1, dir.path(), &[]);
    let run = |args: &[&str], workers: &[support::Proc]| -> (String, String) {
        let stdout = support::run_ok(&env, args, &workers.iter().collect::<Vec<_>>());
        let id = if args.first() == Some(&"run") {
            run_id_from(&stdout)
        } else {
            String::new()
        };
        (id, stdout)
    };
    // `predict --input INPUT --output OUTPUT EXTRA…`; its stdout.
    let predict = |input: &Path, output: &Path, extra: &[&str], workers: &[support::Proc]| {
        let (input, output) = (input.to_string_lossy(), output.to_string_lossy());
        let mut args = vec!["predict", "--input", &input, "--output", &output];
        args.extend(extra);
        run(&args, workers).1
    };
    let source = labelled_source(dir.path());

    // Day 1: 400 tickets.
    let day1 = day(&source, &dir.path().join("day1.csv"), 400);
    let (run1, out1) = run(
        &["run", "--input", &day1.to_string_lossy(), "--wait"],
        &workers,
    );
    assert!(out1.contains("promoted to latest"), "{out1}");
    let card1 = read_json(&store_dir.join(format!("models/{run1}/card.json")));
    assert_eq!(card1["split"]["kind"], "id_hash", "{card1}");
    let trained1 = card1["trained_on"]["tickets"]
        .as_u64()
        .expect("trained count") as usize;
    assert!(
        (250..=370).contains(&trained1),
        "about 80 % of 400 trained on: {trained1}"
    );
    assert!(
        store_dir
            .join(format!("models/{run1}/trained_ids.bin"))
            .is_file()
    );

    // Day 2: day 1's 400 tickets again plus 1,600 new ones. Five times the data: a better
    // model, which must win on the tickets neither model trained on.
    let day2 = day(&source, &dir.path().join("day2.csv"), 2_000);
    let (run2, out2) = run(
        &["run", "--input", &day2.to_string_lossy(), "--wait"],
        &workers,
    );
    let card2 = read_json(&store_dir.join(format!("models/{run2}/card.json")));
    let c = &card2["champion"];
    eprintln!("day 2 card: verdict {} champion {c}", card2["verdict"]);
    assert_eq!(card2["verdict"]["verdict"], "promoted", "{out2}\n{card2}");
    assert_eq!(c["champion"], run1.as_str());
    assert_eq!(c["comparable"], true, "{c}");
    let compared = c["compared_rows"].as_u64().expect("compared") as usize;
    // Ticket roles are stable: day 2's held-out tickets were never day 1's training tickets.
    assert_eq!(c["champion_trained_excluded"], 0, "{c}");
    assert_eq!(
        compared,
        c["challenger_held_out"].as_u64().expect("held") as usize
    );
    assert!((300..=500).contains(&compared), "{c}");
    let (challenger, champion) = (
        c["challenger_holdout_macro_f1"].as_f64().expect("f1"),
        c["champion_holdout_macro_f1"].as_f64().expect("f1"),
    );
    assert!(challenger > champion, "more data, better model: {c}");
    assert!(
        out2.contains(&format!(
            "on the same {compared} held-out tickets neither trained on"
        )),
        "{out2}"
    );
    let md = std::fs::read_to_string(store_dir.join(format!("models/{run2}/evaluation.md")))
        .expect("evaluation.md");
    assert!(
        md.contains(&format!(
            "| {compared} held out, neither trained on, macro-F1 |"
        )),
        "{md}"
    );
    assert_eq!(
        read_json(&store_dir.join("datasets/default/latest.json"))["run_id"],
        run2.as_str()
    );

    // Production on day 2 was day 1's model: its quality and routing leave out the tickets it
    // trained on, by count.
    let report2 = read_json(&store_dir.join(format!("runs/{run2}/drift/report.json")));
    let q = &report2["quality"];
    assert_eq!(report2["predictions"]["current"], "production", "{report2}");
    assert_eq!(q["current_excluded"].as_u64(), Some(trained1 as u64), "{q}");
    assert_eq!(
        q["current_rows"].as_u64(),
        Some((2_000 - trained1) as u64),
        "{q}"
    );
    assert_eq!(
        q["reference_excluded"], 0,
        "day 1's side is out of fold: {q}"
    );
    let result2 = read_json(&store_dir.join(format!("runs/{run2}/result.json")));
    let pr = &result2["production_routing"];
    assert_eq!(
        pr["excluded_trained"].as_u64(),
        Some(trained1 as u64),
        "{pr}"
    );
    assert_eq!(
        pr["tickets"].as_u64(),
        Some((2_000 - trained1) as u64),
        "{pr}"
    );
    let html = std::fs::read_to_string(store_dir.join(format!("runs/{run2}/drift/report.html")))
        .expect("report.html");
    assert!(
        html.contains(&format!(
            "current — {} tickets ({trained1} left out: the predicting model trained on them)",
            2_000 - trained1
        )),
        "the quality panel says on how many tickets it stands"
    );

    // `predict --unseen-only` on day 2's file leaves out exactly the tickets the latest (day 2's
    // model) trained on, and scores the rest against their labels.
    let trained2 = card2["trained_on"]["tickets"]
        .as_u64()
        .expect("trained count") as usize;
    let unseen_out = dir.path().join("unseen_predictions.csv");
    let said = predict(&day2, &unseen_out, &["--unseen-only"], &workers);
    assert!(
        said.contains(&format!(
            "predicted {} rows (0 quarantined, {trained2} left out as training tickets of the model)",
            2_000 - trained2
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "on {} labelled tickets: accuracy ",
            2_000 - trained2
        )),
        "{said}"
    );
    assert_eq!(routing_columns(&unseen_out).len(), 2_000 - trained2);

    // Day 3: day 2 plus 300 new tickets, trained by a trainer misconfigured to metadata
    // features only: a worse model, rejected on tickets neither trained on; latest stays.
    let trainer = workers.pop().expect("the trainer is the last worker");
    drop(trainer);
    workers.push(env.worker(
        "trainer",
        "trainer-metadata",
        dir.path(),
        &["--features", "metadata"],
    ));
    let day3 = day(&source, &dir.path().join("day3.csv"), 2_300);
    let (run3, out3) = run(
        &["run", "--input", &day3.to_string_lossy(), "--wait"],
        &workers,
    );
    let card3 = read_json(&store_dir.join(format!("models/{run3}/card.json")));
    let result3 = read_json(&store_dir.join(format!("runs/{run3}/result.json")));
    eprintln!("day 3 ({run3}) drift: {}", result3["drift"]);
    eprintln!(
        "day 3 card: verdict {} champion {}",
        card3["verdict"], card3["champion"]
    );
    assert_eq!(card3["verdict"]["verdict"], "rejected", "{out3}\n{card3}");
    let reason = card3["verdict"]["reason"].as_str().expect("reason");
    assert!(reason.contains("tickets neither trained on"), "{reason}");
    assert_eq!(card3["champion"]["champion"], run2.as_str());
    assert!(card3["champion"]["compared_rows"].as_u64().expect("n") >= 100);
    assert_eq!(
        read_json(&store_dir.join("datasets/default/latest.json"))["run_id"],
        run2.as_str(),
        "a worse model does not move latest"
    );
    let trainer = workers.pop().expect("the metadata trainer");
    drop(trainer);
    workers.push(env.worker("trainer", "trainer", dir.path(), &[]));

    // A language the model never trained on: predicted, not routed, and says why.
    let shifted_all = dir.path().join("shifted_all.csv");
    generate(&shifted_all, 600, 91);
    let foreign = dir.path().join("foreign.csv");
    let n_foreign = filter_csv(&shifted_all, &foreign, Some("type"), |_, rec, header| {
        let lang = header
            .iter()
            .position(|h| h == "language")
            .expect("language");
        matches!(&rec[lang], "es" | "fr" | "pt")
    });
    assert!(n_foreign >= 40, "{n_foreign} foreign tickets");
    let small = dir.path().join("foreign_small.csv");
    support::slice_csv(&foreign, &small, 0, 20, None);
    let out = dir.path().join("foreign_predictions.csv");
    let said = predict(&small, &out, &["--drift-min-rows", "0"], &workers);
    let rows = routing_columns(&out);
    assert_eq!(rows.len(), 20, "{said}");
    for (auto, reason) in &rows {
        assert_eq!(auto, "false", "{reason}");
        assert!(
            reason.starts_with("language_not_in_training: ")
                && reason.ends_with("(0 training tickets)"),
            "{reason}"
        );
    }

    // A drifted batch through `predict`: every ticket predicted, none routed, with the reason.
    let said = predict(&foreign, &out, &[], &workers);
    assert!(said.contains("routing SUSPENDED (this batch: "), "{said}");
    let rows = routing_columns(&out);
    assert_eq!(rows.len(), n_foreign);
    assert!(
        rows.iter()
            .all(|(a, r)| a == "false" && r.starts_with("routing_suspended: this batch: ")),
        "{rows:?}"
    );

    // The same batch as an inference run: drift suspends routing of the data set.
    let (run4, out4) = run(
        &["run", "--input", &foreign.to_string_lossy(), "--wait"],
        &workers,
    );
    let result4 = read_json(&store_dir.join(format!("runs/{run4}/result.json")));
    let why = result4["production_routing"]["suspended"]
        .as_str()
        .unwrap_or_else(|| panic!("suspended: {out4}\n{result4}"));
    assert!(why.contains("drift") && why.contains(&run2), "{why}");
    assert_eq!(result4["predictions"]["routing"]["routed"], 0, "{result4}");
    let state = read_json(&store_dir.join("datasets/default/routing.json"));
    assert_eq!(state["suspended"], true, "{state}");
    assert_eq!(state["by"], "drift");
    let rt = support::runtime();
    let chroma_client = rt
        .block_on(ChromaClient::connect(&ChromaConfig::new(
            &chroma.url,
            "cumulative",
        )))
        .expect("chroma");
    let features = std::fs::read_to_string(store_dir.join(format!("runs/{run4}/features.csv")))
        .expect("features");
    let ids: Vec<String> = features
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    let records = rt.block_on(chroma_client.get(&ids)).expect("get");
    assert_eq!(records.len(), n_foreign);
    assert!(
        records.iter().all(|r| {
            r.metadata.get("auto") == Some(&serde_json::Value::Bool(false))
                && r.metadata
                    .get("auto_reason")
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| s.starts_with("routing_suspended: "))
        }),
        "every record: auto false with the suspension reason"
    );
    let (_, status) = run(&["routing", "status"], &workers);
    assert!(status.contains("SUSPENDED"), "{status}");

    // While suspended, even a familiar small batch is not routed; resumed, it is again.
    let familiar = dir.path().join("familiar.csv");
    support::slice_csv(&source, &familiar, 2_300, 40, Some("type"));
    let familiar_out = dir.path().join("familiar_predictions.csv");
    let predict_familiar = || {
        predict(
            &familiar,
            &familiar_out,
            &["--drift-min-rows", "0"],
            &workers,
        );
        routing_columns(&familiar_out)
    };
    let rows = predict_familiar();
    assert!(
        rows.iter()
            .all(|(a, r)| a == "false" && r.starts_with("routing_suspended: ")),
        "{rows:?}"
    );
    let (_, resumed) = run(&["routing", "resume"], &workers);
    assert!(resumed.contains("resumed"), "{resumed}");
    let rows = predict_familiar();
    assert!(
        rows.iter().any(|(a, _)| a == "true"),
        "a familiar batch routes again: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(_, r)| !r.starts_with("routing_suspended"))
    );
    drop(workers);
}
