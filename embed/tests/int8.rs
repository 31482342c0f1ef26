//! `--precision int8`: the dynamically quantised graph must stay close to fp32.
//!
//! `models/optimize_onnx.py` makes `model.int8.onnx` at setup (int8 weights per output channel,
//! uint8 activations quantised per inference call). Quantisation moves every vector a little, so
//! this is not a parity test: it bounds how far int8 may move from fp32 on the 43 sentences of
//! `tests/fixtures/parity/reference.json` (en/de/es/fr/pt, six beyond 256 tokens).
//!
//! The bounds come from the measured distribution (onnxruntime 1.32, AVX-512 VNNI), int8 vs fp32
//! cosine per sentence:
//!
//! | batch | min | median | max |
//! | --- | ---: | ---: | ---: |
//! | 32 | 0.9826 | 0.9906 | 0.9952 |
//! | 1 | 0.9845 | 0.9916 | 0.9960 |
//!
//! and on the first 1,000 dev tickets (`make bench-embed`): min 0.972, p1 0.983, median 0.994,
//! with classifier macro-F1 unchanged (docs/benchmarks.md). [`MIN_COSINE`] = 0.97 sits just below
//! every measured value (int8 vectors depend on their batch, because activations are quantised
//! with one scale per call, hence both batch sizes); a per-tensor weight quantisation,
//! the usual way to get this wrong, measures min 0.86 / median 0.94 here and fails, as does a graph that is not quantised at all
//! (see [`int8_is_a_different_graph`]). The median bound 0.985 catches a broad shift that a
//! min bound alone would let through.
//!
//! Needs the model and ONNX Runtime from `make setup`. Under `make test`
//! (`TICKETFLOW_REQUIRE_MODEL=1`) a missing model fails the test; a bare `cargo test` skips it.

mod support;

use serde::Deserialize;
use support::cosine;
use ticketflow_embed::{EMBEDDING_DIM, EmbeddingModel, EmbeddingModelConfig, Precision};

/// Lowest int8-vs-fp32 cosine allowed for any sentence.
const MIN_COSINE: f64 = 0.97;
/// Lowest median int8-vs-fp32 cosine allowed.
const MIN_MEDIAN: f64 = 0.985;

#[derive(Deserialize)]
struct Reference {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    lang: String,
}

fn texts() -> Vec<(String, String)> {
    let reference: Reference = support::reference();
    reference
        .items
        .into_iter()
        .map(|i| (i.lang, i.text))
        .collect()
}

fn config(precision: Precision, batch_size: usize) -> Option<EmbeddingModelConfig> {
    support::config(precision, batch_size)
}

/// Per-sentence cosine between the int8 and the fp32 vectors, both at `batch_size`.
fn int8_vs_fp32(batch_size: usize) -> Option<Vec<f64>> {
    let fp32 = config(Precision::Fp32, batch_size)?;
    let int8 = config(Precision::Int8, batch_size)?;
    let items = texts();
    let texts: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
    let a = support::embed(&fp32, &texts);
    let b = support::embed(&int8, &texts);
    assert_eq!(b.dim(), (texts.len(), EMBEDDING_DIM));
    Some(
        (0..texts.len())
            .map(|i| {
                let row = b.row(i);
                let v = row.as_slice().expect("contiguous");
                let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                assert!(
                    (norm - 1.0).abs() < 1e-4,
                    "int8 vector not L2-normalised: {norm}"
                );
                cosine(a.row(i).as_slice().expect("contiguous"), v)
            })
            .collect(),
    )
}

fn check(batch_size: usize) {
    let Some(cos) = int8_vs_fp32(batch_size) else {
        return;
    };
    let items = texts();
    let mut sorted = cos.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "batch {batch_size}: int8 vs fp32 cosine over {} sentences: min {:.4} median {median:.4} max {:.4}",
        cos.len(),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    for (c, (lang, text)) in cos.iter().zip(&items) {
        assert!(
            *c >= MIN_COSINE,
            "int8 vs fp32 cosine {c:.4} < {MIN_COSINE} at batch {batch_size} for [{lang}] {text:?}"
        );
    }
    assert!(
        median >= MIN_MEDIAN,
        "median int8 vs fp32 cosine {median:.4} < {MIN_MEDIAN} at batch {batch_size}"
    );
}

#[test]
fn int8_stays_close_to_fp32_in_padded_batches() {
    check(32);
}

#[test]
fn int8_stays_close_to_fp32_one_text_at_a_time() {
    check(1);
}

#[test]
fn int8_is_a_different_graph() {
    // Guards the file selection: if --precision int8 ran the fp32 graph, every cosine would be 1.
    let Some(cos) = int8_vs_fp32(32) else { return };
    let min = cos.iter().copied().fold(f64::MAX, f64::min);
    assert!(
        min < 0.9999,
        "int8 looks identical to fp32 (min cosine {min})"
    );
}

#[test]
fn missing_int8_model_names_the_file_and_make_setup() {
    // Needs neither ONNX Runtime nor the model: the files are checked before either is loaded.
    let dir = std::env::temp_dir().join(format!("ticketflow-int8-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("tokenizer.json"), "{}").expect("write");
    let err = EmbeddingModel::new(&EmbeddingModelConfig {
        precision: Precision::Int8,
        ..EmbeddingModelConfig::new(&dir, "/nonexistent/libonnxruntime.so")
    })
    .err()
    .expect("must fail");
    let _ = std::fs::remove_dir_all(&dir);
    let msg = err.to_string();
    assert!(
        msg.contains("model.int8.onnx") && msg.contains("make setup"),
        "{msg}"
    );
}
