//! Helpers shared by the workers' integration tests.

#![allow(dead_code)] // each test file uses a different subset

/// The exported model's configuration, or `None` (the test skips, or fails under
/// `TICKETFLOW_REQUIRE_MODEL=1`) before `make setup`.
pub fn model_config() -> Option<ticketflow_embed::EmbeddingModelConfig> {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model_dir = std::env::var_os("TICKETFLOW_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("var/models/all-minilm-l6-v2"));
    let ort = std::env::var_os("ORT_DYLIB_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("var/lib/libonnxruntime.so"));
    let cfg = ticketflow_embed::EmbeddingModelConfig::new(model_dir, ort);
    let ready = cfg.model_path().is_file() && cfg.ort_library.is_file();
    ticketflow_testkit::Requirement::Model.or_skip(
        ready.then_some(cfg),
        "model or ONNX Runtime missing: run `make setup`",
    )
}

/// A prepared English ticket with this id and text, no label or metadata.
pub fn clean_ticket(id: &str, text: &str) -> ticketflow_schemas::CleanTicket {
    ticketflow_schemas::CleanTicket {
        id: id.into(),
        row: 1,
        text: text.into(),
        tokens: vec![],
        language: Some("en".into()),
        language_source: "given".into(),
        ticket_type: None,
        queue: None,
        priority: None,
        has_subject: true,
        placeholder_count: 0,
    }
}
