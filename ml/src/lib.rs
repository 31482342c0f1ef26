//! ticketflow's ML logic as plain library code.
//!
//! Nothing in this crate knows about NATS, object stores or Chroma: the CLI, the stage workers and
//! the tests all call the same functions, so what a test checks is what production runs.
//!
//! - [`dataset`]: reads CSV/JSONL ticket exports, quarantines bad rows, assigns stable ids.
//! - [`text`]: turns a ticket into cleaned tokens and the text the embedder sees.
//! - [`embed`]: all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime.
//! - [`classify`]: the ticket-type classifier: features, models, model selection, evaluation.
//! - [`drift`]: data, embedding and prediction drift with Evidently's default tests.
//! - [`profile`]: exploratory profile of a ticket export (counts, distributions, lengths,
//!   missing values, duplicates, over-long tickets) as JSON-ready numbers and one HTML page.
//! - [`sample`]: seeded uniform and stratified samples of runs too large to hold in memory.
//! - [`synth`]: reproducible synthetic tickets for demos and load tests (we ship no real data).

pub mod classify;
pub mod csv_safe;
pub mod dataset;
pub mod drift;
pub mod embed;
pub mod profile;
/// HTML building blocks shared by the drift report and the profile: one stylesheet, escaping,
/// number formatting and the inline SVG charts.
pub(crate) mod report;
pub mod sample;
pub mod synth;
pub mod text;
