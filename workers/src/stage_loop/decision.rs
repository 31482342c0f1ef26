//! What the stage loop does with a delivery: a pure function of the delivery, the attempt's
//! outcome and the settings, so every branch is tested without a server.
//!
//! | attempt | what happens |
//! | --- | --- |
//! | succeeded | ack |
//! | a dependency is down (transient), held less than `transient_hold`, not shutting down | keep the shard, retry here after a growing pause (in-progress acks keep it ours) |
//! | failed, this was delivery `max_attempts` or later | dead-letter it with the reason |
//! | failed otherwise | hand it back (NAK) with a delay: growing for an outage, 1 s for bad input |
//!
//! A delivery that arrives past `max_attempts` is dead-lettered before any attempt: earlier
//! deliveries crashed or timed out without a verdict.

use std::time::Duration;

use ticketflow_connectors::nats::ConsumerSettings;

/// Pause before retry `n` (1-based): 1, 2, 4, 8, 16, then 30 s.
pub fn backoff(n: u32) -> Duration {
    let exp = n.saturating_sub(1).min(5);
    Duration::from_secs(1 << exp).min(Duration::from_secs(30))
}

/// What to do with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Done: acknowledge it.
    Ack,
    /// A dependency is down: keep the shard and try again here after this pause.
    Hold(Duration),
    /// Hand it back for a later delivery after this delay.
    Nak(Duration),
    /// Give up: to the dead-letter stream, with this reason.
    DeadLetter(String),
}

/// What an attempt came to, as far as the decision is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Succeeded,
    Failed { transient: bool },
}

/// The delivery as the loop sees it when deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryState {
    /// JetStream's delivery count, 1 the first time.
    pub delivered: u32,
    /// How long this delivery has been held, through earlier in-place retries included.
    pub held: Duration,
    /// In-place retries so far on this delivery.
    pub waits: u32,
    pub shutting_down: bool,
}

/// Before any attempt: a delivery past the limit is dead-lettered at once.
pub fn on_arrival(delivered: u32, settings: &ConsumerSettings) -> Option<Decision> {
    (delivered > settings.max_attempts).then(|| {
        Decision::DeadLetter(format!(
            "no attempt finished within {} deliveries (worker crashes or ack timeouts)",
            settings.max_attempts
        ))
    })
}

/// After an attempt. `error` is the attempt's error message, for the dead letter's reason.
pub fn after_attempt(
    attempt: Attempt,
    error: &str,
    state: DeliveryState,
    settings: &ConsumerSettings,
) -> Decision {
    let Attempt::Failed { transient } = attempt else {
        return Decision::Ack;
    };
    if transient && state.held < settings.transient_hold && !state.shutting_down {
        return Decision::Hold(backoff(state.waits + 1));
    }
    if state.delivered >= settings.max_attempts {
        return Decision::DeadLetter(format!(
            "attempt {} of {}: {error}",
            state.delivered, settings.max_attempts
        ));
    }
    Decision::Nak(if transient {
        backoff(state.delivered)
    } else {
        Duration::from_secs(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConsumerSettings {
        ConsumerSettings {
            ack_wait: Duration::from_secs(30),
            max_attempts: 3,
            transient_hold: Duration::from_secs(300),
        }
    }

    fn state(delivered: u32, held_secs: u64, waits: u32) -> DeliveryState {
        DeliveryState {
            delivered,
            held: Duration::from_secs(held_secs),
            waits,
            shutting_down: false,
        }
    }

    const OUTAGE: Attempt = Attempt::Failed { transient: true };
    const BAD_INPUT: Attempt = Attempt::Failed { transient: false };

    #[test]
    fn backoff_grows_and_is_capped() {
        let pauses: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn success_is_acked_whatever_the_delivery() {
        for delivered in [1, 3, 9] {
            let d = after_attempt(
                Attempt::Succeeded,
                "",
                state(delivered, 400, 9),
                &settings(),
            );
            assert_eq!(d, Decision::Ack);
        }
    }

    #[test]
    fn an_outage_is_held_with_growing_pauses_until_the_hold_runs_out() {
        let s = settings();
        let pauses: Vec<Decision> = (0..4)
            .map(|waits| after_attempt(OUTAGE, "down", state(1, 10 * u64::from(waits), waits), &s))
            .collect();
        assert_eq!(
            pauses,
            [1, 2, 4, 8].map(|p| Decision::Hold(Duration::from_secs(p)))
        );
        // Past the hold, it is handed back as an attempt, with the backoff of its delivery.
        assert_eq!(
            after_attempt(OUTAGE, "down", state(2, 301, 12), &s),
            Decision::Nak(Duration::from_secs(2))
        );
        // On the last delivery, past the hold: dead-lettered with the error.
        assert_eq!(
            after_attempt(OUTAGE, "chroma down", state(3, 301, 12), &s),
            Decision::DeadLetter("attempt 3 of 3: chroma down".into())
        );
    }

    #[test]
    fn shutting_down_releases_a_held_shard_at_once() {
        let mut st = state(1, 5, 1);
        st.shutting_down = true;
        assert_eq!(
            after_attempt(OUTAGE, "down", st, &settings()),
            Decision::Nak(Duration::from_secs(1))
        );
    }

    #[test]
    fn bad_input_is_retried_after_a_second_then_dead_lettered() {
        let s = settings();
        assert_eq!(
            after_attempt(BAD_INPUT, "corrupt", state(1, 0, 0), &s),
            Decision::Nak(Duration::from_secs(1))
        );
        assert_eq!(
            after_attempt(BAD_INPUT, "corrupt", state(2, 0, 0), &s),
            Decision::Nak(Duration::from_secs(1))
        );
        assert_eq!(
            after_attempt(BAD_INPUT, "corrupt shard", state(3, 0, 0), &s),
            Decision::DeadLetter("attempt 3 of 3: corrupt shard".into())
        );
    }

    #[test]
    fn a_delivery_past_the_limit_is_dead_lettered_before_any_attempt() {
        let s = settings();
        assert_eq!(on_arrival(3, &s), None);
        assert!(matches!(
            on_arrival(4, &s),
            Some(Decision::DeadLetter(reason)) if reason.contains("within 3 deliveries")
        ));
    }
}
