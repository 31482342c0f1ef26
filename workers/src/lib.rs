//! Stage workers (`cleaner`, `embedder`, `indexer`, `trainer`), one file per stage, each pulling
//! shards from its JetStream consumer and calling the plain library code in `ticketflow-ml`.
//!
//! The stages arrive with the pipeline issue; until then the CLI calls the library directly.
