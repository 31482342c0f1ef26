//! A finished run's numbers as Pushgateway metrics: how the run went, how good its model is,
//! and how far it drifted from the reference. The trainer pushes them once per run, under the
//! job `ticketflow_trainer`; Prometheus keeps the history, `run_id` labels tell runs apart.
//!
//! The names are the contract with `monitoring/` (dashboards, alert rules) and its test.

use ticketflow_telemetry::BatchMetrics;

use crate::run::result::RunSummary;

/// The Pushgateway job the trainer pushes under.
pub const TRAINER_JOB: &str = "ticketflow_trainer";

/// Builds the run's metrics from its summary (the same numbers as `result.json`).
pub fn run_metrics(summary: &RunSummary, finished_at_secs: f64) -> BatchMetrics {
    let mut m = BatchMetrics::new();
    let run = [("run_id", summary.run_id.as_str())];
    m.gauge(
        "ticketflow_run_duration_seconds",
        "From the run's submission until every shard was final.",
        &run,
        summary.wall_seconds,
    );
    m.gauge(
        "ticketflow_run_tickets",
        "Tickets indexed in the run.",
        &run,
        summary.tickets_indexed as f64,
    );
    let reuse = &summary.reuse;
    let split_by = [
        (
            "ticketflow_run_vectors",
            "The run's vectors by source: reused (found by content) or embedded by the model.",
            "source",
            [
                ("reused", reuse.vectors_reused),
                ("embedded", reuse.vectors_embedded),
            ],
        ),
        (
            "ticketflow_run_chroma_records",
            "The run's Chroma records by outcome: written, or unchanged and not written.",
            "outcome",
            [
                ("written", reuse.records_written),
                ("unchanged", reuse.records_unchanged),
            ],
        ),
    ];
    for (name, help, label, values) in split_by {
        for (value, n) in values {
            m.gauge(
                name,
                help,
                &[("run_id", summary.run_id.as_str()), (label, value)],
                n as f64,
            );
        }
    }
    m.gauge(
        "ticketflow_run_dead_shards",
        "Shards of the run that ended in the dead-letter stream.",
        &run,
        summary.dead_shards.len() as f64,
    );
    m.gauge(
        "ticketflow_run_last_completion_timestamp_seconds",
        "When the trainer finished the last run, in seconds since the Unix epoch.",
        &[],
        finished_at_secs,
    );
    if let Some(model) = &summary.model {
        model_metrics(&mut m, &summary.run_id, model);
    }
    if let Some(routing) = &summary.production_routing {
        m.gauge(
            "ticketflow_run_auto_routed_ratio",
            "Share of the run's tickets production (the data set's latest before the run) routed automatically, over the tickets it never trained on.",
            &run,
            routing.coverage,
        );
        m.gauge(
            "ticketflow_run_routing_tickets",
            "Tickets production's routing figures stand on: the run's tickets it never trained on.",
            &run,
            routing.tickets as f64,
        );
        m.gauge(
            "ticketflow_routing_suspended",
            "1 while automatic routing of the data set is suspended (the run drifted from its reference, or an operator suspended it); predictions then all go to people.",
            &[("dataset", summary.dataset.as_str())],
            if routing.suspended.is_some() { 1.0 } else { 0.0 },
        );
        // Labelled runs only; NaN when production routed none of them (a precision of nothing
        // is undefined, and a dashboard shows the gap rather than a made-up 0 or 1).
        if summary.model.is_some() {
            m.gauge(
                "ticketflow_run_auto_routed_precision",
                "Share of production's automatically routed tickets whose type was right, on labelled tickets it never trained on (NaN when none was routed).",
                &run,
                routing.precision.unwrap_or(f64::NAN),
            );
        }
    }
    if let Some(drift) = summary.drift.as_ref().filter(|d| d.error.is_none()) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        m.gauge(
            "ticketflow_drift_share",
            "Share of feature columns whose drift test fired.",
            &run,
            drift.drift_share,
        );
        m.gauge(
            "ticketflow_dataset_drift_detected",
            "1 when the share of drifted columns reached the dataset threshold.",
            &run,
            flag(drift.dataset_drift),
        );
        m.gauge(
            "ticketflow_drifted_columns",
            "Number of feature columns whose drift test fired.",
            &run,
            drift.drifted_columns.len() as f64,
        );
        for c in &drift.columns {
            m.gauge(
                "ticketflow_column_drift_detected",
                "1 when this feature column drifted from the reference.",
                &[
                    ("run_id", summary.run_id.as_str()),
                    ("column", c.column.as_str()),
                ],
                flag(c.drifted),
            );
        }
        if let Some(auc) = drift.embedding_auc {
            m.gauge(
                "ticketflow_embedding_drift_auc",
                "ROC AUC of a classifier telling current from reference embeddings (0.5 = same).",
                &run,
                auc,
            );
            m.gauge(
                "ticketflow_embedding_drift_detected",
                "1 when the embedding domain classifier crossed its threshold.",
                &run,
                flag(drift.embedding_drift),
            );
        }
        m.gauge(
            "ticketflow_prediction_drift_detected",
            "1 when the predicted-type distribution drifted.",
            &run,
            flag(drift.prediction_drift),
        );
    }
    m
}

fn model_metrics(m: &mut BatchMetrics, run_id: &str, model: &crate::run::result::ModelSummary) {
    let run = [("run_id", run_id)];
    if let Some(v) = model.macro_f1 {
        m.gauge(
            "ticketflow_model_macro_f1",
            "Held-out macro-F1 of the run's model.",
            &run,
            v,
        );
    }
    if let Some(v) = model.accuracy {
        m.gauge(
            "ticketflow_model_accuracy",
            "Held-out accuracy of the run's model.",
            &run,
            v,
        );
    }
    if let Some(verdict) = &model.verdict {
        let passed = matches!(verdict, crate::registry::GateVerdict::Promoted { .. });
        m.gauge(
            "ticketflow_model_quality_gate_passed",
            "1 when the run's model passed the quality gate and became latest.",
            &run,
            if passed { 1.0 } else { 0.0 },
        );
    }
    if let Some(r) = &model.routing {
        m.gauge(
            "ticketflow_model_auto_coverage_ratio",
            "Held-out share of tickets at or above the model's routing threshold.",
            &run,
            r.holdout_coverage,
        );
        m.gauge(
            "ticketflow_model_auto_precision",
            "Held-out precision (share right) of the tickets the model routes automatically.",
            &run,
            r.holdout_precision,
        );
        m.gauge(
            "ticketflow_model_auto_target_precision",
            "The precision the routing threshold was chosen for.",
            &run,
            r.target_precision,
        );
    }
    for c in &model.per_class {
        let labels = [("run_id", run_id), ("class", c.label.as_str())];
        m.gauge(
            "ticketflow_model_f1",
            "Held-out F1 per class.",
            &labels,
            c.f1,
        );
        m.gauge(
            "ticketflow_model_precision",
            "Held-out precision per class.",
            &labels,
            c.precision,
        );
        m.gauge(
            "ticketflow_model_recall",
            "Held-out recall per class.",
            &labels,
            c.recall,
        );
    }
}
