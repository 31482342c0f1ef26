//! `evaluation.md`: the held-out evaluation, the champion comparison and auto-routing with its
//! precision-coverage plot, for people.

use ticketflow_analytics::classify::Evaluation;

use super::card::ModelCard;
use super::gate::GateVerdict;

/// `evaluation.md`: the held-out evaluation, the comparison with the previous `latest` on the
/// same rows, and auto-routing with its precision-coverage plot.
pub fn evaluation_markdown(card: &ModelCard, holdout: &Evaluation) -> String {
    use std::fmt::Write;
    let mut md = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        md,
        "# Model {} ({} on {}, data set `{}`)\n",
        card.run_id, card.model, card.feature_set, card.dataset
    );
    let verdict = match &card.verdict {
        GateVerdict::Promoted { previous, note } => format!(
            "**promoted** to `latest` (previous: {}){}",
            previous.as_deref().unwrap_or("none"),
            note.as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        GateVerdict::Rejected { reason } => format!("**rejected**: {reason}"),
    };
    let _ = writeln!(md, "Quality gate: {verdict}\n");
    if let (Some(split), Some(trained)) = (&card.split, &card.trained_on) {
        let _ = writeln!(
            md,
            "Trained on {} tickets ({}, `{}`); held out: {}.\n",
            trained.tickets,
            &trained.digest[..16.min(trained.digest.len())],
            trained.key,
            split.describe()
        );
    }
    let _ = writeln!(
        md,
        "## Against the previous latest, on tickets neither trained on\n"
    );
    match &card.champion {
        None => {
            let _ = writeln!(
                md,
                "The first model of this data set: there was no `latest` to compare with.\n"
            );
        }
        Some(c) if !c.comparable => {
            let _ = writeln!(
                md,
                "Not compared with {}: {}. A new lineage starts; the gate checked the floor only.\n",
                c.champion,
                c.reason.as_deref().unwrap_or("different lineage")
            );
        }
        Some(c) => {
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
            let _ = writeln!(
                md,
                "| tickets | challenger ({}) | champion ({}) |\n| --- | ---: | ---: |",
                card.run_id, c.champion
            );
            let _ = writeln!(
                md,
                "| {} held out, neither trained on, macro-F1 | {:.4} | {} |\n",
                c.compared_rows,
                c.challenger_holdout_macro_f1,
                f(c.champion_holdout_macro_f1)
            );
            let _ = writeln!(
                md,
                "Of the challenger's {} held-out tickets, {} were left out: the champion trained on them.\n",
                c.challenger_held_out, c.champion_trained_excluded
            );
        }
    }
    if let Some(r) = &card.routing {
        let _ = writeln!(
            md,
            "## Auto-routing at {:.2} precision\n",
            r.target_precision
        );
        match r.threshold {
            Some(t) => {
                let guarantee = match (r.confidence, r.lower_bound) {
                    (Some(c), Some(lb)) => format!(
                        "It is the lowest threshold whose precision is at least {:.2} with {:.0} % confidence, certified on the {} held-out tickets with this model (one-sided Clopper–Pearson lower bound {lb:.3}, thresholds tested in fixed sequence from the most confident down: Learn-then-Test). ",
                        r.target_precision,
                        c * 100.0,
                        r.holdout_rows
                    ),
                    _ => "It was chosen on out-of-fold predictions of the training part (a point estimate, no confidence bound). ".to_string(),
                };
                let _ = writeln!(
                    md,
                    "Tickets whose top-class probability is at least **{t:.4}** are routed automatically (`auto = true`), unless they are unlike the training data (another language, or far from every training ticket) or routing is suspended; the rest go to people. {guarantee}Precision is the share of routed tickets whose type is right.\n\n| tickets | routed | coverage | precision |\n| --- | ---: | ---: | ---: |\n| held out ({} tickets, {} held back as unfamiliar; where certified) | {} | {:.3} | {:.3} |\n| train part, fold models out of fold (for comparison) | {} | {:.3} | {:.3} |\n",
                    r.holdout_rows,
                    r.holdout_held,
                    r.holdout_routed,
                    r.holdout_coverage,
                    r.holdout_precision,
                    r.oof_routed,
                    r.oof_coverage,
                    r.oof_precision
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "No confidence threshold could be certified at the target on the held-out tickets: every ticket goes to people (`auto = false`).\n"
                );
            }
        }
        let _ = writeln!(
            md,
            "![precision against coverage](precision_coverage.svg)\n"
        );
    }
    let _ = writeln!(md, "## Held-out evaluation\n");
    md.push_str(&holdout.to_markdown());
    md
}
