//! The exploratory profile of a run's input (`ticketflow profile`, computed from what the
//! coordinator stored: the raw shards and the quarantine), written beside the drift report as
//! `runs/<run>/profile/profile.{html,json}`.

use std::path::PathBuf;

use bytes::Bytes;
use ticketflow_analytics::profile::{self, Profile};
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{RunManifest, RunProgress, Ticket};
use ticketflow_text::dataset::Quarantined;

use crate::run::read::UniformSample;
use ticketflow_connectors::stage_error::StageError;
use ticketflow_text::dataset::parse_raw_shard;

/// Profiles the run's accepted tickets (every shard that was not dead-lettered; a seeded
/// sample of `max_rows` of them when there are more, which the log says) and its quarantined
/// rows, and stores the HTML and JSON. Token counts need the model's tokenizer in `model_dir`;
/// without it the token section is left empty and a warning says why.
pub async fn write_run_profile(
    store: &Store,
    manifest: &RunManifest,
    progress: &RunProgress,
    model_dir: Option<PathBuf>,
    max_rows: usize,
) -> Result<Profile, StageError> {
    let run_id = &manifest.run_id;
    let mut sample: UniformSample<Ticket> = UniformSample::new(max_rows);
    for shard in 0..manifest.shard_count {
        if progress.dead.contains_key(&shard) {
            continue;
        }
        let bytes = store.get(&keys::raw_shard(run_id, shard)).await?;
        for ticket in parse_raw_shard(&bytes).map_err(StageError::permanent)? {
            let id = ticket.id.clone();
            sample.offer_with(&id, || ticket);
        }
    }
    if sample.seen() > max_rows as u64 {
        tracing::info!(
            run_id,
            rows = max_rows,
            of = sample.seen(),
            "profile of a seeded sample of the run"
        );
    }
    let tickets = sample.into_vec();
    let quarantined = read_quarantine(store, run_id).await?;
    let made = tokio::task::spawn_blocking(move || {
        let texts: Vec<String> = tickets.iter().map(profile::embed_text).collect();
        let counts = match model_dir.map(|dir| profile::count_tokens(&dir, &texts)) {
            Some(Ok(counts)) => counts,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "profile without token counts");
                Vec::new()
            }
            None => Vec::new(),
        };
        let p = profile::profile(&tickets, &quarantined, &counts);
        let html = profile::render_profile_html(&p);
        (p, html)
    })
    .await
    .map_err(|e| StageError::transient_from("profile task", e))?;
    let (p, html) = made;
    let json = serde_json::to_vec_pretty(&p).map_err(|e| StageError::permanent(e.to_string()))?;
    store
        .put(&keys::profile(run_id, "json"), Bytes::from(json))
        .await?;
    store
        .put(
            &keys::profile(run_id, "html"),
            Bytes::from(html.into_bytes()),
        )
        .await?;
    Ok(p)
}

/// The run's quarantined rows; none when the coordinator wrote no quarantine file.
async fn read_quarantine(store: &Store, run_id: &str) -> Result<Vec<Quarantined>, StageError> {
    let bytes = match store.get(&keys::quarantine(run_id)).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(q) => Some(q),
            Err(e) => {
                tracing::warn!(run_id, error = %e, "unreadable quarantine line skipped");
                None
            }
        })
        .collect())
}
