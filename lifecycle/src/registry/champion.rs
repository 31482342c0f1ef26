//! The data set's current `latest` ([`Champion`]), loaded to be scored on the challenger's
//! held-out tickets that neither model trained on.

use ticketflow_analytics::classify::{Classifier, TicketSet, TrainReport};

use super::card::ModelCard;
use super::gate::{ChampionComparison, Lineage};

/// The current `latest` of a data set, loaded to be compared with a challenger.
pub struct Champion {
    pub run_id: String,
    pub classifier: Classifier,
    pub card: ModelCard,
    /// The ids it was fitted on; `None` for models trained before they were stored, which
    /// therefore cannot be scored fairly on anyone's tickets.
    pub trained: Option<TicketSet>,
}

impl Champion {
    /// Scores the champion on the challenger's held-out tickets that it never trained on
    /// either (rows of `report.split.test`, indices into `examples`, `labels` and `ids`),
    /// beside the challenger's own scores on them. When the two are of different lineages, or
    /// the champion's training tickets are unknown, nothing is scored and the reason is kept.
    pub fn compare(
        &self,
        challenger: &Lineage<'_>,
        report: &TrainReport,
        examples: &[ticketflow_analytics::classify::Example],
        labels: &[String],
        ids: &[String],
    ) -> ChampionComparison {
        let held_out = &report.split.test;
        let mut comparison = ChampionComparison {
            champion: self.run_id.clone(),
            comparable: false,
            reason: self.card.lineage().mismatch(challenger),
            compared_rows: 0,
            challenger_held_out: held_out.len(),
            champion_trained_excluded: 0,
            challenger_holdout_macro_f1: report.holdout.macro_avg.f1,
            champion_holdout_macro_f1: None,
            challenger_cv_macro_f1: None,
            champion_cv_macro_f1: None,
        };
        if comparison.reason.is_some() {
            return comparison;
        }
        let Some(trained) = &self.trained else {
            comparison.reason = Some(format!(
                "the tickets {} trained on are not recorded (trained before models kept them), so it cannot be scored on tickets it never saw",
                self.run_id
            ));
            return comparison;
        };
        let rows: Vec<usize> = held_out
            .iter()
            .copied()
            .filter(|&r| ids.get(r).is_some_and(|id| !trained.contains(id)))
            .collect();
        comparison.comparable = true;
        comparison.compared_rows = rows.len();
        comparison.champion_trained_excluded = held_out.len() - rows.len();
        if rows.is_empty() {
            return comparison;
        }
        let classes = challenger.classes;
        let truth: Vec<usize> = rows
            .iter()
            .map(|&r| classes.iter().position(|c| *c == labels[r]).unwrap_or(0))
            .collect();
        let picked: Vec<ticketflow_analytics::classify::Example> =
            rows.iter().map(|&r| examples[r].clone()).collect();
        let champion_probs = self.classifier.predict_proba_batch(&picked);
        let challenger_probs: Vec<Vec<f32>> = rows
            .iter()
            .map(|&r| report.out_of_fold[r].clone())
            .collect();
        let f1 = |probs: &[Vec<f32>]| {
            ticketflow_analytics::classify::evaluate(classes, &truth, probs)
                .macro_avg
                .f1
        };
        comparison.challenger_holdout_macro_f1 = f1(&challenger_probs);
        comparison.champion_holdout_macro_f1 = Some(f1(&champion_probs));
        comparison
    }
}
