//! The labelled tickets with their embeddings, and writing the JSON results.

use std::path::Path;

use serde::Serialize;
use ticketflow_analytics::classify::{Classifier, Example};
use ticketflow_analytics::embedded::load_embedded;
use ticketflow_schemas::Ticket;

/// Labelled tickets with their embeddings (see [`load_embedded`]): tickets, examples and labels,
/// index-aligned.
pub struct Labelled {
    pub tickets: Vec<Ticket>,
    pub examples: Vec<Example>,
    pub labels: Vec<String>,
}

/// Loads labelled tickets and their embeddings, aligned by input row.
pub fn load(data: &Path, embeddings: &Path) -> Result<Labelled, String> {
    let loaded = load_embedded(data, embeddings).map_err(|e| e.to_string())?;
    if loaded.unlabelled + loaded.unembedded + loaded.quarantined > 0 {
        println!(
            "(left out: {} unlabelled, {} without an embedding, {} quarantined by the loader)",
            loaded.unlabelled, loaded.unembedded, loaded.quarantined
        );
    }
    Ok(Labelled {
        tickets: loaded.tickets,
        examples: loaded.examples,
        labels: loaded.labels,
    })
}

/// The index of `label` among the model's classes (`usize::MAX` when it has none).
pub fn class_index(model: &Classifier, label: &String) -> usize {
    model
        .classes
        .iter()
        .position(|c| c == label)
        .unwrap_or(usize::MAX)
}

/// The rows at `indices`.
pub fn select<T: Clone>(rows: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| rows[i].clone()).collect()
}

/// Writes `value` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))
}
