//! The two tasks that run beside the loop: in-progress acks for the shard in hand, and the
//! backlog gauges. Both are plain tokio tasks owned by a guard that aborts them when dropped,
//! so they cannot outlive what they report on.

use std::time::Duration;

use ticketflow_schemas::Stage;
use ticketflow_telemetry::internal_events::ConsumerBacklog;

use super::{InProgress, StageBus};

/// Sends an in-progress ack every third of the ack wait until dropped, so a shard that takes
/// long (or waits out an outage) is not redelivered to another replica meanwhile.
pub(super) fn keep_alive<P: InProgress>(progress: Option<P>, ack_wait: Duration) -> KeepAlive {
    let period = (ack_wait / 3).max(Duration::from_millis(200));
    let handle = tokio::spawn(async move {
        let Some(progress) = progress else { return };
        let mut tick = tokio::time::interval(period);
        tick.tick().await; // the first tick fires at once
        loop {
            tick.tick().await;
            if progress.send().await.is_err() {
                return;
            }
        }
    });
    KeepAlive(handle)
}

pub(super) struct KeepAlive(tokio::task::JoinHandle<()>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls the stage consumer's backlog into the `ticketflow_consumer_*` gauges every few
/// seconds, for dashboards and the backlog alerts (and what KEDA scales the embedder on).
pub(super) struct BacklogPoller(tokio::task::JoinHandle<()>);

impl BacklogPoller {
    const PERIOD: Duration = Duration::from_secs(5);

    pub(super) fn start<B: StageBus>(bus: B, stage: Stage) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Self::PERIOD);
            loop {
                tick.tick().await;
                match bus.consumer_backlog(stage).await {
                    Ok((pending, ack_pending)) => ConsumerBacklog {
                        stage: stage.as_str(),
                        pending,
                        ack_pending,
                    }
                    .emit(),
                    Err(e) => tracing::debug!(%stage, error = %e, "backlog poll failed"),
                }
            }
        }))
    }
}

impl Drop for BacklogPoller {
    fn drop(&mut self) {
        self.0.abort();
    }
}
