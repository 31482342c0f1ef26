//! What a stage implements: [`StageWorker`], turning one input message into a [`Processed`]
//! result. Everything around that (pulling, retries, progress, completion) is the loop's.

use std::future::Future;

use bytes::Bytes;
use ticketflow_schemas::{ReuseCounts, Routed, Stage};

use super::StageError;

/// What a stage made of one message.
#[derive(Debug)]
pub struct Processed {
    /// Tickets in the shard, for progress and logs.
    pub tickets: u32,
    /// The message for the next stage, if there is one.
    pub downstream: Option<Downstream>,
    /// Work saved or done on the shard (vectors reused, records left alone), added to the run's
    /// progress once per shard.
    pub counts: ReuseCounts,
}

/// The next stage's message, encoded, with the subject and message id it names itself
/// (see [`ticketflow_schemas::topology`]).
#[derive(Debug)]
pub struct Downstream {
    pub subject: &'static str,
    pub payload: Bytes,
    pub msg_id: String,
}

impl Downstream {
    pub fn new<T: Routed>(msg: &T) -> Result<Self, StageError> {
        let payload =
            ticketflow_schemas::encode(msg).map_err(|e| StageError::permanent(e.to_string()))?;
        Ok(Self {
            subject: msg.subject(),
            payload: Bytes::from(payload),
            msg_id: msg.msg_id(),
        })
    }
}

/// One stage's work on one message. The input names its run and (per-shard messages) its
/// shard through [`Routed`], which is all the loop needs to keep the run's progress.
pub trait StageWorker: Send + Sync + 'static {
    const STAGE: Stage;
    type Input: Routed + Send + 'static;

    /// The precision of the vectors `input` carries, when it carries vectors; recorded in the
    /// run's progress so the model card can say what its features came from.
    fn embedding_precision(_input: &Self::Input) -> Option<&str> {
        None
    }

    fn process(
        &self,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Processed, StageError>> + Send;
}
