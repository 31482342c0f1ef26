//! The trainer's drift check against the data set's reference, and the routing suspension a
//! drifted run brings.

use bytes::Bytes;
use ticketflow_analytics::drift::feature_table::FeatureRow;
use ticketflow_analytics::drift::report_page::render_drift_report;
use ticketflow_connectors::store::keys;
use ticketflow_lifecycle::registry::{Registry, RoutingState};
use ticketflow_lifecycle::run::read::{
    DriftSide, drift_report_now, run_embeddings_sample, run_features_sample,
};
use ticketflow_lifecycle::run::result::DriftSummary;
use ticketflow_schemas::Dataset;
use ticketflow_schemas::RunManifest;

use super::Trainer;
use super::run_pass::embedding_sample_rows;
use crate::now_ms;
use crate::stage_loop::StageError;

impl Trainer {
    /// Compares this run with `reference` (the one an operator set, else the run behind the data
    /// set's `latest` before this run trained) and stores `runs/<run>/drift/report.{json,html}`.
    pub(super) async fn drift(
        &self,
        manifest: &RunManifest,
        reference: &str,
        rows: Vec<FeatureRow>,
        embeddings: Vec<Vec<f32>>,
    ) -> Result<DriftSummary, StageError> {
        let run_id = &manifest.run_id;
        let reference_side = DriftSide {
            name: reference.to_string(),
            rows: run_features_sample(&self.store, reference, self.max_rows).await?,
            embeddings: run_embeddings_sample(
                &self.store,
                &self.bus,
                reference,
                embedding_sample_rows(),
            )
            .await?,
        };
        let current_side = DriftSide {
            name: run_id.clone(),
            rows,
            embeddings,
        };
        let report = drift_report_now(reference_side, current_side).await?;
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| StageError::permanent(e.to_string()))?;
        let html = render_drift_report(&report);
        let (json_key, html_key) = (
            keys::drift_report(run_id, "json"),
            keys::drift_report(run_id, "html"),
        );
        self.store.put(&json_key, Bytes::from(json)).await?;
        self.store
            .put(&html_key, Bytes::from(html.into_bytes()))
            .await?;
        Ok(DriftSummary::of_report(
            &report,
            reference,
            Some(html_key),
            Some(json_key),
        ))
    }

    /// Whether routing is suspended for this run: the data set's stored state, updated by this
    /// run's drift verdict. A drifted run suspends it (and says why) unless this run's own model
    /// was just promoted; a suspension stays until `ticketflow routing resume` or a promotion.
    pub(super) async fn routing_suspension(
        &self,
        dataset: &Dataset,
        run_id: &str,
        drift: Option<&DriftSummary>,
        promoted: bool,
    ) -> Result<Option<String>, StageError> {
        ticketflow_telemetry::internal_events::RoutingChecked {
            dataset: dataset.as_str(),
            run_id,
        }
        .emit();
        let registry = Registry::new(self.store.clone());
        let state = registry.routing_state(dataset).await?;
        if let Some(reason) = drift.and_then(DriftSummary::suspension_reason)
            && !promoted
        {
            let new = RoutingState {
                suspended: true,
                reason,
                run_id: Some(run_id.to_string()),
                by: "drift".into(),
                changed_at_ms: now_ms(),
            };
            ticketflow_telemetry::internal_events::RoutingSuspended {
                dataset: dataset.as_str(),
                run_id,
                reason: &new.reason,
            }
            .emit();
            registry.set_routing_state(dataset, &new).await?;
            return Ok(new.suspension());
        }
        Ok(state.and_then(|s| s.suspension()))
    }
}
