//! ticketflow's analytics as plain library code: the classifier, drift, the export profile and
//! samples.
//!
//! Nothing in this crate knows about NATS, object stores or Chroma, nor about ONNX Runtime: it
//! takes tickets and their vectors as data ([`ticketflow_text`] reads and prepares them,
//! `ticketflow-embed` makes the vectors). The CLI, the stage workers and the tests all call the
//! same functions, so what a test checks is what production runs.
//!
//! - [`classify`]: the ticket-type classifier: features, models, model selection, evaluation.
//! - [`drift`]: data, embedding and prediction drift with Evidently's default tests.
//! - [`embedded`]: labelled tickets with the vectors `ticketflow embed` made of them, for the
//!   accuracy and routing benchmarks.
//! - [`profile`]: exploratory profile of a ticket export (counts, distributions, lengths,
//!   missing values, duplicates, over-long tickets) as JSON-ready numbers and one HTML page.
//! - [`sample`]: seeded uniform and stratified samples of runs too large to hold in memory.

pub mod classify;
pub mod drift;
pub mod embedded;
pub mod profile;
/// HTML building blocks shared by the drift report and the profile: one stylesheet, escaping,
/// number formatting and the inline SVG charts.
pub(crate) mod report;
pub mod sample;
