//! Deterministic keys: the one place that decides where each artifact of a run lives, so every
//! stage, test and document agrees.
//!
//! ```text
//! runs/{run}/raw/shard-00000.jsonl          coordinator → cleaner
//! runs/{run}/clean/shard-00000.msgpack      cleaner → embedder
//! runs/{run}/embeddings/shard-00000.npy     embedder → indexer
//! runs/{run}/quarantine.jsonl               rows the coordinator refused, with reasons
//! runs/{run}/result.json                    the trainer/drift job's summary
//! runs/{run}/features.csv                   per-ticket feature table (the drift input)
//! runs/{run}/predictions.csv                production's predictions (inference runs)
//! runs/{run}/drift/report.{html,json}       drift against the data set's reference
//! runs/{run}/profile/profile.{html,json}    exploratory profile of the run's input
//! models/{model}/model.msgpack              a classifier (the registry)
//! models/{model}/card.json                  what it was trained on, how well it did
//! models/{model}/evaluation.{json,md}       its held-out evaluation
//! models/{model}/precision_coverage.svg     precision against auto-routing coverage
//! datasets/{dataset}/latest.json            the data set's current model
//! datasets/{dataset}/reference.json         the data set's drift reference, when set
//! vectors/{model}-{precision}/{segment}.npy  vectors kept for reuse by content (embedder)
//! vectors/{model}-{precision}/{segment}.hashes   the BLAKE3 hashes of their texts, row by row
//! ```
//!
//! Determinism is what makes at-least-once delivery safe: a redelivered shard writes the same
//! key again, overwriting an identical (or half-finished) object instead of adding a duplicate.
//! Shard numbers are zero-padded to five digits so keys sort in shard order.
//!
//! These functions only format. Run ids come from outside (a CLI flag, a message), so check
//! them once at the edge with [`validate_run_id`]; every [`Store`](super::Store) operation
//! also validates its key before doing any I/O.

use super::error::StoreError;

/// `runs/{run}/raw/shard-{shard:05}.jsonl`: tickets of one shard as the coordinator split them.
pub fn raw_shard(run_id: &str, shard: u32) -> String {
    format!("runs/{run_id}/raw/shard-{shard:05}.jsonl")
}

/// `runs/{run}/clean/shard-{shard:05}.msgpack`: the cleaner's output for one shard.
pub fn clean_shard(run_id: &str, shard: u32) -> String {
    format!("runs/{run_id}/clean/shard-{shard:05}.msgpack")
}

/// `runs/{run}/embeddings/shard-{shard:05}.npy`: the embedder's vectors for one shard.
pub fn embeddings(run_id: &str, shard: u32) -> String {
    format!("runs/{run_id}/embeddings/shard-{shard:05}.npy")
}

/// `vectors/{model}-{precision}`: the vectors one embedding model made, kept for reuse.
pub fn vector_space(model_digest: &str, precision: &str) -> String {
    format!("vectors/{model_digest}-{precision}")
}

/// `{space}/{segment}.{ext}`: one segment of a vector space (`npy` or `hashes`).
pub fn vector_segment(space: &str, segment: &str, ext: &str) -> String {
    format!("{space}/{segment}.{ext}")
}

/// `runs/{run}/quarantine.jsonl`: rows refused at ingestion, with row number and reason.
pub fn quarantine(run_id: &str) -> String {
    format!("runs/{run_id}/quarantine.jsonl")
}

/// `runs/{run}/result.json`: the run's final summary.
pub fn run_result(run_id: &str) -> String {
    format!("runs/{run_id}/result.json")
}

/// `runs/{run}/features.csv`: one row per ticket, the table drift is computed on.
pub fn features(run_id: &str) -> String {
    format!("runs/{run_id}/features.csv")
}

/// `runs/{run}/predictions.csv`: production's predictions of an inference run.
pub fn predictions(run_id: &str) -> String {
    format!("runs/{run_id}/predictions.csv")
}

/// `runs/{run}/drift/report.{ext}` (`html` or `json`).
pub fn drift_report(run_id: &str, ext: &str) -> String {
    format!("runs/{run_id}/drift/report.{ext}")
}

/// `runs/{run}/profile/profile.{ext}` (`html` or `json`).
pub fn profile(run_id: &str, ext: &str) -> String {
    format!("runs/{run_id}/profile/profile.{ext}")
}

/// `models/{model}/model.msgpack`: a registered classifier.
pub fn model(model_id: &str) -> String {
    format!("models/{model_id}/model.msgpack")
}

/// `models/{model}/card.json`.
pub fn model_card(model_id: &str) -> String {
    format!("models/{model_id}/card.json")
}

/// `models/{model}/evaluation.{ext}` (`json` or `md`).
pub fn model_evaluation(model_id: &str, ext: &str) -> String {
    format!("models/{model_id}/evaluation.{ext}")
}

/// `models/{model}/precision_coverage.svg`.
pub fn model_curve_svg(model_id: &str) -> String {
    format!("models/{model_id}/precision_coverage.svg")
}

/// `models/{model}/trained_ids.bin`: the ids the model was fitted on (sorted 8-byte BLAKE3
/// prefixes), so nobody scores it on its own training tickets.
pub fn model_trained_ids(model_id: &str) -> String {
    format!("models/{model_id}/trained_ids.bin")
}

/// `datasets/{dataset}/routing.json`: whether automatic routing is suspended for the data set,
/// since when and why.
pub fn dataset_routing(dataset: &str) -> String {
    format!("datasets/{dataset}/routing.json")
}

/// `datasets/{dataset}/latest.json`: the data set's current model.
pub fn dataset_latest(dataset: &str) -> String {
    format!("datasets/{dataset}/latest.json")
}

/// `datasets/{dataset}/reference.json`: the data set's drift reference, when an operator set one.
pub fn dataset_reference(dataset: &str) -> String {
    format!("datasets/{dataset}/reference.json")
}

/// Where stores written before data sets existed kept the default data set's pointers.
pub const LEGACY_LATEST: &str = "models/latest.json";
pub const LEGACY_REFERENCE: &str = "models/reference.json";

/// `runs/{run}/`: everything belonging to a run, for [`Store::list`](super::Store::list).
pub fn run_prefix(run_id: &str) -> String {
    format!("runs/{run_id}/")
}

/// Longest run id accepted; keeps keys far below S3's 1024-byte limit.
pub const MAX_RUN_ID_LEN: usize = 128;

/// Check that `run_id` can be used as one key segment: 1 to [`MAX_RUN_ID_LEN`] characters from
/// `A-Z a-z 0-9 - _ .`, and not `.` or `..`.
///
/// The character set is deliberately narrow: it is safe as a directory name, an S3 key segment,
/// a JetStream KV key and part of a message id alike. This is the one rule for run ids: the
/// coordinator checks `--run-id` with it, and every key built from a run id is checked again.
pub fn validate_run_id(run_id: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| {
        Err(StoreError::InvalidRunId {
            run_id: run_id.to_string(),
            reason,
        })
    };
    if run_id.is_empty() {
        return invalid("it is empty".into());
    }
    if run_id.len() > MAX_RUN_ID_LEN {
        return invalid(format!("longer than {MAX_RUN_ID_LEN} characters"));
    }
    if run_id == "." || run_id == ".." {
        return invalid("'.' and '..' are not allowed".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some(c) = run_id.chars().find(|&c| !allowed(c)) {
        return invalid(format!(
            "character {c:?} not allowed (use A-Z, a-z, 0-9, '-', '_', '.')"
        ));
    }
    Ok(())
}

/// Longest key accepted, S3's limit in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Check an object key: non-empty, relative, `/`-separated segments that are neither empty nor
/// `.`/`..`, no control characters or backslashes, at most 1024 bytes. A trailing `/` names a
/// "directory", not an object, and is refused too. Returns the reason on failure.
///
/// The file backend also reserves names ending in `#<digits>` for uploads in progress.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("it is empty".into());
    }
    if key.ends_with('/') {
        return Err("a key cannot end with '/' (that names a prefix, not an object)".into());
    }
    check_prefix(key)?;
    if let Some((_, suffix)) = key.rsplit('/').next().and_then(|name| name.split_once('#'))
        && !suffix.is_empty()
        && suffix.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("names ending in '#<digits>' are reserved for uploads in progress".into());
    }
    Ok(())
}

/// Check a list prefix: like [`check_key`], but `""` (everything) and a trailing `/` are fine.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > MAX_KEY_LEN {
        return Err(format!("longer than {MAX_KEY_LEN} bytes"));
    }
    if prefix.starts_with('/') {
        return Err("keys are relative to the store: no leading '/'".into());
    }
    if prefix.contains('\\') {
        return Err("backslashes are not allowed".into());
    }
    if prefix.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    if body.is_empty() {
        return if prefix.is_empty() {
            Ok(())
        } else {
            Err("'/' alone is not a prefix; use \"\" for everything".into())
        };
    }
    for segment in body.split('/') {
        match segment {
            "" => return Err("empty path segment ('//')".into()),
            "." | ".." => return Err("'.' and '..' segments are not allowed".into()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(raw_shard("r1", 7), "runs/r1/raw/shard-00007.jsonl");
        assert_eq!(
            clean_shard("r1", 12345),
            "runs/r1/clean/shard-12345.msgpack"
        );
        assert_eq!(embeddings("r1", 0), "runs/r1/embeddings/shard-00000.npy");
        assert_eq!(quarantine("r1"), "runs/r1/quarantine.jsonl");
        assert_eq!(run_result("r1"), "runs/r1/result.json");
        assert_eq!(run_prefix("r1"), "runs/r1/");
        // Padding keeps lexicographic order equal to numeric order.
        assert!(raw_shard("r", 9) < raw_shard("r", 10));
        for key in [raw_shard("r1", 1), run_result("r1")] {
            assert_eq!(check_key(&key), Ok(()));
        }
    }

    #[test]
    fn run_ids() {
        for ok in ["r1", "2026-11-26_a.b", &"a".repeat(MAX_RUN_ID_LEN)] {
            assert!(validate_run_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/a",
            "a b",
            "é",
            &"a".repeat(MAX_RUN_ID_LEN + 1),
        ] {
            assert!(validate_run_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_and_prefixes() {
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", "a\\b", "a\nb", "a/b#12",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        for ok in ["a", "a/b.c", "a/b#x", "a/#", "shard-00000.jsonl"] {
            assert_eq!(check_key(ok), Ok(()), "{ok:?}");
        }
        for ok in ["", "runs/", "runs/r1", "runs/r1/"] {
            assert_eq!(check_prefix(ok), Ok(()), "{ok:?}");
        }
        for bad in ["/", "/runs", "runs//", "runs/../x/"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
