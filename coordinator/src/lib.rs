//! The coordinator: validates an input data set, splits it into shards, writes them to the object
//! store, records the run manifest and publishes one task per shard (see `DESIGN.md`, "Shape").
//!
//! Today it holds only what the single-process commands share; the distributed run arrives with
//! the pipeline issue.
