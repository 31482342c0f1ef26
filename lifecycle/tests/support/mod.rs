//! What the lifecycle tests share: a file object store, a runtime, a run manifest, a labelled
//! clean ticket, and the small logistic-regression config they train with.

#![allow(dead_code)] // each test binary uses its own part of it

use ticketflow_analytics::classify::{FeatureSet, ModelKind, TrainConfig};
use ticketflow_connectors::store::{S3Options, Store, StoreConfig};
use ticketflow_schemas::{CleanTicket, RunManifest};

/// An object store in `dir` (`file://`).
pub fn file_store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        url: format!("file://{}", dir.display()),
        s3: S3Options::default(),
    })
    .expect("store")
}

/// A current-thread runtime for the async lifecycle calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Logistic regression only, 3 folds, on `features` (`"embeddings+lexical"`, …).
pub fn lr_config(features: &str) -> TrainConfig {
    TrainConfig {
        features: FeatureSet::parse(features).expect("feature set"),
        candidates: vec![ModelKind::LogisticRegression],
        folds: 3,
        ..TrainConfig::default()
    }
}

/// The manifest of a labelled one-shard run of 400 tickets in the `default` data set.
pub fn manifest(run_id: &str, input: &str) -> RunManifest {
    RunManifest {
        run_id: run_id.into(),
        input: input.into(),
        input_digest: "d".into(),
        created_at_ms: 0,
        shard_size: 400,
        shard_count: 1,
        tickets: 400,
        quarantined: 0,
        quarantine_key: None,
        labelled: true,
        embed_input: "normalized".into(),
        dataset: "default".into(),
    }
}

/// Ticket `t<i>` (row `i + 1`), English, queue IT, priority medium, labelled `label`.
pub fn labelled_ticket(i: usize, tokens: Vec<String>, label: &str) -> CleanTicket {
    CleanTicket {
        id: format!("t{i}"),
        row: i as u64 + 1,
        text: tokens.join(" "),
        tokens,
        language: Some("en".into()),
        language_source: "given".into(),
        ticket_type: Some(label.into()),
        queue: Some("IT".into()),
        priority: Some("medium".into()),
        has_subject: true,
        placeholder_count: 0,
    }
}
