//! The coordinator: turns an input file into a run.
//!
//! [`submit`] validates the input, splits the accepted tickets into shard files in the object
//! store, records the run manifest and progress in JetStream KV, publishes one task per shard
//! and returns. It is built to run as a Kubernetes CronJob: it exits as soon as the work is
//! queued, and running it again is safe.
//!
//! **Idempotency.** The default run id is derived from the input's content (and the settings
//! that change the output), so the same input maps to the same run. Shard files have
//! deterministic keys, the manifest is created only if absent, and every task is published with
//! a fixed message id. A second coordinator on a run that is fully published does nothing; one
//! that finds a run whose publishing was interrupted finishes it, and JetStream drops the
//! duplicates. Two coordinators racing on the same input therefore make one run, not two.
//!
//! [`follow`] watches a run's progress until the trainer has finished with it; [`redrive`] sends
//! a run's dead shards through the pipeline again once their cause is fixed.

mod follow;
mod input;
mod redrive;
mod submit;

pub use follow::{FollowError, follow};
pub use input::{InputError, LocalInput, fetch_input};
pub use redrive::{RedriveError, RedriveOutcome, redrive};
pub use submit::{SHARD_PUTS_IN_FLIGHT, SubmitError, SubmitOptions, SubmitOutcome, submit};
