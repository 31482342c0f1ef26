//! Stopping a worker: SIGTERM (or Ctrl-C) tells the loop to stop pulling; the shard in hand is
//! finished, or released if it is waiting out an outage.

use tokio::sync::watch;

/// Tells the loop to stop pulling. Cloned into signal handlers.
#[derive(Clone)]
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn new() -> Self {
        Self(watch::channel(false).0)
    }

    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Triggers on SIGTERM or Ctrl-C.
    pub fn on_signals(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: finishing the shard in hand, then exiting");
            me.trigger();
        });
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
