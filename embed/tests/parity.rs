//! Parity with sentence-transformers: the embedder must reproduce all-MiniLM-L6-v2's vectors.
//!
//! `tests/fixtures/parity/reference.json` holds sentences in en/de/es/fr/pt (short ones and ones
//! beyond the 256-token limit) with the token ids and vectors sentence-transformers produced
//! (made once by `scripts/make_parity_reference.py`; this test needs no torch).
//!
//! Needs the exported model and ONNX Runtime from `make setup`. Under `make test`
//! (`TICKETFLOW_REQUIRE_MODEL=1`) a missing model fails the test; a bare `cargo test` skips it.

mod support;

use std::path::PathBuf;

use serde::Deserialize;
use support::cosine;
use ticketflow_embed::{EMBEDDING_DIM, EmbeddingModel, EmbeddingModelConfig, Precision};

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    lang: String,
    input_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    support::reference()
}

/// The default (fp32) embedder at `batch_size`; `None` skips the test (see [`support::config`]).
fn config(batch_size: usize) -> Option<EmbeddingModelConfig> {
    support::config(Precision::Fp32, batch_size)
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    let Some(cfg) = config(8) else { return };
    let reference = reference();
    let embedder = EmbeddingModel::new(&cfg).expect("embedder loads");
    assert_eq!(embedder.max_seq_length(), reference.max_seq_length);
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    let ids = embedder.token_ids(&texts).expect("tokenize");
    for (item, got) in reference.items.iter().zip(&ids) {
        assert_eq!(got, &item.input_ids, "token ids differ for {:?}", item.text);
    }
    assert!(
        ids.iter().any(|i| i.len() == reference.max_seq_length),
        "the fixture exercises truncation"
    );
}

#[test]
fn embeddings_match_sentence_transformers() {
    let Some(cfg) = config(8) else { return };
    let reference = reference();
    let mut embedder = EmbeddingModel::new(&cfg).expect("embedder loads");
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    let vectors = embedder.embed(&texts).expect("embed");
    assert_eq!(vectors.dim(), (texts.len(), EMBEDDING_DIM));
    let mut worst = (f64::MAX, String::new());
    for (i, item) in reference.items.iter().enumerate() {
        let row = vectors.row(i);
        let got = row.as_slice().expect("contiguous");
        let cos = cosine(got, &item.embedding);
        let norm: f64 = got
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not L2-normalised: {norm}");
        if cos < worst.0 {
            worst = (cos, format!("[{}] {}", item.lang, item.text));
        }
        assert!(
            cos >= 0.9999,
            "cosine {cos:.6} < 0.9999 for [{}] {:?}",
            item.lang,
            item.text
        );
    }
    eprintln!("worst cosine {:.7} for {}", worst.0, worst.1);
}

#[test]
fn batching_and_order_do_not_change_vectors() {
    let Some(cfg_one) = config(1) else { return };
    let Some(cfg_many) = config(16) else { return };
    let reference = reference();
    // Reverse the input so the length sort really has to reorder and restore.
    let texts: Vec<&str> = reference
        .items
        .iter()
        .rev()
        .map(|i| i.text.as_str())
        .collect();
    let one = support::embed(&cfg_one, &texts);
    let many = support::embed(&cfg_many, &texts);
    for i in 0..texts.len() {
        let a = one.row(i);
        let b = many.row(i);
        let cos = cosine(a.as_slice().expect("row"), b.as_slice().expect("row"));
        assert!(
            cos > 0.99999,
            "row {i}: batch size changed the vector ({cos})"
        );
    }
    let n = texts.len();
    let expected_last = &reference.items[0].embedding;
    let last = many.row(n - 1);
    assert!(cosine(last.as_slice().expect("row"), expected_last) >= 0.9999);
}

#[test]
fn missing_model_and_bad_library_fail_with_a_clear_message() {
    let Some(cfg) = config(8) else { return };
    let err = EmbeddingModel::new(&EmbeddingModelConfig {
        model_dir: PathBuf::from("/nonexistent/model"),
        ..cfg.clone()
    })
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("make setup"), "{err}");
}
