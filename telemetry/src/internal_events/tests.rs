//! Every event lands on its metric and label values.

use super::*;

#[test]
fn in_flight_guard_returns_the_gauge_to_zero_and_counts_redeliveries() {
    let stage = "test-in-flight";
    let gauge = METRICS.in_flight.with_label_values(&[stage]);
    let redeliveries = METRICS.redeliveries.with_label_values(&[stage]);
    let guard = ShardReceived {
        stage,
        delivered: 2,
    }
    .emit();
    assert_eq!(gauge.get(), 1);
    assert_eq!(redeliveries.get(), 1);
    drop(guard);
    assert_eq!(gauge.get(), 0);
    let _g = ShardReceived {
        stage,
        delivered: 1,
    }
    .emit();
    assert_eq!(
        redeliveries.get(),
        1,
        "a first delivery is not a redelivery"
    );
}

/// The value of one series in the exposition, `None` if it does not exist.
fn exposed(series: &str) -> Option<f64> {
    crate::metrics::render().lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[test]
fn request_failures_land_on_their_error_type_and_both_series_exist_from_the_start() {
    let (operation, duration) = ("test-request", Duration::from_millis(3));
    ObjectStoreRequest {
        operation,
        duration,
        failed: None,
    }
    .emit();
    ChromaRequest {
        operation,
        duration,
        failed: None,
    }
    .emit();
    for family in [
        "ticketflow_object_store_errors_total",
        "ticketflow_chroma_errors_total",
    ] {
        for error_type in ["transient", "permanent"] {
            let series =
                format!("{family}{{error_type=\"{error_type}\",operation=\"{operation}\"}}");
            assert_eq!(exposed(&series), Some(0.0), "{series} after a success");
        }
    }
    for failed in [
        ErrorType::Transient,
        ErrorType::Permanent,
        ErrorType::Permanent,
    ] {
        ObjectStoreRequest {
            operation,
            duration,
            failed: Some(failed),
        }
        .emit();
        ChromaRequest {
            operation,
            duration,
            failed: Some(failed),
        }
        .emit();
    }
    for errors in [&METRICS.store_errors, &METRICS.chroma_errors] {
        assert_eq!(errors.with_label_values(&[operation, "transient"]).get(), 1);
        assert_eq!(errors.with_label_values(&[operation, "permanent"]).get(), 2);
    }
}

#[test]
fn every_failed_attempt_counts_as_a_shard_failure_of_its_error_type() {
    let stage = "test-failures";
    WorkerStarted { stage }.emit();
    for error_type in ["transient", "permanent"] {
        let series = format!(
            "ticketflow_shard_failures_total{{error_type=\"{error_type}\",stage=\"{stage}\"}}"
        );
        assert_eq!(
            exposed(&series),
            Some(0.0),
            "{series} when the worker starts"
        );
    }
    let error = "chroma unavailable";
    for transient in [true, false] {
        ShardRetried {
            stage,
            delivered: 1,
            retry_in: Duration::from_secs(1),
            duration: Duration::from_millis(5),
            transient,
            error: &error,
        }
        .emit();
    }
    // The last attempt failed permanently and gave up; then one dead on arrival, which
    // had no attempt of its own (earlier deliveries crashed or timed out).
    for last_error in [Some(ErrorType::Permanent), None] {
        ShardDeadLettered {
            stage,
            run_id: None,
            shard: None,
            reason: "corrupt",
            last_error,
        }
        .emit();
    }
    let failures = |error_type| {
        METRICS
            .shard_failures
            .with_label_values(&[stage, error_type])
            .get()
    };
    assert_eq!((failures("transient"), failures("permanent")), (1, 2));
    assert_eq!(METRICS.dead_lettered.with_label_values(&[stage]).get(), 2);
}

#[test]
fn dead_letter_counts_in_both_families() {
    let stage = "test-dead";
    ShardDeadLettered {
        stage,
        run_id: Some("r1"),
        shard: Some(3),
        reason: "corrupt",
        last_error: None,
    }
    .emit();
    assert_eq!(METRICS.dead_lettered.with_label_values(&[stage]).get(), 1);
    assert_eq!(
        METRICS
            .shards_processed
            .with_label_values(&[stage, "dead_lettered"])
            .get(),
        1
    );
}

#[test]
fn a_data_sets_suspension_counter_exists_at_zero_once_its_routing_is_checked() {
    let (dataset, run_id) = ("test-routing", "run-000000000000");
    let series = format!("ticketflow_routing_suspensions_total{{dataset=\"{dataset}\"}}");
    assert_eq!(exposed(&series), None, "{series} before any check");
    RoutingChecked { dataset, run_id }.emit();
    assert_eq!(exposed(&series), Some(0.0), "{series} after a check");
    RoutingSuspended {
        dataset,
        run_id,
        reason: "test",
    }
    .emit();
    RoutingChecked { dataset, run_id }.emit();
    assert_eq!(exposed(&series), Some(1.0), "{series} after a suspension");
}
