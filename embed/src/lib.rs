//! Sentence embeddings with all-MiniLM-L6-v2 on ONNX Runtime.
//!
//! The model is the ONNX graph that `models/export_onnx.py` builds at setup from the weights
//! package: BERT encoder, attention-masked mean pooling and L2 normalisation in one graph, so its
//! output is the final 384-d sentence vector. `models/optimize_onnx.py` then derives the two
//! graphs the embedder runs, one per [`Precision`]:
//!
//! | file | precision | what it is |
//! | --- | --- | --- |
//! | `model.onnx` | (reference) | the exporter's plain graph; `--model-file model.onnx` runs it |
//! | `model.fused.onnx` | `fp32` (default) | attention and bias+GELU fused into single ONNX Runtime kernels; same numbers |
//! | `model.int8.onnx` | `int8` | dynamic quantisation of the fused graph: int8 weights, uint8 activations |
//!
//! This module does what sentence-transformers does around the model:
//!
//! 1. tokenise with the model's `tokenizer.json`, truncating at `max_seq_length` (256, from
//!    `sentence_bert_config.json`; the packaged tokenizer's own 128 limit and fixed padding are
//!    overridden, as sentence-transformers does);
//! 2. sort by token count and cut batches ([`batching`]), padding each batch only to its own
//!    longest row;
//! 3. run the graph and put every vector back at its input position.
//!
//! In fp32 the result matches sentence-transformers to a cosine of 0.9999 or better (see the parity
//! test in `embed/tests/parity.rs`). In int8 it stays within the bound of `embed/tests/int8.rs` (median
//! cosine about 0.99 to fp32). int8 vectors also depend on the batch a text lands in, about as
//! much as they differ from fp32, because activations are quantised with one scale per inference
//! call. fp32 vectors depend on it only in the last bit: embedding 400 of the dev file's tickets
//! in other batches than the first time left 390 bit-identical and moved 10 by at most 2.2e-8
//! (the padded length changes the kernels' summation order). So a vector reused by content
//! (`ticketflow_workers::vector_cache`) is byte for byte the one first made, and within a float
//! step of what embedding it again would give.

pub mod batching;
mod runtime;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::Array2;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use tokenizers::{Tokenizer, TruncationParams};

pub use runtime::loaded_library;

/// Output dimension of all-MiniLM-L6-v2.
pub const EMBEDDING_DIM: usize = 384;
/// The graph output that holds the pooled, normalised sentence vectors.
pub const OUTPUT_NAME: &str = "sentence_embedding";

/// Which of the graphs made at setup the embedder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// float32 weights and arithmetic: matches sentence-transformers to a cosine of 0.9999.
    #[default]
    Fp32,
    /// Dynamically quantised: int8 weights, activations quantised per call. About 2x faster on
    /// CPUs with AVX-512 VNNI, at a small cost in accuracy (`docs/benchmarks.md`).
    Int8,
}

impl Precision {
    /// The name used in configuration and CLI flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }

    /// The file in the model directory that holds this precision's graph.
    pub fn model_file(self) -> &'static str {
        match self {
            Precision::Fp32 => "model.fused.onnx",
            Precision::Int8 => "model.int8.onnx",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when parsing an unknown [`Precision`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision {0:?}: expected \"fp32\" or \"int8\"")]
pub struct ParsePrecisionError(String);

impl FromStr for Precision {
    type Err = ParsePrecisionError;

    /// Accepts `fp32` and `int8` in any case, surrounding whitespace ignored (they come from
    /// environment variables).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "int8" => Ok(Precision::Int8),
            _ => Err(ParsePrecisionError(s.to_owned())),
        }
    }
}

/// Where the model lives and how to run it.
#[derive(Debug, Clone)]
pub struct EmbeddingModelConfig {
    /// Directory with the model graphs, `tokenizer.json` and `sentence_bert_config.json`.
    pub model_dir: PathBuf,
    /// Which graph to run: [`Precision::model_file`] in `model_dir`.
    pub precision: Precision,
    /// Runs this file instead (relative to `model_dir`, or absolute): for comparisons between
    /// graphs, such as the benchmark's unfused fp32 baseline.
    pub model_file: Option<PathBuf>,
    /// Path to `libonnxruntime.so`.
    pub ort_library: PathBuf,
    /// Texts per inference call. After length sorting padding stays small, and 8 to 32 run
    /// equally fast here; memory grows by ~10 MB per text at 256 tokens (attention activations),
    /// so the default is 16: 346 MB peak for the embedder instead of 519 MB at 32
    /// (docs/benchmarks.md).
    pub batch_size: usize,
    /// Threads ONNX Runtime may use inside one operator; 0 lets it pick (one per physical core).
    pub intra_threads: usize,
    /// Overrides the model's `max_seq_length` (tokens, including [CLS] and [SEP]).
    pub max_seq_length: Option<usize>,
}

impl EmbeddingModelConfig {
    pub fn new(model_dir: impl Into<PathBuf>, ort_library: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            precision: Precision::default(),
            model_file: None,
            ort_library: ort_library.into(),
            batch_size: 16,
            intra_threads: 0,
            max_seq_length: None,
        }
    }

    /// The graph this configuration runs.
    pub fn model_path(&self) -> PathBuf {
        match &self.model_file {
            Some(file) => self.model_dir.join(file),
            None => self.model_dir.join(self.precision.model_file()),
        }
    }
}

/// Why the embedder could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model file {path} is missing (run `make setup` to export it)")]
    MissingModelFile { path: PathBuf },
    #[error("cannot load ONNX Runtime from {path}: {detail}")]
    OrtLibrary { path: PathBuf, detail: String },
    #[error("cannot read {path}: {detail}")]
    BadModelFile { path: PathBuf, detail: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model output: {0}")]
    Output(String),
}

impl From<ort::Error> for EmbedError {
    fn from(e: ort::Error) -> Self {
        EmbedError::Ort(e.to_string())
    }
}

/// See [`EmbeddingModel::digest`]. The graph is read in chunks: it is 90 MB.
fn model_digest(
    model: &Path,
    tokenizer: &Path,
    max_seq_length: usize,
) -> Result<String, EmbedError> {
    let mut hasher = blake3::Hasher::new();
    for path in [model, tokenizer] {
        let file = std::fs::File::open(path).map_err(|e| EmbedError::BadModelFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        hasher
            .update_reader(file)
            .map_err(|e| EmbedError::BadModelFile {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
    }
    hasher.update(&(max_seq_length as u64).to_le_bytes());
    Ok(hasher.finalize().to_hex()[..16].to_string())
}

/// Reads `max_seq_length` from `sentence_bert_config.json`; 256 is the model's published value.
fn model_max_seq_length(model_dir: &Path) -> Result<usize, EmbedError> {
    let path = model_dir.join("sentence_bert_config.json");
    if !path.exists() {
        return Ok(256);
    }
    let bad = |detail: String| EmbedError::BadModelFile {
        path: path.clone(),
        detail,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    value
        .get("max_seq_length")
        .and_then(serde_json::Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| bad("no integer max_seq_length".into()))
}

fn require_file(path: PathBuf) -> Result<PathBuf, EmbedError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(EmbedError::MissingModelFile { path })
    }
}

/// A loaded model, ready to embed texts. Not `Sync`: one embedder per thread, as ONNX Runtime
/// parallelises inside each call already.
pub struct EmbeddingModel {
    session: Session,
    model_path: PathBuf,
    precision: Precision,
    tokenizer: Tokenizer,
    batch_size: usize,
    pad_id: i64,
    /// Whether the graph takes `token_type_ids` (our export does; optimised graphs may drop it).
    wants_token_types: bool,
    max_seq_length: usize,
    /// See [`digest`](Self::digest).
    digest: String,
    // Reused between batches so a long job allocates its input buffers once.
    ids: Vec<i64>,
    mask: Vec<i64>,
    zeros: Vec<i64>,
}

impl EmbeddingModel {
    /// Loads ONNX Runtime (once per process), the tokenizer and the model.
    pub fn new(config: &EmbeddingModelConfig) -> Result<Self, EmbedError> {
        let model_path = require_file(config.model_path())?;
        let tokenizer_path = require_file(config.model_dir.join("tokenizer.json"))?;
        let max_seq_length = match config.max_seq_length {
            Some(n) => n,
            None => model_max_seq_length(&config.model_dir)?,
        };

        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EmbedError::BadModelFile {
                path: tokenizer_path.clone(),
                detail: e.to_string(),
            })?;
        // The packaged tokenizer pins Fixed(128) padding and truncation at 128; sentence-
        // transformers ignores both, so do we: truncate at max_seq_length, pad per batch.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let pad_id = tokenizer.token_to_id("[PAD]").map_or(0, i64::from);
        let digest = model_digest(&model_path, &tokenizer_path, max_seq_length)?;

        let env = runtime::environment(&config.ort_library)?;
        let session = build_session(&env, &model_path, config.intra_threads)?;
        let wants_token_types = session
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        if !session.outputs().iter().any(|o| o.name() == OUTPUT_NAME) {
            return Err(EmbedError::Output(format!(
                "{} has no output named {OUTPUT_NAME:?}",
                model_path.display()
            )));
        }
        Ok(Self {
            session,
            model_path,
            precision: config.precision,
            tokenizer,
            batch_size: config.batch_size.max(1),
            pad_id,
            wants_token_types,
            max_seq_length,
            digest,
            ids: Vec::new(),
            mask: Vec::new(),
            zeros: Vec::new(),
        })
    }

    /// The ONNX file this embedder runs.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The precision it was configured with (recorded with every vector it makes, because
    /// vectors of different precisions should not be mixed).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The truncation limit in tokens.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// What makes this model's vectors what they are: a BLAKE3 digest (16 hex digits) of the
    /// ONNX graph, `tokenizer.json` and the truncation limit. Two embedders with the same digest
    /// give a text the same vector, so a vector made by one can be reused by the other
    /// (the embedder's vector reuse keys its index on it).
    ///
    /// Pooling and normalisation are covered: `models/export_onnx.py` builds the masked mean
    /// and the L2 norm into the graph, so changing either changes the graph's bytes. The ONNX
    /// Runtime version is deliberately not part of it: the same graph on another runtime gives
    /// the same vector within float rounding (the same order as the 2e-8 batch dependence
    /// measured in `embed`'s docs), far below what moves a search result or a prediction, and
    /// keying on it would re-embed every ticket at each runtime upgrade. The int8 graph is made
    /// by the runtime's quantiser, so a runtime that quantises differently writes another
    /// graph, hence another digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Token ids exactly as they are fed to the model (with [CLS]/[SEP], truncated, unpadded).
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// Embeds `texts`; row `i` of the result is the vector of `texts[i]`.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        self.embed_with_progress(texts, |_| {})
    }

    /// Like [`embed`](Self::embed), calling `progress(n)` after each batch with the number of
    /// texts it finished.
    pub fn embed_with_progress(
        &mut self,
        texts: &[&str],
        mut progress: impl FnMut(usize),
    ) -> Result<Array2<f32>, EmbedError> {
        let ids = self.token_ids(texts)?;
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let mut out = Array2::<f32>::zeros((texts.len(), EMBEDDING_DIM));
        for batch in batching::plan_batches(&lengths, self.batch_size) {
            let rows: Vec<&[u32]> = batch.indices.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.run_batch(&rows, batch.padded_len)?;
            for (k, &i) in batch.indices.iter().enumerate() {
                out.row_mut(i)
                    .as_slice_mut()
                    .ok_or_else(|| EmbedError::Output("non-contiguous output row".into()))?
                    .copy_from_slice(&vectors[k * EMBEDDING_DIM..(k + 1) * EMBEDDING_DIM]);
            }
            progress(batch.indices.len());
        }
        Ok(out)
    }

    /// Runs one padded batch and returns its `[rows, 384]` output, row-major.
    fn run_batch(&mut self, rows: &[&[u32]], padded_len: usize) -> Result<Vec<f32>, EmbedError> {
        let n = rows.len();
        batching::pad_into(rows, padded_len, self.pad_id, &mut self.ids, &mut self.mask);
        let shape = [n, padded_len];
        if self.zeros.len() < n * padded_len {
            self.zeros.resize(n * padded_len, 0);
        }
        // Views over the reused buffers: no copy per batch.
        let ids = TensorRef::from_array_view((shape, self.ids.as_slice()))?;
        let mask = TensorRef::from_array_view((shape, self.mask.as_slice()))?;
        let outputs = if self.wants_token_types {
            let types = TensorRef::from_array_view((shape, &self.zeros[..n * padded_len]))?;
            self.session.run(ort::inputs![
                "input_ids" => ids,
                "attention_mask" => mask,
                "token_type_ids" => types,
            ])?
        } else {
            self.session.run(ort::inputs![
                "input_ids" => ids,
                "attention_mask" => mask,
            ])?
        };
        let (out_shape, data) = outputs[OUTPUT_NAME].try_extract_tensor::<f32>()?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        if dims != [n as i64, EMBEDDING_DIM as i64] {
            return Err(EmbedError::Output(format!(
                "expected shape [{n}, {EMBEDDING_DIM}], got {dims:?}"
            )));
        }
        Ok(data.to_vec())
    }
}

/// ONNX Runtime graph rewrites the embedder turns off. `SkipLayerNormFusion` merges each
/// residual Add with the LayerNormalization after it; onnxruntime 1.32's CPU
/// SkipLayerNormalization kernel is about 4x slower than the two ops it replaces at hidden size
/// 384, which costs the int8 graph 15% of its throughput (docs/benchmarks.md).
pub const DISABLED_OPTIMIZERS: &str = "SkipLayerNormFusion";

fn build_session(
    env: &ort::environment::Environment,
    model_path: &Path,
    intra_threads: usize,
) -> Result<Session, EmbedError> {
    // Memory pattern, arena, spinning and dynamic block sizing stay at their defaults: none of
    // the alternatives was faster in a same-run comparison (docs/benchmarks.md).
    let mut builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(ort::Error::from)?
        .with_disabled_optimizers(DISABLED_OPTIMIZERS)
        .map_err(ort::Error::from)?;
    if intra_threads > 0 {
        builder = builder
            .with_intra_threads(intra_threads)
            .map_err(ort::Error::from)?;
    }
    Ok(builder.commit_from_file(model_path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_parses_prints_and_picks_its_file() {
        assert_eq!("fp32".parse::<Precision>(), Ok(Precision::Fp32));
        assert_eq!(" INT8 ".parse::<Precision>(), Ok(Precision::Int8));
        assert!("int4".parse::<Precision>().is_err());
        for p in [Precision::Fp32, Precision::Int8] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert_eq!(Precision::default(), Precision::Fp32);

        let mut cfg = EmbeddingModelConfig::new("/m", "/lib.so");
        assert_eq!(cfg.model_path(), Path::new("/m/model.fused.onnx"));
        cfg.precision = Precision::Int8;
        assert_eq!(cfg.model_path(), Path::new("/m/model.int8.onnx"));
        cfg.model_file = Some("model.onnx".into());
        assert_eq!(cfg.model_path(), Path::new("/m/model.onnx"));
    }
}
