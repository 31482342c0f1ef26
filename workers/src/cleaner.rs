//! Cleaner: raw tickets in, prepared tickets out.
//!
//! Reads the shard's JSON lines of [`Ticket`]s, runs text preparation on each (the same
//! [`ticketflow_text::text::prepare`] the CLI uses) and stores a [`CleanShardFile`].

use bytes::Bytes;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{CleanShardFile, CleanTicket, CleanedShard, ShardTask, Stage, Ticket};
use ticketflow_text::dataset::parse_raw_shard;
use ticketflow_text::text::{self, EmbedInput};

use crate::stage_loop::{Downstream, Processed, StageError, StageWorker};

pub struct Cleaner {
    pub store: Store,
}

/// Prepares one ticket for the embedder and the index.
pub fn clean_ticket(t: &Ticket, embed_input: EmbedInput) -> CleanTicket {
    let prepared = text::prepare(&t.subject, &t.body, t.language.as_deref());
    CleanTicket {
        id: t.id.clone(),
        row: t.row,
        text: prepared.embed_text(embed_input).into_owned(),
        placeholder_count: prepared.placeholder_count() as u32,
        language: prepared.language.clone(),
        language_source: prepared.language_source.as_str().to_string(),
        tokens: prepared.tokens,
        ticket_type: t.ticket_type.clone(),
        queue: t.queue.clone(),
        priority: t.priority.clone(),
        has_subject: !t.subject.trim().is_empty(),
    }
}

impl StageWorker for Cleaner {
    const STAGE: Stage = Stage::Cleaner;
    type Input = ShardTask;

    async fn process(&self, task: &ShardTask) -> Result<Processed, StageError> {
        let embed_input: EmbedInput = task
            .embed_input
            .parse()
            .map_err(|e| StageError::permanent(format!("{e}")))?;
        let raw = self.store.get(&task.raw_key).await?;
        let tickets = parse_raw_shard(&raw).map_err(StageError::permanent)?;
        let cleaned: Vec<CleanTicket> = tickets
            .iter()
            .map(|t| clean_ticket(t, embed_input))
            .collect();
        let n = cleaned.len() as u32;
        let file = CleanShardFile {
            run_id: task.run_id.clone(),
            shard: task.shard,
            tickets: cleaned,
        };
        let bytes =
            ticketflow_schemas::encode(&file).map_err(|e| StageError::permanent(e.to_string()))?;
        let clean_key = keys::clean_shard(&task.run_id, task.shard);
        self.store.put(&clean_key, Bytes::from(bytes)).await?;
        let next = CleanedShard {
            run_id: task.run_id.clone(),
            shard: task.shard,
            shard_count: task.shard_count,
            clean_key,
            tickets: n,
        };
        Ok(Processed {
            tickets: n,
            downstream: Some(Downstream::new(&next)?),
            counts: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_shard_parses_and_corruption_is_reported_with_its_line() {
        let good = r#"{"id":"a","row":1,"subject":"VPN","body":"down","language":"en"}
{"id":"b","row":2,"subject":"","body":"Zugang bitte","language":"de"}
"#;
        let tickets = parse_raw_shard(good.as_bytes()).expect("parses");
        assert_eq!(tickets.len(), 2);
        let cleaned = clean_ticket(&tickets[1], EmbedInput::Normalized);
        assert!(!cleaned.has_subject);
        assert_eq!(cleaned.text, "Zugang bitte");
        let bad = format!("{good}{{not json\n");
        let err = parse_raw_shard(bad.as_bytes()).expect_err("corrupt");
        assert!(err.contains("line 3"), "{err}");
    }
}
