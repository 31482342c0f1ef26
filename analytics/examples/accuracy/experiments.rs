//! `--try SPEC`: cross-validation of the default with overrides, optionally scored on the held-out
//! splits of `make bench-routing` (`--holdout-splits`) and compared with the scikit-learn
//! reference (`--reference`).

use ticketflow_analytics::classify::{
    Classifier, Example, ModelKind, SplitRule, TrainConfig, evaluate,
};

use crate::args::Args;
use crate::configs::config_from_spec;
use crate::data::{Labelled, select, write_json};
use crate::measure::{TABLE_HEADER, TABLE_RULE, cells, mean_sd, measure};

/// Cross-validates each spec on all rows, one table row each, and writes them to `--out`.
pub fn run(args: &Args, data: &Labelled) -> Result<(), String> {
    println!(
        "## Experiments: {}-fold cross-validation on all {} rows, seed {}\n",
        args.folds,
        data.labels.len(),
        args.seed
    );
    println!("| overrides | model {TABLE_HEADER}");
    println!("| --- | --- {TABLE_RULE}");
    let mut rows = Vec::new();
    let mut held_out = Vec::new();
    for spec in &args.tries {
        let (cfg, kind) = config_from_spec(args, spec)?;
        let row = measure(data, spec, &cfg, kind, None)?;
        println!("| {spec} | {} {}", kind.abbreviation(), cells(&row));
        rows.push(row);
        if args.holdout_splits > 0 {
            held_out.push((spec.clone(), routing_splits(args, data, &cfg, kind)?));
        }
    }
    if !held_out.is_empty() {
        print_routing_splits(args, &held_out)?;
    }
    let json = serde_json::json!({ "cross_validation": rows, "holdout_splits": held_out });
    write_json(&args.out, &json)?;
    println!("\nJSON written to {}", args.out_name);
    Ok(())
}

/// Held-out macro-F1 of one configuration on bench-routing's split `split` (see the header of
/// `main.rs`): fitted on the rows the trainer fits on there, scored on the split's held-out 20%.
fn one_split(
    data: &Labelled,
    cfg: &TrainConfig,
    kind: ModelKind,
    split: u64,
) -> Result<f64, String> {
    let trainer = SplitRule::default();
    let outer = SplitRule {
        salt: format!("bench-routing-{split}"),
        ..SplitRule::id_hash(0.2)
    };
    let (mut fit, mut test) = (Vec::new(), Vec::new());
    for (i, ticket) in data.tickets.iter().enumerate() {
        if outer.is_held_out(&ticket.id) {
            test.push(i);
        } else if !trainer.is_held_out(&ticket.id) {
            fit.push(i);
        }
    }
    let (fit_x, fit_y) = (select(&data.examples, &fit), select(&data.labels, &fit));
    let model = Classifier::fit(&fit_x, &fit_y, kind, cfg).map_err(|e| e.to_string())?;
    let test_x: Vec<Example> = select(&data.examples, &test);
    let truth: Vec<usize> = test
        .iter()
        .map(|&i| {
            let label = &data.labels[i];
            model.classes.iter().position(|c| c == label).unwrap_or(0)
        })
        .collect();
    let probs = model.predict_proba_batch(&test_x);
    Ok(evaluate(&model.classes, &truth, &probs).macro_avg.f1)
}

/// [`one_split`] on each of the `--holdout-splits` splits, spread over the worker threads.
fn routing_splits(
    args: &Args,
    data: &Labelled,
    cfg: &TrainConfig,
    kind: ModelKind,
) -> Result<Vec<f64>, String> {
    let splits = args.holdout_splits;
    let workers = cfg.worker_threads().clamp(1, splits as usize) as u64;
    let scores: Vec<Result<(u64, f64), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    (w..splits)
                        .step_by(workers as usize)
                        .map(|s| one_split(data, cfg, kind, s).map(|f1| (s, f1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut by_split = vec![0.0; splits as usize];
    for score in scores {
        let (s, f1) = score?;
        by_split[s as usize] = f1;
    }
    Ok(by_split)
}

/// The reference's `macro_f1_same_rows` per split, from `--reference`'s JSON.
fn reference_scores(args: &Args) -> Result<Option<Vec<f64>>, String> {
    let Some(path) = &args.reference else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let splits = json["splits"].as_array().cloned().unwrap_or_default();
    Ok(Some(
        splits
            .iter()
            .map(|s| s["macro_f1_same_rows"].as_f64().unwrap_or(f64::NAN))
            .collect(),
    ))
}

/// The "− reference" cells of a row: mean and min difference, splits not worse.
fn versus(scores: &[f64], reference: Option<&Vec<f64>>) -> String {
    reference.map_or("| – | – | –".to_owned(), |r| {
        let d: Vec<f64> = scores.iter().zip(r).map(|(a, b)| a - b).collect();
        format!(
            "| {:+.3} | {:+.3} | {}/{}",
            d.iter().sum::<f64>() / d.len().max(1) as f64,
            d.iter().copied().fold(f64::INFINITY, f64::min),
            d.iter().filter(|v| **v >= 0.0).count(),
            d.len()
        )
    })
}

/// The held-out split scores of every `--try`, with the reference's when `--reference` is set.
fn print_routing_splits(args: &Args, held_out: &[(String, Vec<f64>)]) -> Result<(), String> {
    let reference = reference_scores(args)?;
    println!(
        "\n## Held out: {} id-hash splits of bench-routing, fitted on the trainer's rows\n\n\
         | overrides | macro-F1 mean ± sd | min | − reference: mean | min | not worse |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |",
        args.holdout_splits
    );
    for (spec, scores) in held_out {
        let (mean, sd) = mean_sd(scores);
        let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let vs = versus(scores, reference.as_ref());
        println!("| {spec} | {mean:.3} ± {sd:.3} | {min:.3} {vs} |");
    }
    Ok(())
}
