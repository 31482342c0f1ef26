//! Shared by the model-backed tests (`parity.rs`, `int8.rs`): where the model is, the committed
//! sentence-transformers reference, embedding with a fresh model, and cosine similarity.

use std::path::{Path, PathBuf};
use ticketflow_testkit::Requirement;

use serde::de::DeserializeOwned;
use ticketflow_embed::{EmbeddingModel, EmbeddingModelConfig, Precision};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `tests/fixtures/parity/reference.json` (made once by `scripts/make_parity_reference.py`),
/// read into whatever part of it the caller needs.
pub fn reference<T: DeserializeOwned>() -> T {
    let path = workspace().join("tests/fixtures/parity/reference.json");
    let text = std::fs::read_to_string(&path).expect("reference fixture is committed");
    serde_json::from_str(&text).expect("reference fixture parses")
}

/// The embedder config for `precision` from the environment `make` sets, or the setup defaults.
/// `None` (the test skips) when the model or ONNX Runtime is missing, unless
/// `TICKETFLOW_REQUIRE_MODEL=1` (as under `make test`), which makes that a failure.
pub fn config(precision: Precision, batch_size: usize) -> Option<EmbeddingModelConfig> {
    let model_dir = std::env::var_os("TICKETFLOW_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/models/all-minilm-l6-v2"));
    let ort_lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/lib/libonnxruntime.so"));
    let cfg = EmbeddingModelConfig {
        precision,
        batch_size,
        ..EmbeddingModelConfig::new(model_dir, ort_lib)
    };
    if !cfg.model_path().is_file() || !cfg.ort_library.is_file() {
        let msg = format!(
            "model ({}) or ONNX Runtime ({}) missing: run `make setup`",
            cfg.model_path().display(),
            cfg.ort_library.display()
        );
        Requirement::Model.missing(msg);
        return None;
    }
    Some(cfg)
}

/// Loads a fresh embedder for `cfg` and embeds `texts` with it.
pub fn embed(cfg: &EmbeddingModelConfig, texts: &[&str]) -> ndarray::Array2<f32> {
    let precision = cfg.precision;
    EmbeddingModel::new(cfg)
        .unwrap_or_else(|e| panic!("{precision} embedder: {e}"))
        .embed(texts)
        .unwrap_or_else(|e| panic!("embed {precision}: {e}"))
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
