//! The JSON bodies of Chroma's v2 HTTP API that this client sends and reads, and the conversion
//! of our free-form metadata into values Chroma stores.
//!
//! Only the fields we use are modelled; serde ignores the rest, so newer servers that add
//! fields keep working. Request bodies borrow from the caller's records, so a batch of
//! embeddings is serialized straight from the caller's `Vec<f32>`s without copying.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::VectorRecord;

/// `POST .../collections`: create the collection, or return it if it exists.
#[derive(Serialize)]
pub(super) struct CreateCollection<'a> {
    pub name: &'a str,
    pub get_or_create: bool,
    pub configuration: Value,
}

/// What Chroma says about a collection (`Collection` in its OpenAPI document).
#[derive(Deserialize)]
pub(super) struct Collection {
    pub id: String,
    #[serde(default)]
    pub configuration_json: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// `GET /api/v2/pre-flight-checks`: server limits a client should respect.
#[derive(Deserialize)]
pub(super) struct PreFlight {
    #[serde(default)]
    pub max_batch_size: Option<u64>,
}

/// Chroma's error body: `{"error": "NotFoundError", "message": "..."}`.
#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// `POST .../upsert`: all arrays are parallel, one entry per record.
#[derive(Serialize)]
pub(super) struct Upsert<'a> {
    pub ids: Vec<&'a str>,
    pub embeddings: Vec<&'a [f32]>,
    pub documents: Vec<&'a str>,
    pub metadatas: Vec<Map<String, Value>>,
}

/// `POST .../update` with metadata only: ids not in the collection are ignored by Chroma.
#[derive(Serialize)]
pub(super) struct UpdateMetadata<'a> {
    pub ids: &'a [String],
    pub metadatas: Vec<Map<String, Value>>,
}

/// `POST .../update` of documents and metadata, leaving the stored vectors alone.
#[derive(Serialize)]
pub(super) struct UpdateRecords<'a> {
    pub ids: Vec<&'a str>,
    pub documents: Vec<&'a str>,
    pub metadatas: Vec<Map<String, Value>>,
}

impl<'a> UpdateRecords<'a> {
    /// The records' ids, documents and metadata, as Chroma takes them.
    pub(super) fn of(records: &[&'a VectorRecord]) -> Self {
        UpdateRecords {
            ids: records.iter().map(|r| r.id.as_str()).collect(),
            documents: records.iter().map(|r| r.document.as_str()).collect(),
            metadatas: records
                .iter()
                .map(|r| to_chroma_metadata(&r.metadata))
                .collect(),
        }
    }
}

impl<'a> Upsert<'a> {
    /// The records whole: [`UpdateRecords::of`] and their vectors.
    pub(super) fn of(records: &[&'a VectorRecord]) -> Self {
        let UpdateRecords {
            ids,
            documents,
            metadatas,
        } = UpdateRecords::of(records);
        Upsert {
            ids,
            embeddings: records.iter().map(|r| r.embedding.as_slice()).collect(),
            documents,
            metadatas,
        }
    }
}

/// `POST .../get`: by ids, by a `where` filter, or both.
#[derive(Serialize)]
pub(super) struct Get<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<&'a [String]>,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    pub include: &'static [&'static str],
}

/// The answer to `get`: parallel arrays; the ones not asked for in `include` are null.
#[derive(Deserialize)]
pub(super) struct GetResponse {
    pub ids: Vec<String>,
    #[serde(default)]
    pub embeddings: Option<Vec<Option<Vec<f32>>>>,
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub metadatas: Option<Vec<MaybeMetadata>>,
}

/// `POST .../query`: nearest neighbours of one or more query embeddings.
#[derive(Serialize)]
pub(super) struct Query<'a> {
    pub query_embeddings: [&'a [f32]; 1],
    pub n_results: u32,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a Value>,
    pub include: &'static [&'static str],
}

/// One record's metadata as Chroma returns it: `null` when the record has none.
pub(super) type MaybeMetadata = Option<Map<String, Value>>;

/// The answer to `query`: one inner list per query embedding, nearest first.
#[derive(Deserialize)]
pub(super) struct QueryResponse {
    pub ids: Vec<Vec<String>>,
    #[serde(default)]
    pub distances: Option<Vec<Vec<Option<f32>>>>,
    #[serde(default)]
    pub documents: Option<Vec<Vec<Option<String>>>>,
    #[serde(default)]
    pub metadatas: Option<Vec<Vec<MaybeMetadata>>>,
}

/// Converts one record's metadata into values Chroma stores.
///
/// Chroma's metadata values are scalars (string, integer, float, boolean) and, since 1.5,
/// non-empty lists of one scalar type. Everything else is converted rather than rejected, so a
/// ticket never fails to index over a metadata detail:
///
/// - `null` is sent as `null`, which Chroma reads as "this key has no value": the key is not
///   stored, and on an existing record (upsert and update *merge* metadata) it is removed;
/// - an empty list becomes `null` for the same reason;
/// - integers beyond `i64` become floats (Chroma's integers are 64-bit signed);
/// - a list mixing integers and floats becomes a list of floats;
/// - objects, and lists mixing other types or holding objects, lists or nulls, become their
///   JSON text (a string), which keeps the information readable.
pub(super) fn to_chroma_metadata(meta: &Map<String, Value>) -> Map<String, Value> {
    meta.iter()
        .map(|(k, v)| (k.clone(), to_chroma_value(v)))
        .collect()
}

fn to_chroma_value(v: &Value) -> Value {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => v.clone(),
        Value::Number(n) => number(n),
        Value::Array(items) => array(items).unwrap_or_else(|| Value::String(v.to_string())),
        Value::Object(_) => Value::String(v.to_string()),
    }
}

/// A number Chroma can hold: `i64` stays an integer, anything else becomes a float.
fn number(n: &serde_json::Number) -> Value {
    if n.is_i64() {
        return Value::Number(n.clone());
    }
    n.as_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A list Chroma can hold, or `None` if it must be sent as JSON text.
fn array(items: &[Value]) -> Option<Value> {
    let Some(first) = items.first() else {
        return Some(Value::Null);
    };
    let all = |pred: fn(&Value) -> bool| items.iter().all(pred);
    match first {
        Value::String(_) if all(Value::is_string) => Some(Value::Array(items.to_vec())),
        Value::Bool(_) if all(Value::is_boolean) => Some(Value::Array(items.to_vec())),
        Value::Number(_) if all(Value::is_i64) => Some(Value::Array(items.to_vec())),
        Value::Number(_) if all(Value::is_number) => items
            .iter()
            .map(|v| v.as_f64().and_then(serde_json::Number::from_f64))
            .collect::<Option<Vec<_>>>()
            .map(|ns| Value::Array(ns.into_iter().map(Value::Number).collect())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(v: Value) -> Value {
        let Value::Object(m) = v else {
            panic!("test input must be an object")
        };
        Value::Object(to_chroma_metadata(&m))
    }

    #[test]
    fn scalars_pass_through() {
        let v = json!({"s": "x", "i": -3, "f": 0.5, "b": true});
        assert_eq!(convert(v.clone()), v);
    }

    #[test]
    fn nulls_and_empty_lists_mean_no_value() {
        assert_eq!(
            convert(json!({"n": null, "e": []})),
            json!({"n": null, "e": null})
        );
    }

    #[test]
    fn huge_integers_become_floats() {
        let got = convert(json!({"u": u64::MAX}));
        assert_eq!(got["u"].as_f64(), Some(u64::MAX as f64));
        assert!(!got["u"].is_u64());
    }

    #[test]
    fn homogeneous_lists_stay_lists() {
        let v = json!({"tags": ["a", "b"], "flags": [true], "ns": [1, 2]});
        assert_eq!(convert(v.clone()), v);
        assert_eq!(convert(json!({"x": [1, 2.5]})), json!({"x": [1.0, 2.5]}));
    }

    #[test]
    fn objects_and_mixed_lists_become_json_text() {
        assert_eq!(
            convert(json!({"o": {"a": 1}, "m": [1, "a"], "nested": [[1]]})),
            json!({"o": "{\"a\":1}", "m": "[1,\"a\"]", "nested": "[[1]]"})
        );
    }
}
