//! What goes into and comes out of a collection: records, neighbours, and their checks.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::*;

/// One record of the collection: a ticket's embedding, its text and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    /// Stable id (the ticket id): upserting the same id again replaces the record.
    pub id: String,
    /// The embedding; every record of a collection has the same dimension.
    pub embedding: Vec<f32>,
    /// The text the embedding was computed from (empty when Chroma holds none).
    pub document: String,
    /// Metadata used for filtering and analysis (type, queue, language, run id, …).
    ///
    /// Before sending, values are made storable by Chroma: `null` and `[]` remove the key;
    /// integers beyond `i64` become floats; objects and mixed lists become their JSON text.
    pub metadata: Map<String, Value>,
}

/// One result of a nearest-neighbour [`query`](ChromaClient::query).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Id of the stored record.
    pub id: String,
    /// Cosine distance to the query, `1 − cos`: 0 is the same direction.
    pub distance: f32,
    /// The stored document, if any.
    pub document: Option<String>,
    /// The stored metadata (empty if none).
    pub metadata: Map<String, Value>,
}

/// A boxed error from the HTTP stack, kept as the `source` of our errors without making
/// reqwest's types part of this crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Checks a batch before anything is sent: non-empty ids, one dimension, finite values.
pub(super) fn validate_records(
    op: &'static str,
    records: &[VectorRecord],
) -> Result<(), ChromaError> {
    let dim = records.first().map(|r| r.embedding.len());
    for (i, r) in records.iter().enumerate() {
        if r.id.is_empty() {
            return Err(ChromaError::InvalidInput {
                op,
                detail: format!("record #{i} has an empty id"),
            });
        }
        check_embedding(op, &format!("record {:?}", r.id), &r.embedding, dim)?;
    }
    Ok(())
}

/// The records with each id's last occurrence only, in the order of those occurrences, so
/// that splitting into batches cannot reorder two writes of one id.
pub(super) fn last_of_each_id(records: &[VectorRecord]) -> Vec<&VectorRecord> {
    let mut last = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.id.as_str(), i);
    }
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(r.id.as_str()) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

/// Whether a stored vector equals a new one up to Chroma's storage error.
///
/// A cosine collection stores vectors normalized and returns them rescaled, so a component
/// can come back one float step off (relative error about 1.2e-7). Differences below a
/// millionth of the vector's largest component are treated as equal; a changed model or text
/// moves embeddings by orders of magnitude more.
pub fn same_vector(stored: &[f32], new: &[f32]) -> bool {
    let scale = new.iter().fold(0f32, |m, x| m.max(x.abs()));
    let tolerance = 1e-6 * scale.max(f32::MIN_POSITIVE);
    stored.len() == new.len()
        && stored
            .iter()
            .zip(new)
            .all(|(a, b)| (a - b).abs() <= tolerance)
}

/// An embedding must be non-empty, of the expected dimension, and finite (JSON has no NaN).
pub(super) fn check_embedding(
    op: &'static str,
    what: &str,
    embedding: &[f32],
    dim: Option<usize>,
) -> Result<(), ChromaError> {
    let detail = if embedding.is_empty() {
        format!("{what} has an empty embedding")
    } else if let Some(d) = dim.filter(|d| *d != embedding.len()) {
        format!(
            "{what} has dimension {}, the batch has {d}",
            embedding.len()
        )
    } else if let Some(j) = embedding.iter().position(|x| !x.is_finite()) {
        format!("{what} has a non-finite value at position {j}")
    } else {
        return Ok(());
    };
    Err(ChromaError::InvalidInput { op, detail })
}

/// The `i`-th entry of an optional parallel array, or `None`.
pub(super) fn nth<T: Clone>(list: Option<&Vec<Option<T>>>, i: usize) -> Option<T> {
    list.and_then(|l| l.get(i)).cloned().flatten()
}

/// Zips a `get` answer's parallel arrays into records.
pub(super) fn records_from(
    op: &'static str,
    resp: wire::GetResponse,
) -> Result<Vec<VectorRecord>, ChromaError> {
    let n = resp.ids.len();
    let Some(embeddings) = resp.embeddings.filter(|e| e.len() == n) else {
        return Err(ChromaError::Protocol {
            op,
            detail: format!("embeddings missing or not one per id ({n} ids)"),
        });
    };
    resp.ids
        .into_iter()
        .zip(embeddings)
        .enumerate()
        .map(|(i, (id, embedding))| {
            let embedding = embedding.ok_or_else(|| ChromaError::Protocol {
                op,
                detail: format!("record {id:?} came back without its embedding"),
            })?;
            Ok(VectorRecord {
                document: nth(resp.documents.as_ref(), i).unwrap_or_default(),
                metadata: nth(resp.metadatas.as_ref(), i).unwrap_or_default(),
                id,
                embedding,
            })
        })
        .collect()
}

/// Zips a single-query `query` answer into neighbours, nearest first.
pub(super) fn neighbours_from(
    op: &'static str,
    resp: wire::QueryResponse,
) -> Result<Vec<Neighbour>, ChromaError> {
    let protocol = |detail: String| ChromaError::Protocol { op, detail };
    let Some(ids) = resp.ids.into_iter().next() else {
        return Ok(Vec::new());
    };
    let distances = resp
        .distances
        .and_then(|d| d.into_iter().next())
        .filter(|d| d.len() == ids.len())
        .ok_or_else(|| {
            protocol(format!(
                "distances missing or not one per id ({} ids)",
                ids.len()
            ))
        })?;
    let documents = resp.documents.and_then(|d| d.into_iter().next());
    let metadatas = resp.metadatas.and_then(|m| m.into_iter().next());
    ids.into_iter()
        .zip(distances)
        .enumerate()
        .map(|(i, (id, distance))| {
            let distance =
                distance.ok_or_else(|| protocol(format!("neighbour {id:?} has no distance")))?;
            Ok(Neighbour {
                document: nth(documents.as_ref(), i),
                metadata: nth(metadatas.as_ref(), i).unwrap_or_default(),
                id,
                distance,
            })
        })
        .collect()
}
