//! A model's predictions of a batch of tickets, and the `predictions.csv` they are written as.
//!
//! [`Predictions`] keeps every ticket's class distribution with the model's classes and routing
//! threshold, so one value answers "which class, how sure, routed automatically?" per ticket.
//! It holds either what production predicted (the data set's `latest` before a run) or a new
//! model's out-of-fold predictions; [`crate::drift::feature_table`] keeps the two apart.

use std::io::Write;

use super::{Classifier, Example, Hold, argmax};

/// One model's prediction of one ticket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowPrediction<'a> {
    pub class: &'a str,
    pub probability: f32,
    /// Whether the ticket is routed automatically.
    pub auto: bool,
    /// Why it is or is not.
    pub reason: AutoReason<'a>,
}

/// A model's class probabilities for every ticket of a run, with the model's classes: what
/// production predicted, or the run's own out-of-fold predictions.
pub struct Predictions {
    pub model_run: String,
    pub classes: Vec<String>,
    /// One entry per ticket; `None` for a ticket the model did not predict (an unlabelled
    /// ticket in a labelled run has no out-of-fold prediction).
    pub probs: Vec<Option<Vec<f32>>>,
    /// The routing threshold of the model, if it has one, and the precision it was chosen for.
    pub threshold: Option<f32>,
    pub target_precision: Option<f64>,
    /// Per ticket (like `probs`), why it may not be routed whatever its confidence: a language
    /// or a text unlike the model's training data. Empty when nothing was checked.
    pub holds: Vec<Option<Hold>>,
    /// Set when automatic routing is suspended for the whole batch (drift, or an operator):
    /// every ticket keeps its prediction but `auto` is false, with this reason.
    pub suspended: Option<String>,
}

impl Predictions {
    /// `classifier` (run `model_run`) on every example, with each example's familiarity checked.
    pub fn of(classifier: &Classifier, model_run: &str, examples: &[Example]) -> Self {
        Predictions {
            model_run: model_run.to_string(),
            classes: classifier.classes.clone(),
            probs: classifier
                .predict_proba_batch(examples)
                .into_iter()
                .map(Some)
                .collect(),
            threshold: classifier.routing.as_ref().and_then(|r| r.threshold),
            target_precision: classifier.routing.as_ref().map(|r| r.target_precision),
            holds: examples.iter().map(|e| classifier.hold(e)).collect(),
            suspended: None,
        }
    }

    /// Appends another batch's predictions of the same model (a run predicted shard by shard).
    pub fn extend(&mut self, other: Predictions) {
        // A batch without checks still lines up with the tickets.
        self.holds.resize(self.probs.len(), None);
        self.probs.extend(other.probs);
        self.holds.extend(other.holds);
        self.holds.resize(self.probs.len(), None);
    }

    /// Ticket `i`'s top class, its probability and whether it is routed automatically.
    pub fn row(&self, i: usize) -> Option<RowPrediction<'_>> {
        let p = self.probs.get(i)?.as_ref()?;
        let hold = self.holds.get(i).and_then(Option::as_ref);
        self.decide(p, hold)
    }

    /// The top class, probability and routing of `p`, probabilities over this model's classes
    /// (one ticket's, kept elsewhere than in `probs`; no per-ticket check).
    pub fn judge(&self, p: &[f32]) -> Option<RowPrediction<'_>> {
        self.decide(p, None)
    }

    fn decide<'a>(&'a self, p: &[f32], hold: Option<&'a Hold>) -> Option<RowPrediction<'a>> {
        let (best, probability) = argmax(p);
        let confident = self.threshold.is_some_and(|t| probability >= t);
        let reason = if let Some(why) = &self.suspended {
            AutoReason::Suspended(why)
        } else if let Some(hold) = hold {
            AutoReason::Held(hold)
        } else if self.threshold.is_none() {
            AutoReason::NoThreshold
        } else if confident {
            AutoReason::Confident
        } else {
            AutoReason::BelowThreshold
        };
        Some(RowPrediction {
            class: self.classes.get(best)?.as_str(),
            probability,
            auto: matches!(reason, AutoReason::Confident),
            reason,
        })
    }

    /// Tickets routed automatically.
    pub fn routed(&self) -> usize {
        (0..self.probs.len())
            .filter(|&i| self.row(i).is_some_and(|r| r.auto))
            .count()
    }
}

/// Why a ticket was or was not routed automatically: the `auto_reason` column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AutoReason<'a> {
    /// Routed: confident enough, familiar, and routing not suspended.
    Confident,
    /// Its probability is below the model's routing threshold.
    BelowThreshold,
    /// The model could certify no threshold: nothing is routed.
    NoThreshold,
    /// Unlike the model's training data (see [`Hold`]).
    Held(&'a Hold),
    /// Routing is suspended for the batch, for this reason.
    Suspended(&'a str),
}

impl std::fmt::Display for AutoReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AutoReason::Confident => f.write_str("confident"),
            AutoReason::BelowThreshold => f.write_str("below_threshold"),
            AutoReason::NoThreshold => f.write_str("no_threshold"),
            AutoReason::Held(hold) => write!(f, "{hold}"),
            AutoReason::Suspended(why) => write!(f, "routing_suspended: {why}"),
        }
    }
}

/// `id,row,predicted_type,probability,auto,auto_reason,p_<class>…`, one line per predicted
/// ticket. `auto` is `true` when the probability reaches the model's routing threshold, the
/// ticket is like the training data and routing is not suspended; `auto_reason` says which.
pub fn predictions_csv(
    predictions: &Predictions,
    ids: &[String],
    rows: &[u64],
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let mut header = vec![
            "id".to_string(),
            "row".to_string(),
            "predicted_type".to_string(),
            "probability".to_string(),
            "auto".to_string(),
            "auto_reason".to_string(),
        ];
        header.extend(predictions.classes.iter().map(|c| format!("p_{c}")));
        w.write_record(&header)?;
        for (i, (id, row)) in ids.iter().zip(rows).enumerate() {
            let (Some(p), Some(probs)) = (predictions.row(i), predictions.probs[i].as_ref()) else {
                continue;
            };
            let mut rec = vec![
                ticketflow_text::csv_safe::neutralize(id).into_owned(),
                row.to_string(),
                p.class.to_string(),
                format!("{:.4}", p.probability),
                p.auto.to_string(),
                p.reason.to_string(),
            ];
            rec.extend(probs.iter().map(|x| format!("{x:.4}")));
            w.write_record(&rec)?;
        }
        w.flush()?;
    }
    let _ = out.flush();
    Ok(out)
}
