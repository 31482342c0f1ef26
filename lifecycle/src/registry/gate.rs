//! The promotion gate: the [`QualityGate`]'s floor and tolerance, its [`GateVerdict`], the
//! [`ChampionComparison`] it judges on, and the [`Lineage`] that says whether two models can be
//! compared row for row at all.

use serde::{Deserialize, Serialize};

/// Minimum quality for a model to become `latest`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityGate {
    /// Absolute floor on held-out macro-F1.
    pub min_macro_f1: f64,
    /// A new model may be at most this much worse (macro-F1) than the current latest.
    pub tolerance: f64,
    /// Fewest tickets neither model trained on for the comparison with the current latest to
    /// count; below it the floor alone decides, and the verdict says so.
    pub min_compare_rows: usize,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            min_macro_f1: 0.6,
            tolerance: 0.02,
            min_compare_rows: 100,
        }
    }
}

/// The gate's decision, kept in the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum GateVerdict {
    Promoted {
        previous: Option<String>,
        /// Set when the floor alone decided although there was a `latest`: why they were not
        /// compared (too few tickets neither trained on, another lineage).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Rejected {
        reason: String,
    },
}

impl QualityGate {
    /// Decides whether a challenger with held-out `macro_f1` becomes `latest`, given how it and
    /// the current `latest` scored on the same rows (`None`: there is no `latest` yet).
    pub fn judge(&self, macro_f1: f64, champion: Option<&ChampionComparison>) -> GateVerdict {
        if macro_f1 < self.min_macro_f1 {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {macro_f1:.4} is below the minimum {:.4}",
                    self.min_macro_f1
                ),
            };
        }
        let previous = champion.map(|c| c.champion.clone());
        let Some(c) = champion else {
            return GateVerdict::Promoted {
                previous,
                note: None,
            };
        };
        if !c.comparable {
            let why = c.reason.as_deref().unwrap_or("another lineage");
            return GateVerdict::Promoted {
                previous,
                note: Some(format!(
                    "not compared with {}: {why}; the floor alone decided",
                    c.champion
                )),
            };
        }
        if c.compared_rows < self.min_compare_rows {
            return GateVerdict::Promoted {
                previous,
                note: Some(format!(
                    "only {} tickets neither model trained on (the gate needs {}): not compared with {}; the floor alone decided",
                    c.compared_rows, self.min_compare_rows, c.champion
                )),
            };
        }
        if let Some(champ) = c.champion_holdout_macro_f1
            && c.challenger_holdout_macro_f1 < champ - self.tolerance
        {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {:.4} is worse than the current latest ({}) on the same {} tickets neither trained on ({champ:.4}) by more than {:.4}",
                    c.challenger_holdout_macro_f1, c.champion, c.compared_rows, self.tolerance
                ),
            };
        }
        GateVerdict::Promoted {
            previous,
            note: None,
        }
    }
}

/// The challenger and the current `latest` (the champion), scored on the same tickets of the
/// challenger's run, tickets neither of them trained on. Kept in the card, with both scores,
/// whatever the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionComparison {
    /// Run id of the model that was `latest` before this one.
    pub champion: String,
    /// Whether the two can be compared ticket for ticket (see the module doc).
    pub comparable: bool,
    /// Why not, when they cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tickets both were scored on: the challenger's held-out tickets that the champion never
    /// trained on either. (Cards written before this rule called it `holdout_rows`, and those
    /// rows included the champion's own training tickets.)
    #[serde(alias = "holdout_rows")]
    pub compared_rows: usize,
    /// The challenger's held-out tickets, and how many of them were left out of the
    /// comparison because the champion had trained on them.
    #[serde(default)]
    pub challenger_held_out: usize,
    #[serde(default)]
    pub champion_trained_excluded: usize,
    /// Macro-F1 of each on the compared tickets.
    pub challenger_holdout_macro_f1: f64,
    #[serde(default)]
    pub champion_holdout_macro_f1: Option<f64>,
    /// Kept for cards written before the comparison left out the champion's training tickets
    /// (cross-validation folds were compared then); no longer computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger_cv_macro_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_cv_macro_f1: Option<f64>,
}

/// What must match for a champion to be scored on a challenger's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage<'a> {
    pub embedding_model: &'a str,
    pub embedding_precision: &'a str,
    pub embed_input: &'a str,
    pub classes: &'a [String],
}

impl Lineage<'_> {
    /// `None` when `self` (the champion) can be scored on `challenger`'s data, else the reason.
    pub fn mismatch(&self, challenger: &Lineage<'_>) -> Option<String> {
        if self.embedding_model != challenger.embedding_model {
            return Some(format!(
                "embedding model changed ({} -> {})",
                self.embedding_model, challenger.embedding_model
            ));
        }
        if self.embedding_precision != challenger.embedding_precision {
            return Some(format!(
                "embedding precision changed ({} -> {})",
                self.embedding_precision, challenger.embedding_precision
            ));
        }
        if self.embed_input != challenger.embed_input {
            return Some(format!(
                "embedder input changed ({} -> {})",
                self.embed_input, challenger.embed_input
            ));
        }
        if self.classes != challenger.classes {
            return Some(format!(
                "label set changed ({} -> {})",
                self.classes.join("/"),
                challenger.classes.join("/")
            ));
        }
        None
    }
}
