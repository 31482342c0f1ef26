//! Does auto-routing keep its promise on tickets the model never saw? (`make bench-routing`)
//!
//! ```text
//! cargo bench -p ticketflow-workers --bench routing -- \
//!     --data ../shared/data/tickets_dev.csv --embeddings var/bench/dev.npy \
//!     [--splits 20] [--target 0.85] [--confidence 0.99] \
//!     [--shifted ../shared/data/tickets_multilang_sample.csv --shifted-embeddings var/bench/multilang.npy] \
//!     [--out var/bench/routing.json]
//! ```
//!
//! Beside `--out` it writes `routing_splits.csv` (`id,split,held_out`): which tickets each split
//! held out, so another implementation (`scripts/reference_tfidf_lr.py`, scikit-learn) can be
//! scored on exactly the same held-out tickets.
//!
//! For each of `--splits` splits of the labelled file (an id-hash rule with a salt per split,
//! 20 % set aside), the trainer runs exactly as in production on the other 80 %
//! (`train_and_select_held_out` with the trainer's own id-hash split of those tickets:
//! cross-validation, refit, familiarity checks, certified threshold on its held-out part), and
//! the 20 % set aside — tickets that the model, its selection, its threshold and its
//! familiarity checks never saw — are routed as production routes them. Per split it reports
//! the precision of the routed tickets (the share whose type is right) and the coverage, for
//! three threshold rules, same models, same run:
//!
//! - **certified (shipped)**: the lowest threshold whose one-sided Clopper–Pearson lower bound
//!   on the precision of the trainer's held-out tickets, predicted by the model that ships,
//!   reaches the target at `--confidence` (Learn-then-Test, fixed sequence); tickets unlike the
//!   training data held back;
//! - **certified on held-out, both**: the higher of that threshold and the out-of-fold one
//!   below (a variant that requires both; costs coverage);
//! - **certified on out-of-fold only**: the same test on the train part's out-of-fold
//!   predictions (the cross-validation fold models), the rule tried first;
//! - **point estimate**: the rule before the guarantee, the lowest threshold whose out-of-fold
//!   *weighted* precision reaches the target, nothing held back.
//!
//! The promise holds when the certified precision is at least the target in at least 90 % of
//! the splits. With `--shifted`, the first split's model also predicts a shifted file (the
//! public 5-language sample): what it would route per ticket with and without the familiarity
//! checks, and whether the batch drift check suspends routing of the batch.
//!
//! Relative paths are taken from the workspace root. Missing data or embeddings skip the
//! benchmark with a message (exit code 0), so `cargo bench` works without them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;
use ticketflow_analytics::classify::routing::choose_threshold;
use ticketflow_analytics::classify::{
    Classifier, Example, SplitRule, TrainConfig, argmax, evaluate, train_and_select_held_out,
};
use ticketflow_analytics::drift::DriftOptions;
use ticketflow_analytics::drift::feature_table::feature_row;
use ticketflow_analytics::embedded::{EmbeddedTickets, load_embedded};
use ticketflow_lifecycle::run::read::{DriftSide, drift_report};
use ticketflow_lifecycle::run::result::DriftSummary;
use ticketflow_schemas::Ticket;
use ticketflow_text::text::EmbedInput;
use ticketflow_workers::cleaner::clean_ticket;

struct Args {
    data: PathBuf,
    embeddings: PathBuf,
    splits: u64,
    target: f64,
    confidence: f64,
    shifted: Option<(PathBuf, PathBuf)>,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let at = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { root.join(p) }
    };
    let mut args = Args {
        data: at("../shared/data/tickets_dev.csv".into()),
        embeddings: at("var/bench/dev.npy".into()),
        splits: 20,
        target: 0.85,
        confidence: TrainConfig::default().routing_confidence,
        shifted: None,
        out: at("var/bench/routing.json".into()),
    };
    let (mut shifted, mut shifted_embeddings) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = at(value()?),
            "--embeddings" => args.embeddings = at(value()?),
            "--splits" => args.splits = value()?.parse().map_err(|e| format!("--splits: {e}"))?,
            "--target" => args.target = value()?.parse().map_err(|e| format!("--target: {e}"))?,
            "--confidence" => {
                args.confidence = value()?.parse().map_err(|e| format!("--confidence: {e}"))?
            }
            "--shifted" => shifted = Some(at(value()?)),
            "--shifted-embeddings" => shifted_embeddings = Some(at(value()?)),
            "--out" => args.out = at(value()?),
            "--bench" => {} // cargo bench passes it
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.splits == 0 {
        return Err("--splits must be at least 1".into());
    }
    args.shifted = shifted.zip(shifted_embeddings);
    Ok(args)
}

/// How one threshold rule routed the held-out tickets of one split.
#[derive(Serialize, Clone, Copy, Default)]
struct Routed {
    threshold: Option<f32>,
    routed: usize,
    correct: usize,
    coverage: f64,
    precision: f64,
}

impl Routed {
    fn meets(&self, target: f64) -> bool {
        self.routed == 0 || self.precision >= target
    }
}

#[derive(Serialize)]
struct Split {
    split: u64,
    /// Tickets set aside for this evaluation.
    held_out: usize,
    /// The model's macro-F1 on them.
    macro_f1: f64,
    lower_bound: Option<f64>,
    certified: Routed,
    certified_holdout: Routed,
    certified_oof: Routed,
    point_estimate: Routed,
    held_back: usize,
    seconds: f64,
}

#[derive(Serialize, Default)]
struct Shifted {
    file: String,
    tickets: usize,
    /// Per ticket as the model routes it (threshold and familiarity), before the batch check.
    per_ticket: Routed,
    /// The threshold alone, as routing did before the familiarity checks.
    threshold_only: Routed,
    held_back: usize,
    held_back_by_language: usize,
    batch_suspended: Option<String>,
    /// What is routed in the end: nothing when the batch check suspends routing.
    routed_in_the_end: usize,
}

#[derive(Serialize)]
struct Results {
    data: String,
    target: f64,
    confidence: f64,
    splits: Vec<Split>,
    certified_meeting_target: usize,
    certified_holdout_meeting_target: usize,
    certified_oof_meeting_target: usize,
    point_estimate_meeting_target: usize,
    mean_certified_coverage: f64,
    mean_point_estimate_coverage: f64,
    shifted: Option<Shifted>,
}

/// Routes `rows` at `threshold` (`holds`: also hold back tickets unlike the training data).
fn route(
    model: &Classifier,
    examples: &[Example],
    truth: &[String],
    probs: &[Vec<f32>],
    threshold: Option<f32>,
    holds: bool,
) -> Routed {
    let mut r = Routed {
        threshold,
        ..Routed::default()
    };
    let Some(t) = threshold else { return r };
    for ((e, label), p) in examples.iter().zip(truth).zip(probs) {
        let (class, probability) = argmax(p);
        if probability < t || (holds && model.hold(e).is_some()) {
            continue;
        }
        r.routed += 1;
        r.correct += usize::from(model.classes[class] == *label);
    }
    r.coverage = r.routed as f64 / examples.len().max(1) as f64;
    r.precision = if r.routed == 0 {
        0.0
    } else {
        r.correct as f64 / r.routed as f64
    };
    r
}

/// The id-hash rule of split `split`: the trainer's, with a salt of its own.
fn split_rule(split: u64) -> SplitRule {
    SplitRule {
        salt: format!("bench-routing-{split}"),
        ..SplitRule::id_hash(0.2)
    }
}

fn one_split(
    data: &EmbeddedTickets,
    split: u64,
    cfg: &TrainConfig,
) -> Result<(Split, Classifier), String> {
    let started = Instant::now();
    let outer = split_rule(split).held_out(data.tickets.iter().map(|t| t.id.as_str()));
    let (evaluation, fit): (Vec<usize>, Vec<usize>) = (0..outer.len()).partition(|&i| outer[i]);
    let pick = |rows: &[usize]| -> (Vec<Ticket>, Vec<Example>, Vec<String>) {
        (
            rows.iter().map(|&r| data.tickets[r].clone()).collect(),
            rows.iter().map(|&r| data.examples[r].clone()).collect(),
            rows.iter().map(|&r| data.labels[r].clone()).collect(),
        )
    };
    // The trainer, as in production, on the 80 %: its own id-hash split of those tickets.
    let (fit_tickets, fit_examples, fit_labels) = pick(&fit);
    let inner = SplitRule::default().held_out(fit_tickets.iter().map(|t| t.id.as_str()));
    let cfg = TrainConfig {
        seed: split,
        ..cfg.clone()
    };
    let (model, report) = train_and_select_held_out(&fit_examples, &fit_labels, &inner, &cfg)
        .map_err(|e| e.to_string())?;
    // The 20 % nobody saw.
    let (_, examples, labels) = pick(&evaluation);
    let probs = model.predict_proba_batch(&examples);
    let threshold = model.routing.as_ref().and_then(|r| r.threshold);
    let certified = route(&model, &examples, &labels, &probs, threshold, true);
    // The two rules it replaced, on the train part's out-of-fold predictions.
    let train = &report.split.train;
    let class_of = |l: &String| model.classes.iter().position(|c| c == l).unwrap_or(0);
    let oof_probs: Vec<Vec<f32>> = train
        .iter()
        .map(|&r| report.out_of_fold[r].clone())
        .collect();
    let oof_truth: Vec<usize> = train.iter().map(|&r| class_of(&fit_labels[r])).collect();
    let oof_certified = report.routing.oof_threshold;
    let both = report
        .routing
        .holdout_threshold
        .zip(report.routing.oof_threshold)
        .map(|(a, b)| a.max(b));
    let certified_holdout = route(&model, &examples, &labels, &probs, both, true);
    let certified_oof = route(&model, &examples, &labels, &probs, oof_certified, true);
    let point = choose_threshold(
        &oof_probs,
        &oof_truth,
        cfg.target_precision,
        cfg.routing_min_rows,
    )
    .map(|c| c.threshold);
    let point_estimate = route(&model, &examples, &labels, &probs, point, false);
    let truth: Vec<usize> = labels.iter().map(class_of).collect();
    let macro_f1 = evaluate(&model.classes, &truth, &probs).macro_avg.f1;
    let held_back = examples.iter().filter(|e| model.hold(e).is_some()).count();
    Ok((
        Split {
            split,
            held_out: evaluation.len(),
            macro_f1,
            lower_bound: report.routing.lower_bound,
            certified,
            certified_holdout,
            certified_oof,
            point_estimate,
            held_back,
            seconds: started.elapsed().as_secs_f64(),
        },
        model,
    ))
}

/// The first split's model on a shifted file: per ticket, and as a batch.
fn shifted(
    model: &Classifier,
    reference: &EmbeddedTickets,
    file: &Path,
    embeddings: &Path,
) -> Result<Shifted, String> {
    let data = load_embedded(file, embeddings).map_err(|e| e.to_string())?;
    let probs = model.predict_proba_batch(&data.examples);
    let per_ticket = route(
        model,
        &data.examples,
        &data.labels,
        &probs,
        model.routing.as_ref().and_then(|r| r.threshold),
        true,
    );
    let threshold_only = route(
        model,
        &data.examples,
        &data.labels,
        &probs,
        model.routing.as_ref().and_then(|r| r.threshold),
        false,
    );
    let holds: Vec<_> = data.examples.iter().filter_map(|e| model.hold(e)).collect();
    let by_language = holds
        .iter()
        .filter(|h| {
            matches!(
                h,
                ticketflow_analytics::classify::Hold::UnseenLanguage { .. }
            )
        })
        .count();
    let side = |name: &str, tickets: &[Ticket], examples: &[Example]| DriftSide {
        name: name.to_string(),
        rows: tickets
            .iter()
            .map(|t| feature_row(&clean_ticket(t, EmbedInput::default()), None, None))
            .collect(),
        embeddings: examples.iter().map(|e| e.embedding.clone()).collect(),
    };
    let report = drift_report(
        &side("reference", &reference.tickets, &reference.examples),
        &side("shifted", &data.tickets, &data.examples),
        &DriftOptions::default(),
        0,
    );
    let batch_suspended =
        DriftSummary::of_report(&report, "reference", None, None).suspension_reason();
    Ok(Shifted {
        file: file.display().to_string(),
        tickets: data.examples.len(),
        routed_in_the_end: if batch_suspended.is_some() {
            0
        } else {
            per_ticket.routed
        },
        per_ticket,
        threshold_only,
        held_back: holds.len(),
        held_back_by_language: by_language,
        batch_suspended,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let data = load_embedded(&args.data, &args.embeddings).map_err(|e| e.to_string())?;
    let cfg = TrainConfig {
        target_precision: args.target,
        routing_confidence: args.confidence,
        ..TrainConfig::default()
    };
    println!(
        "{} labelled tickets of {}; {} splits, 20 % held out each; target precision {} with {} confidence\n",
        data.examples.len(),
        args.data.display(),
        args.splits,
        args.target,
        args.confidence
    );
    println!(
        "| split | set aside | macro-F1 | shipped: threshold | routed | coverage | precision | both: threshold | coverage | precision | out-of-fold only: threshold | coverage | precision | point estimate: threshold | coverage | precision |"
    );
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut splits = Vec::new();
    let mut first_model = None;
    let mut membership = String::from("id,split,held_out\n");
    let f = |t: Option<f32>| t.map_or("-".to_string(), |t| format!("{t:.3}"));
    let mark = |r: &Routed| if r.meets(args.target) { "" } else { " ✗" };
    for split in 0..args.splits {
        let (s, model) = one_split(&data, split, &cfg)?;
        for (t, held) in data
            .tickets
            .iter()
            .zip(split_rule(split).held_out(data.tickets.iter().map(|t| t.id.as_str())))
        {
            membership.push_str(&format!("{},{split},{}\n", t.id, u8::from(held)));
        }
        println!(
            "| {} | {} | {:.3} | {} | {} | {:.3} | {:.3}{} | {} | {:.3} | {:.3}{} | {} | {:.3} | {:.3}{} | {} | {:.3} | {:.3}{} |",
            s.split,
            s.held_out,
            s.macro_f1,
            f(s.certified.threshold),
            s.certified.routed,
            s.certified.coverage,
            s.certified.precision,
            mark(&s.certified),
            f(s.certified_holdout.threshold),
            s.certified_holdout.coverage,
            s.certified_holdout.precision,
            mark(&s.certified_holdout),
            f(s.certified_oof.threshold),
            s.certified_oof.coverage,
            s.certified_oof.precision,
            mark(&s.certified_oof),
            f(s.point_estimate.threshold),
            s.point_estimate.coverage,
            s.point_estimate.precision,
            mark(&s.point_estimate),
        );
        first_model.get_or_insert(model);
        splits.push(s);
    }
    let n = splits.len() as f64;
    let meeting =
        |f: fn(&Split) -> Routed| splits.iter().filter(|s| f(s).meets(args.target)).count();
    let mean = |f: fn(&Split) -> Routed| splits.iter().map(|s| f(s).coverage).sum::<f64>() / n;
    let lowest = |f: fn(&Split) -> Routed| {
        splits
            .iter()
            .map(f)
            .filter(|r| r.routed > 0)
            .map(|r| r.precision)
            .fold(f64::INFINITY, f64::min)
    };
    let certified_meeting = meeting(|s| s.certified);
    let point_meeting = meeting(|s| s.point_estimate);
    for (name, rule, met) in [
        (
            "certified (shipped)",
            (|s: &Split| s.certified) as fn(&Split) -> Routed,
            certified_meeting,
        ),
        (
            "certified on held-out and out-of-fold (both)",
            |s: &Split| s.certified_holdout,
            meeting(|s| s.certified_holdout),
        ),
        (
            "certified on out-of-fold only",
            |s: &Split| s.certified_oof,
            meeting(|s| s.certified_oof),
        ),
        (
            "point estimate (before)",
            |s: &Split| s.point_estimate,
            point_meeting,
        ),
    ] {
        println!(
            "{name}: precision >= {} on {met} of {} splits ({:.0} %; goal >= 90 %), mean coverage {:.3}, lowest precision {:.3}",
            args.target,
            splits.len(),
            100.0 * met as f64 / n,
            mean(rule),
            lowest(rule)
        );
    }
    let mean_macro_f1 = splits.iter().map(|s| s.macro_f1).sum::<f64>() / n;
    println!("mean macro-F1 on the tickets set aside: {mean_macro_f1:.3}");
    let shifted = match (&args.shifted, &first_model) {
        (Some((file, npy)), Some(model)) if file.is_file() && npy.is_file() => {
            let s = shifted(model, &data, file, npy)?;
            println!(
                "\nshifted file {} ({} labelled tickets), split 0's model:\n- threshold only (before): {} routed, coverage {:.3}, precision {:.3}\n- per ticket (threshold + familiarity): {} routed, coverage {:.3}, precision {:.3}; {} held back ({} by language)\n- batch drift check: {}\n- routed in the end: {}",
                s.file,
                s.tickets,
                s.threshold_only.routed,
                s.threshold_only.coverage,
                s.threshold_only.precision,
                s.per_ticket.routed,
                s.per_ticket.coverage,
                s.per_ticket.precision,
                s.held_back,
                s.held_back_by_language,
                s.batch_suspended
                    .as_deref()
                    .unwrap_or("no drift: routing stays on"),
                s.routed_in_the_end
            );
            Some(s)
        }
        (Some((file, npy)), _) => {
            println!(
                "\n(shifted file skipped: {} or {} missing)",
                file.display(),
                npy.display()
            );
            None
        }
        _ => None,
    };
    let results = Results {
        data: args.data.display().to_string(),
        target: args.target,
        confidence: args.confidence,
        certified_meeting_target: certified_meeting,
        certified_holdout_meeting_target: meeting(|s| s.certified_holdout),
        certified_oof_meeting_target: meeting(|s| s.certified_oof),
        point_estimate_meeting_target: point_meeting,
        mean_certified_coverage: mean(|s| s.certified),
        mean_point_estimate_coverage: mean(|s| s.point_estimate),
        splits,
        shifted,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        &args.out,
        serde_json::to_vec_pretty(&results).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", args.out.display()))?;
    let membership_path = args.out.with_file_name("routing_splits.csv");
    std::fs::write(&membership_path, membership)
        .map_err(|e| format!("{}: {e}", membership_path.display()))?;
    println!(
        "\nresults in {} (held-out tickets per split in {})",
        args.out.display(),
        membership_path.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("routing bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.data.is_file() || !args.embeddings.is_file() {
        println!(
            "routing bench skipped: {} or {} missing (make bench-routing makes the embeddings)",
            args.data.display(),
            args.embeddings.display()
        );
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routing bench: {e}");
            ExitCode::FAILURE
        }
    }
}
