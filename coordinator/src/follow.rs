//! Following a run until the trainer is done with it.

use std::time::Duration;

use ticketflow_connectors::nats::{Bus, BusError};
use ticketflow_schemas::RunProgress;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("run {0} not found")]
    NotFound(String),
    #[error(
        "run {run_id} made no progress for {seconds} s; check that every stage has a worker (`ticketflow runs show {run_id}`)"
    )]
    Stalled { run_id: String, seconds: u64 },
}

/// Polls `run_id`'s progress, calling `on_update` on every change, until the trainer has
/// recorded the run's result. Fails when nothing changes for `stall_timeout`.
pub async fn follow(
    bus: &Bus,
    run_id: &str,
    stall_timeout: Duration,
    mut on_update: impl FnMut(&RunProgress),
) -> Result<RunProgress, FollowError> {
    let mut last: Option<RunProgress> = None;
    let mut last_change = tokio::time::Instant::now();
    loop {
        let progress = bus
            .progress(run_id)
            .await?
            .ok_or_else(|| FollowError::NotFound(run_id.to_string()))?;
        if last.as_ref() != Some(&progress) {
            on_update(&progress);
            last_change = tokio::time::Instant::now();
            last = Some(progress.clone());
        }
        if progress.trained_at_ms.is_some() {
            return Ok(progress);
        }
        if last_change.elapsed() > stall_timeout {
            return Err(FollowError::Stalled {
                run_id: run_id.to_string(),
                seconds: stall_timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
