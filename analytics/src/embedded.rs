//! Labelled tickets with their vectors, read from a ticket file and the matrix `ticketflow
//! embed` made of it: what the accuracy and routing benchmarks evaluate on, without embedding
//! again.
//!
//! `ticketflow embed --input FILE --output X.npy` writes the float32 matrix and a side file
//! `X.rows.csv` (`index,row,id`) saying which input row each matrix row is. Tickets are aligned
//! by row number and their ids are checked, so a matrix made from another file is refused
//! rather than misused.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use ticketflow_schemas::Ticket;

use crate::classify::Example;
use ticketflow_text::dataset::{LoadOptions, load_tickets};

/// Labelled tickets with their embeddings, in file order.
pub struct EmbeddedTickets {
    pub tickets: Vec<Ticket>,
    pub examples: Vec<Example>,
    pub labels: Vec<String>,
    /// Tickets left out: without a label, without a matrix row, or quarantined by the loader.
    pub unlabelled: usize,
    pub unembedded: usize,
    pub quarantined: usize,
}

/// Why the pair of files could not be read together.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(transparent)]
    Load(#[from] ticketflow_text::dataset::LoadError),
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error(
        "row {row}: ticket id {id} but the embeddings' row map says {mapped}: were they made from another file?"
    )]
    Mismatch {
        row: u64,
        id: String,
        mapped: String,
    },
}

fn file_error(path: &Path, detail: impl ToString) -> EmbeddedError {
    EmbeddedError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Loads the labelled tickets of `data` with their rows of `embeddings` (and its `.rows.csv`).
pub fn load_embedded(data: &Path, embeddings: &Path) -> Result<EmbeddedTickets, EmbeddedError> {
    let loaded = load_tickets(data, &LoadOptions::default())?;
    let matrix: Array2<f32> =
        ndarray_npy::read_npy(embeddings).map_err(|e| file_error(embeddings, e))?;
    let rows_csv = embeddings.with_extension("rows.csv");
    let mut reader = csv::Reader::from_path(&rows_csv).map_err(|e| file_error(&rows_csv, e))?;
    // input row → (matrix row, ticket id)
    let mut by_row: HashMap<u64, (usize, String)> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| file_error(&rows_csv, e))?;
        let field = |i: usize| record.get(i).unwrap_or_default();
        let index: usize = field(0)
            .parse()
            .map_err(|e| file_error(&rows_csv, format!("bad index: {e}")))?;
        let row: u64 = field(1)
            .parse()
            .map_err(|e| file_error(&rows_csv, format!("bad row: {e}")))?;
        by_row.insert(row, (index, field(2).to_owned()));
    }
    let mut out = EmbeddedTickets {
        tickets: Vec::new(),
        examples: Vec::new(),
        labels: Vec::new(),
        unlabelled: 0,
        unembedded: 0,
        quarantined: loaded.quarantined.len(),
    };
    for ticket in loaded.tickets {
        let Some(label) = ticket.ticket_type.clone().filter(|t| !t.trim().is_empty()) else {
            out.unlabelled += 1;
            continue;
        };
        let Some((index, id)) = by_row.get(&ticket.row) else {
            out.unembedded += 1;
            continue;
        };
        if *index >= matrix.nrows() {
            return Err(file_error(
                &rows_csv,
                format!("matrix row {index} is out of range"),
            ));
        }
        if *id != ticket.id {
            return Err(EmbeddedError::Mismatch {
                row: ticket.row,
                id: ticket.id.clone(),
                mapped: id.clone(),
            });
        }
        let embedding = matrix.row(*index).to_vec();
        out.examples.push(Example::from_ticket(&ticket, embedding));
        out.labels.push(label);
        out.tickets.push(ticket);
    }
    Ok(out)
}
