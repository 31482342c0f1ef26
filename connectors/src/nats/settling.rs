//! Waiting out a cluster that has not settled yet.
//!
//! On a JetStream cluster, creating a stream is decided by the meta leader and learnt by the
//! other servers a moment later; a cluster that has just formed (or lost its meta leader) takes a
//! moment to see every peer. Two answers in that moment mean "not yet", not "never":
//!
//! - "no stream found for given subject": a publish reached a server that has not learnt of
//!   the stream just created;
//! - "no suitable peers for placement": the meta leader does not count enough current peers
//!   for the replicas asked for.
//!
//! Both were seen in `make test` on a 3-node cluster. [`until_settled`] retries them with a
//! short backoff for at most [`SETTLE`]; any other answer, and the last one after the deadline,
//! goes back to the caller. Retrying a publish is safe: its `Nats-Msg-Id` de-duplicates it.

use std::future::Future;
use std::time::Duration;

/// How long a "not yet" answer is retried. A healthy cluster settles well within it; a cluster
/// too small for the replicas asked for answers "no suitable peers" for good, and the error
/// then reaches the operator with its hint.
pub(crate) const SETTLE: Duration = Duration::from_secs(15);

const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Whether a JetStream error text is one of the two "not settled yet" answers.
pub(crate) fn not_settled(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("no stream found for given subject")
        || lower.contains("no suitable peers for placement")
}

/// Runs `op` until it succeeds, fails with anything but a "not settled" answer, or [`SETTLE`]
/// has passed. `op`'s error is the server's text, which decides.
pub(crate) async fn until_settled<T, F, Fut>(what: &str, mut op: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut pause = FIRST_PAUSE;
    loop {
        match op().await {
            Err(detail)
                if not_settled(&detail) && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::debug!(%what, %detail, "JetStream cluster not settled yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const RACE: &str =
        "nats: API error: code=503 err_code=10060 description=no stream found for given subject";

    #[test]
    fn only_the_two_unsettled_answers_are_retried() {
        assert!(not_settled(RACE));
        assert!(not_settled(
            "insufficient resources: No Suitable Peers For Placement"
        ));
        assert!(!not_settled("authorization violation"));
        assert!(!not_settled(
            "replicas > 1 not supported in non-clustered mode"
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_is_waited_out() {
        let calls = Cell::new(0);
        let result = until_settled("publish", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 4 { Err(RACE.to_string()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result, Ok(4));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_return_at_once() {
        let calls = Cell::new(0);
        let result: Result<(), String> = until_settled("publish", || {
            calls.set(calls.get() + 1);
            async { Err("authorization violation".to_string()) }
        })
        .await;
        assert_eq!(result, Err("authorization violation".to_string()));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_that_never_ends_is_reported_after_the_deadline() {
        let start = tokio::time::Instant::now();
        let calls = Cell::new(0);
        let result: Result<(), String> = until_settled("publish", || {
            calls.set(calls.get() + 1);
            async { Err(RACE.to_string()) }
        })
        .await;
        assert_eq!(result, Err(RACE.to_string()));
        let waited = start.elapsed();
        assert!(
            waited <= SETTLE && waited >= SETTLE - MAX_PAUSE,
            "{waited:?}"
        );
        assert!(calls.get() > 5);
    }
}
