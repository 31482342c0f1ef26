//! The per-ticket feature table that drift is computed on.
//!
//! One row per ticket, with the columns a person would check first when a model starts to
//! misbehave: how long the tickets are, which languages, queues and priorities they come in,
//! how much of them is placeholders, and what the model predicted. `ticketflow features`
//! writes it as CSV, so anyone can recompute the statistics elsewhere (Evidently included).
//!
//! Two kinds of prediction are kept, and never mixed up:
//!
//! - `predicted_type`, `predicted_probability`, `auto`: what **production** predicted, i.e. the
//!   data set's `latest` model from *before* the run. That is what support saw, so prediction
//!   drift, quality and auto-routing coverage are measured on it.
//! - `oof_predicted_type`, `oof_probability`: the model trained on this run, each ticket
//!   predicted by a fit that never saw it (its cross-validation fold, or the refit for held-out
//!   rows). In-sample predictions of a freshly trained model would flatter it; these do not.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ticketflow_schemas::CleanTicket;

use crate::classify::predictions::{Predictions, RowPrediction};

/// One ticket's features. Column names are the CSV header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    pub id: String,
    pub char_count: f64,
    pub word_count: f64,
    /// ISO 639-1 code, or `unknown`.
    pub language: String,
    /// `unknown` when missing.
    pub queue: String,
    pub priority: String,
    /// 1 when the ticket had a subject, 0 otherwise (binary column).
    pub has_subject: u8,
    /// Placeholder tokens (`<name>`, `<acc_num>` …) over all cleaned tokens.
    pub placeholder_share: f64,
    /// Production's prediction (the `latest` model before the run); empty when there was none.
    #[serde(default)]
    pub predicted_type: String,
    #[serde(default)]
    pub predicted_probability: Option<f64>,
    /// Production's per-ticket routing decision: its probability reached the model's threshold
    /// and the ticket is like the training data. A suspension of the whole batch (drift) is
    /// applied on top of it and recorded in `result.json`, `predictions.csv` and Chroma, not
    /// here: this column shows what production would route, which is what drift compares.
    /// Empty when there was no production model.
    #[serde(default)]
    pub auto: Option<bool>,
    /// The run's own model, out of fold (labelled runs only).
    #[serde(default)]
    pub oof_predicted_type: String,
    #[serde(default)]
    pub oof_probability: Option<f64>,
    /// The `type` label, empty when the input had none.
    #[serde(default)]
    pub label: String,
    /// `true` when production's model was trained on this ticket (a cumulative export repeats
    /// yesterday's tickets): its prediction is in-sample, so quality and routing figures of
    /// production leave the row out. Empty when there was no production model, or in tables
    /// written before it existed. Last, so tables of older releases keep their column order.
    #[serde(default)]
    pub production_trained: Option<bool>,
}

/// Numeric columns of the table.
pub const NUMERIC_COLUMNS: [&str; 3] = ["char_count", "word_count", "placeholder_share"];
/// Categorical columns of the table (data drift).
pub const CATEGORICAL_COLUMNS: [&str; 3] = ["language", "queue", "priority"];
/// Binary columns of the table.
pub const BINARY_COLUMNS: [&str; 1] = ["has_subject"];

fn or_unknown(v: &Option<String>) -> String {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// The feature row of a cleaned ticket, with production's prediction and the run's own
/// out-of-fold prediction when there are such.
pub fn feature_row(
    t: &CleanTicket,
    production: Option<RowPrediction<'_>>,
    out_of_fold: Option<RowPrediction<'_>>,
) -> FeatureRow {
    let words = t.text.split_whitespace().count();
    let tokens = t.tokens.len();
    FeatureRow {
        id: t.id.clone(),
        char_count: t.text.chars().count() as f64,
        word_count: words as f64,
        language: or_unknown(&t.language),
        queue: or_unknown(&t.queue),
        priority: or_unknown(&t.priority),
        has_subject: u8::from(t.has_subject),
        placeholder_share: if tokens == 0 {
            0.0
        } else {
            f64::from(t.placeholder_count) / tokens as f64
        },
        predicted_type: production.map(|p| p.class.to_string()).unwrap_or_default(),
        predicted_probability: production.map(|p| f64::from(p.probability)),
        auto: production.map(|p| p.auto),
        oof_predicted_type: out_of_fold.map(|p| p.class.to_string()).unwrap_or_default(),
        oof_probability: out_of_fold.map(|p| f64::from(p.probability)),
        label: t.ticket_type.clone().unwrap_or_default(),
        production_trained: None,
    }
}

/// The run's per-ticket feature table : production's
/// predictions and the run's own out-of-fold ones, side by side.
pub fn feature_table<'a>(
    tickets: impl IntoIterator<Item = &'a CleanTicket>,
    production: Option<&Predictions>,
    out_of_fold: Option<&Predictions>,
) -> Vec<FeatureRow> {
    tickets
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            feature_row(
                t,
                production.and_then(|p| p.row(i)),
                out_of_fold.and_then(|p| p.row(i)),
            )
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureTableError {
    #[error("{path}: {detail}")]
    Csv { path: String, detail: String },
}

/// Writes the table as CSV. Text cells that come from the input (id, language, queue,
/// priority, label) are neutralised against spreadsheet formulas ([`ticketflow_text::csv_safe`]).
pub fn write_csv<W: std::io::Write>(out: W, rows: &[FeatureRow]) -> csv::Result<()> {
    let mut w = FeatureCsv::new(out);
    for row in rows {
        w.push(row)?;
    }
    w.finish().map(drop)
}

/// [`write_csv`] a row at a time, for tables built shard by shard and never held whole.
pub struct FeatureCsv<W: std::io::Write> {
    writer: csv::Writer<W>,
}

impl<W: std::io::Write> FeatureCsv<W> {
    pub fn new(out: W) -> Self {
        Self {
            writer: csv::Writer::from_writer(out),
        }
    }

    /// More rows of a table whose header was written already (a table written in pieces, a
    /// shard at a time).
    pub fn continued(out: W) -> Self {
        Self {
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out),
        }
    }

    pub fn push(&mut self, row: &FeatureRow) -> csv::Result<()> {
        use ticketflow_text::csv_safe::neutralize;
        let safe = FeatureRow {
            id: neutralize(&row.id).into_owned(),
            language: neutralize(&row.language).into_owned(),
            queue: neutralize(&row.queue).into_owned(),
            priority: neutralize(&row.priority).into_owned(),
            label: neutralize(&row.label).into_owned(),
            predicted_type: neutralize(&row.predicted_type).into_owned(),
            oof_predicted_type: neutralize(&row.oof_predicted_type).into_owned(),
            ..row.clone()
        };
        self.writer.serialize(&safe)
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> csv::Result<W> {
        self.writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }
}

impl FeatureRow {
    /// The row as it was before [`FeatureCsv`] neutralised its text cells: what a table read
    /// back must hold, so that `-` compares equal to `-` and not to `'-`.
    pub fn restored(self) -> Self {
        use ticketflow_text::csv_safe::restore;
        let r = |v: String| restore(&v).into_owned();
        FeatureRow {
            id: r(self.id),
            language: r(self.language),
            queue: r(self.queue),
            priority: r(self.priority),
            label: r(self.label),
            predicted_type: r(self.predicted_type),
            oof_predicted_type: r(self.oof_predicted_type),
            ..self
        }
    }
}

/// Reads a table from CSV bytes (a file fetched from the object store), its text cells restored.
pub fn read_csv_bytes(bytes: &[u8]) -> Result<Vec<FeatureRow>, csv::Error> {
    csv::Reader::from_reader(bytes)
        .deserialize::<FeatureRow>()
        .map(|row| row.map(FeatureRow::restored))
        .collect()
}

/// Reads a table written by [`write_csv`] (or by anyone, with the same header).
pub fn read_csv(path: &Path) -> Result<Vec<FeatureRow>, FeatureTableError> {
    let err = |e: csv::Error| FeatureTableError::Csv {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut r = csv::Reader::from_path(path).map_err(err)?;
    r.deserialize::<FeatureRow>()
        .map(|row| row.map(FeatureRow::restored))
        .collect::<Result<Vec<FeatureRow>, _>>()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> CleanTicket {
        CleanTicket {
            id: "t1".into(),
            row: 1,
            text: "VPN down since <name> restarted it".into(),
            tokens: vec![
                "vpn".into(),
                "<name>".into(),
                "restarted".into(),
                "down".into(),
            ],
            language: Some("en".into()),
            language_source: "given".into(),
            ticket_type: Some("Incident".into()),
            queue: None,
            priority: Some("high".into()),
            has_subject: true,
            placeholder_count: 1,
        }
    }

    #[test]
    fn row_values_and_csv_round_trip() {
        use crate::classify::predictions::AutoReason;
        let production = RowPrediction {
            class: "Incident",
            probability: 0.8,
            auto: true,
            reason: AutoReason::Confident,
        };
        let oof = RowPrediction {
            class: "Problem",
            probability: 0.5,
            auto: false,
            reason: AutoReason::BelowThreshold,
        };
        let row = feature_row(&ticket(), Some(production), Some(oof));
        assert_eq!(row.auto, Some(true));
        assert_eq!(row.oof_predicted_type, "Problem");
        assert_eq!(row.word_count, 6.0);
        assert_eq!(row.char_count, 34.0);
        assert_eq!(row.queue, "unknown");
        assert_eq!(row.placeholder_share, 0.25);
        assert_eq!(row.has_subject, 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.csv");
        let unlabelled = FeatureRow {
            label: String::new(),
            predicted_type: String::new(),
            predicted_probability: None,
            auto: None,
            production_trained: None,
            oof_predicted_type: String::new(),
            oof_probability: None,
            ..row.clone()
        };
        write_csv(
            std::fs::File::create(&path).expect("create"),
            &[row.clone(), unlabelled.clone()],
        )
        .expect("write");
        let back = read_csv(&path).expect("read");
        assert_eq!(back, vec![row, unlabelled]);
    }

    /// Defect (issue 23): the reference side of drift is read back from the neutralised CSV,
    /// the current side is the raw rows; a priority of `-` (or any value starting with
    /// `= + - @`) then drifted against itself.
    #[test]
    fn formula_like_values_survive_the_round_trip_and_do_not_drift_against_themselves() {
        let raw: Vec<FeatureRow> = (0..200)
            .map(|i| FeatureRow {
                id: format!("t{i}"),
                priority: ["-", "+1", "=high"][i % 3].to_string(),
                queue: "@ops".into(),
                ..feature_row(&ticket(), None, None)
            })
            .collect();
        let mut out = FeatureCsv::new(Vec::new());
        for row in &raw {
            out.push(row).expect("write");
        }
        let bytes = out.finish().expect("finish");
        assert!(
            String::from_utf8_lossy(&bytes).contains(",'@ops,'-,"),
            "still neutralised on disk"
        );
        let back = read_csv_bytes(&bytes).expect("read");
        assert_eq!(back, raw);
        let report = crate::drift::compare::compare(
            "reference",
            &back,
            "current",
            &raw,
            None,
            &crate::drift::DriftOptions::default(),
            0,
        );
        for c in report.columns {
            assert!(!c.drifted, "{} drifted against itself", c.column);
        }
    }

    #[test]
    fn tables_written_before_the_prediction_columns_still_read() {
        let old = "id,char_count,word_count,language,queue,priority,has_subject,placeholder_share,predicted_type,predicted_probability,label\n\
                   t1,10,2,en,IT,high,1,0.0,Incident,0.9,Incident\n";
        let rows = read_csv_bytes(old.as_bytes()).expect("old table reads");
        assert_eq!(rows[0].predicted_type, "Incident");
        assert_eq!(rows[0].auto, None);
        assert_eq!(rows[0].oof_predicted_type, "");
    }
}
