//! The pipeline's topology, in one place: which subject and stream each stage reads, what it
//! writes, and the message id that lets JetStream drop a republished duplicate.
//!
//! ```text
//!  coordinator ──ShardTask──▶ tf.shards.raw      (TF_RAW)      ──▶ cleaner
//!  cleaner ────CleanedShard─▶ tf.shards.clean    (TF_CLEAN)    ──▶ embedder
//!  embedder ──EmbeddedShard─▶ tf.shards.embedded (TF_EMBEDDED) ──▶ indexer
//!  last shard ─RunCompleted─▶ tf.runs.completed  (TF_RUNS)     ──▶ trainer
//!  any stage ───DeadLetter──▶ tf.dlq.<stage>     (TF_DLQ)      ──▶ operators (`runs redrive`)
//! ```
//!
//! Message ids are deterministic: a stage that crashes after publishing but before acking
//! republishes the same id, and JetStream keeps one copy (within its de-duplication window). Work
//! that must *not* be taken for a repeat (a redriven shard, the completion of a redriven run)
//! carries the redrive generation in its id.
//!
//! Pure data: the transport (`ticketflow_connectors::nats`) creates streams and consumers from
//! these routes, and the stages publish with [`Routed::subject`] and [`Routed::msg_id`].

use crate::envelope::Message;
use crate::messages::{CleanedShard, DeadLetter, EmbeddedShard, RunCompleted, ShardTask};
use crate::run::Stage;

/// A subject and the work-queue stream that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub stream: &'static str,
    pub subject: &'static str,
}

pub const RAW: Route = Route {
    stream: "TF_RAW",
    subject: "tf.shards.raw",
};
pub const CLEAN: Route = Route {
    stream: "TF_CLEAN",
    subject: "tf.shards.clean",
};
pub const EMBEDDED: Route = Route {
    stream: "TF_EMBEDDED",
    subject: "tf.shards.embedded",
};
pub const RUNS_COMPLETED: Route = Route {
    stream: "TF_RUNS",
    subject: "tf.runs.completed",
};

/// The dead-letter stream: every stage's give-ups, kept (limits retention) for operators.
pub const DEAD_LETTER_STREAM: &str = "TF_DLQ";
/// `tf.dlq.<stage>`; the stream holds `tf.dlq.>`.
pub const DEAD_LETTER_PREFIX: &str = "tf.dlq";

impl Stage {
    /// Where the stage reads its work; its durable consumer is named after the stage.
    pub const fn input(self) -> Route {
        match self {
            Stage::Cleaner => RAW,
            Stage::Embedder => CLEAN,
            Stage::Indexer => EMBEDDED,
            Stage::Trainer => RUNS_COMPLETED,
        }
    }

    /// Where the stage sends each processed message, if anywhere. The indexer sends nothing
    /// per shard: the stage loop publishes [`RunCompleted`] once every shard is final.
    pub const fn output(self) -> Option<Route> {
        match self {
            Stage::Cleaner => Some(CLEAN),
            Stage::Embedder => Some(EMBEDDED),
            Stage::Indexer | Stage::Trainer => None,
        }
    }

    /// `tf.dlq.<stage>`, where the stage's give-ups go.
    pub const fn dead_letter_subject(self) -> &'static str {
        match self {
            Stage::Cleaner => "tf.dlq.cleaner",
            Stage::Embedder => "tf.dlq.embedder",
            Stage::Indexer => "tf.dlq.indexer",
            Stage::Trainer => "tf.dlq.trainer",
        }
    }
}

/// A message that travels the pipeline: it knows its run, its subject and its de-duplication id.
pub trait Routed: Message {
    fn run_id(&self) -> &str;
    /// The shard, for per-shard messages; `None` for per-run ones ([`RunCompleted`]).
    fn shard(&self) -> Option<u32>;
    fn subject(&self) -> &'static str;
    /// The `Nats-Msg-Id`: the same for a republish of the same work, different for new work.
    fn msg_id(&self) -> String;
}

/// `Routed` for a per-shard message: `$route`'s subject, id `<run>.<$step>.<shard>`.
macro_rules! shard_message {
    ($message:ty, $route:expr, $step:literal) => {
        impl Routed for $message {
            fn run_id(&self) -> &str {
                &self.run_id
            }
            fn shard(&self) -> Option<u32> {
                Some(self.shard)
            }
            fn subject(&self) -> &'static str {
                $route.subject
            }
            fn msg_id(&self) -> String {
                format!("{}.{}.{}", self.run_id, $step, self.shard)
            }
        }
    };
}

shard_message!(ShardTask, RAW, "raw");
shard_message!(CleanedShard, CLEAN, "clean");
shard_message!(EmbeddedShard, EMBEDDED, "embedded");

impl Routed for RunCompleted {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn shard(&self) -> Option<u32> {
        None
    }
    fn subject(&self) -> &'static str {
        RUNS_COMPLETED.subject
    }
    fn msg_id(&self) -> String {
        completion_msg_id(&self.run_id, self.redrives)
    }
}

impl DeadLetter {
    /// `tf.dlq.<stage>`.
    pub fn subject(&self) -> &'static str {
        self.stage.dead_letter_subject()
    }

    /// One dead letter per run, stage, shard and redrive generation; a message that could not
    /// even be decoded is named by its stream sequence instead.
    pub fn msg_id(&self) -> String {
        match (&self.run_id, self.shard) {
            (Some(run), Some(shard)) if self.redrive == 0 => {
                format!("{run}.{}.{shard}.dead", self.stage)
            }
            (Some(run), Some(shard)) => {
                format!("{run}.{}.{shard}.dead.redrive{}", self.stage, self.redrive)
            }
            _ => format!("{}.seq{}.dead", self.stage, self.stream_sequence),
        }
    }
}

/// The id of `run_id`'s `runs.completed` in redrive generation `redrives` (0 = first attempt).
pub fn completion_msg_id(run_id: &str, redrives: u32) -> String {
    if redrives == 0 {
        format!("{run_id}.completed")
    } else {
        format!("{run_id}.completed.redrive{redrives}")
    }
}

/// The id of a dead shard's original message published back by `runs redrive`, generation
/// `generation` (so a second redrive is not dropped as a repeat of the first).
pub fn redrive_msg_id(run_id: &str, stage: Stage, shard: u32, generation: u32) -> String {
    format!("{run_id}.{stage}.{shard}.redrive{generation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_reads_what_the_one_before_writes() {
        assert_eq!(Stage::Cleaner.output(), Some(Stage::Embedder.input()));
        assert_eq!(Stage::Embedder.output(), Some(Stage::Indexer.input()));
        let streams: std::collections::BTreeSet<_> =
            Stage::ALL.iter().map(|s| s.input().stream).collect();
        assert_eq!(streams.len(), Stage::ALL.len(), "one stream per stage");
        for stage in Stage::ALL {
            assert!(
                stage
                    .dead_letter_subject()
                    .starts_with(&format!("{DEAD_LETTER_PREFIX}."))
            );
            assert!(stage.dead_letter_subject().ends_with(stage.as_str()));
        }
    }

    #[test]
    fn message_ids_tell_repeats_from_new_work() {
        let task = ShardTask {
            run_id: "r1".into(),
            shard: 3,
            shard_count: 4,
            raw_key: "k".into(),
            tickets: 1,
            embed_input: "normalized".into(),
        };
        assert_eq!(task.msg_id(), "r1.raw.3");
        assert_eq!(task.subject(), Stage::Cleaner.input().subject);
        let clean = CleanedShard {
            run_id: "r1".into(),
            shard: 3,
            shard_count: 4,
            clean_key: "c".into(),
            tickets: 1,
        };
        assert_eq!(clean.msg_id(), "r1.clean.3");
        assert_eq!(clean.subject(), Stage::Embedder.input().subject);
        let embedded = EmbeddedShard {
            run_id: "r1".into(),
            shard: 3,
            shard_count: 4,
            clean_key: "c".into(),
            embeddings_key: "e".into(),
            tickets: 1,
            dim: 384,
            precision: "fp32".into(),
            model_digest: "d".into(),
            vectors_reused: 0,
        };
        assert_eq!(embedded.msg_id(), "r1.embedded.3");
        assert_eq!(embedded.subject(), Stage::Indexer.input().subject);
        assert_eq!(embedded.shard(), Some(3));
        let mut done = RunCompleted {
            run_id: "r1".into(),
            shard_count: 4,
            tickets_indexed: 9,
            dead_shards: vec![],
            redrives: 0,
        };
        let first = done.msg_id();
        done.redrives = 1;
        assert_ne!(first, done.msg_id(), "a redriven run completes again");
        let mut letter = DeadLetter {
            run_id: Some("r1".into()),
            shard: Some(3),
            stage: Stage::Cleaner,
            subject: RAW.subject.into(),
            deliveries: 5,
            stream_sequence: 9,
            redrive: 0,
            reason: "corrupt".into(),
            payload: vec![],
        };
        let first_letter = letter.msg_id();
        letter.redrive = 1;
        assert_ne!(first_letter, letter.msg_id(), "dead again after a redrive");
        assert_eq!(letter.subject(), "tf.dlq.cleaner");
        assert_ne!(
            redrive_msg_id("r1", Stage::Embedder, 3, 1),
            redrive_msg_id("r1", Stage::Embedder, 3, 2)
        );
    }
}
