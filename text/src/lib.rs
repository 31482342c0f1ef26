//! ticketflow's tickets as data, before any model sees them.
//!
//! Plain library code with no transport and no model: the coordinator (which only loads and
//! shards), the cleaner stage, the CLI and the analytics crate all call the same functions.
//!
//! - [`dataset`]: reads CSV/JSONL ticket exports, quarantines bad rows, assigns stable ids.
//! - [`text`]: turns a ticket into cleaned tokens and the text the embedder sees.
//! - [`csv_safe`]: CSV cells neutralised against spreadsheet formulas, and restored on reading.
//! - [`synth`]: reproducible synthetic tickets for demos and load tests (we ship no real data).

pub mod csv_safe;
pub mod dataset;
pub mod synth;
pub mod text;
