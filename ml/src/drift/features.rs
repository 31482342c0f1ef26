//! The per-ticket feature table that drift is computed on.
//!
//! One row per ticket, with the columns a person would check first when a model starts to
//! misbehave: how long the tickets are, which languages, queues and priorities they come in,
//! how much of them is placeholders, and what the model predicted. `ticketflow features`
//! writes it as CSV, so anyone can recompute the statistics elsewhere (Evidently included).

use std::path::Path;

use serde::{Deserialize, Serialize};
use ticketflow_schemas::CleanTicket;

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
    /// Empty when the run has no predictions.
    #[serde(default)]
    pub predicted_type: String,
    #[serde(default)]
    pub predicted_probability: Option<f64>,
    /// The `type` label, empty when the input had none.
    #[serde(default)]
    pub label: String,
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

/// The feature row of a cleaned ticket, with the model's prediction when there is one.
pub fn feature_row(t: &CleanTicket, prediction: Option<(&str, f32)>) -> FeatureRow {
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
        predicted_type: prediction.map(|(p, _)| p.to_string()).unwrap_or_default(),
        predicted_probability: prediction.map(|(_, prob)| f64::from(prob)),
        label: t.ticket_type.clone().unwrap_or_default(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureTableError {
    #[error("{path}: {detail}")]
    Csv { path: String, detail: String },
}

/// Writes the table as CSV. Text cells that come from the input (id, language, queue,
/// priority, label) are neutralised against spreadsheet formulas ([`crate::csv_safe`]).
pub fn write_csv<W: std::io::Write>(out: W, rows: &[FeatureRow]) -> csv::Result<()> {
    use crate::csv_safe::neutralize;
    let mut w = csv::Writer::from_writer(out);
    for row in rows {
        let safe = FeatureRow {
            id: neutralize(&row.id).into_owned(),
            language: neutralize(&row.language).into_owned(),
            queue: neutralize(&row.queue).into_owned(),
            priority: neutralize(&row.priority).into_owned(),
            label: neutralize(&row.label).into_owned(),
            ..row.clone()
        };
        w.serialize(&safe)?;
    }
    w.flush()?;
    Ok(())
}

/// Reads a table from CSV bytes (a file fetched from the object store).
pub fn read_csv_bytes(bytes: &[u8]) -> Result<Vec<FeatureRow>, csv::Error> {
    csv::Reader::from_reader(bytes).deserialize().collect()
}

/// Reads a table written by [`write_csv`] (or by anyone, with the same header).
pub fn read_csv(path: &Path) -> Result<Vec<FeatureRow>, FeatureTableError> {
    let err = |e: csv::Error| FeatureTableError::Csv {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut r = csv::Reader::from_path(path).map_err(err)?;
    r.deserialize()
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
        let row = feature_row(&ticket(), Some(("Incident", 0.8)));
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
}
