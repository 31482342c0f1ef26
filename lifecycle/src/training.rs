//! Training a labelled run's model and registering it: the challenger is scored against the
//! data set's `latest` (the champion) on the same rows before the gate decides. Shared by the
//! trainer stage and `ticketflow train`.

use ticketflow_analytics::classify::routing::precision_coverage_curve;
use ticketflow_analytics::classify::{
    Classifier, Example, Predictions, SplitRule, TicketSet, TrainConfig, train_and_select_held_out,
};
use ticketflow_analytics::sample::SampleInfo;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{CleanTicket, RunManifest, RunProgress};

use crate::registry::{Champion, EMBEDDING_MODEL_ID, Lineage, QualityGate, Registration, Registry};
use crate::run::result::ModelSummary;
use ticketflow_connectors::stage_error::StageError;
use ticketflow_schemas::now_ms;

/// The run's embedding precision for the model card: `fp32` or `int8`, `mixed(…)` when shards
/// were embedded at several precisions, `fp32` for runs recorded before precision was.
pub fn run_precision(progress: &RunProgress) -> String {
    match progress.embedding_precisions.len() {
        0 => "fp32".to_string(),
        1 => progress
            .embedding_precisions
            .iter()
            .next()
            .cloned()
            .unwrap_or_default(),
        _ => format!(
            "mixed({})",
            progress
                .embedding_precisions
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("+")
        ),
    }
}

/// The data set's `latest` as a new model is judged.
pub struct Incumbent {
    /// The run id `latest` named (read first): a promotion must still find it there, or another
    /// trainer moved `latest` meanwhile and this model was judged against the wrong champion.
    pub latest: Option<String>,
    /// The model behind it, to predict with and to compare a new model with; `None` when there
    /// is none or it is unusable.
    pub champion: Option<Champion>,
}

/// The data set's `latest` before this run. A missing or unreadable model is logged and
/// treated as none (the run still gets its own results); an outage of the store is retried.
pub async fn load_champion(
    store: &Store,
    dataset: &ticketflow_schemas::Dataset,
) -> Result<Incumbent, StageError> {
    let registry = Registry::new(store.clone());
    let latest = registry.latest(dataset).await.map(|l| l.map(|l| l.run_id));
    let latest = match latest {
        Ok(latest) => latest,
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            tracing::warn!(%dataset, error = %e, "the data set's latest pointer is unreadable");
            None
        }
    };
    // The model `latest` named when it was read, not a second read of the pointer: the champion
    // judged against is exactly the one a promotion expects to replace.
    let Some(run_id) = latest.as_deref() else {
        return Ok(Incumbent {
            latest,
            champion: None,
        });
    };
    let champion = match registry.champion_at(run_id, dataset).await {
        Ok(found) => Some(found),
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            tracing::warn!(%dataset, error = %e, "the data set's latest model is unusable; continuing without it");
            None
        }
    };
    Ok(Incumbent { latest, champion })
}

/// What [`train_run`] made of a labelled run.
pub struct TrainOutcome {
    pub summary: ModelSummary,
    pub classifier: Option<Classifier>,
    /// The new model's out-of-fold predictions, one per ticket of the run (unlabelled tickets
    /// have none); `None` when training failed.
    pub out_of_fold: Option<Predictions>,
}

/// Trains, evaluates and registers a classifier on a run's labelled tickets (or `sample`, a
/// seeded stratified sample of them, which the card records) as model `model_id`
/// (the run id for the trainer's own model), comparing it with `champion` (the data set's
/// `latest` before the run) on the same rows. Shared by the trainer worker and `ticketflow
/// train`.
#[allow(clippy::too_many_arguments)]
pub async fn train_run(
    store: &Store,
    model_id: &str,
    manifest: &RunManifest,
    progress: &RunProgress,
    tickets: &[(CleanTicket, Vec<f32>)],
    train: &TrainConfig,
    gate: QualityGate,
    incumbent: &Incumbent,
    sample: Option<SampleInfo>,
) -> Result<TrainOutcome, StageError> {
    let champion = incumbent.champion.as_ref();
    // Which ticket each labelled example is, to hand out-of-fold predictions back to tickets.
    let mut ticket_of = Vec::with_capacity(tickets.len());
    let mut examples = Vec::with_capacity(tickets.len());
    let mut labels = Vec::with_capacity(tickets.len());
    let mut ids = Vec::with_capacity(tickets.len());
    for (i, (t, v)) in tickets.iter().enumerate() {
        if let Some(label) = &t.ticket_type {
            ticket_of.push(i);
            examples.push(Example::from_clean_ticket(t, v.clone()));
            labels.push(label.clone());
            ids.push(t.id.clone());
        }
    }
    // A ticket's role comes from its id: held out today if and only if held out yesterday, so
    // no model is ever scored on a ticket it trained on in an earlier run.
    let split = SplitRule::id_hash(train.test_fraction);
    let held_out = split.held_out(ids.iter().map(String::as_str));
    let config = train.clone();
    let trained = tokio::task::spawn_blocking(move || {
        let result = train_and_select_held_out(&examples, &labels, &held_out, &config);
        (result, examples, labels, config)
    })
    .await
    .map_err(|e| StageError::transient_from("training task", e))?;
    let (result, examples, labels, config) = trained;
    let (classifier, report) = match result {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!(run_id = %manifest.run_id, error = %e, "training failed");
            return Ok(TrainOutcome {
                summary: ModelSummary::failed(e.to_string()),
                classifier: None,
                out_of_fold: None,
            });
        }
    };
    let precision = run_precision(progress);
    let lineage = Lineage {
        embedding_model: EMBEDDING_MODEL_ID,
        embedding_precision: &precision,
        embed_input: &manifest.embed_input,
        classes: &classifier.classes,
    };
    // A model id is written once: a retrain of a run whose model is registered (a redrive, a
    // retry after a later step failed, a second trainer) gets a new id, and is judged against
    // the champion like any challenger. The same bytes again are the same model: its card
    // stands, nothing is judged twice.
    let registry = Registry::new(store.clone());
    let claim = registry
        .claim_model_id(model_id, &classifier)
        .await
        .map_err(StageError::from)?;
    let model_id = claim.id.as_str();
    if claim.existing
        && let Ok(card) = registry.card(model_id).await
    {
        tracing::info!(
            model_id,
            "this model is registered already; its card stands"
        );
        return Ok(outcome(
            tickets.len(),
            &ticket_of,
            manifest,
            model_id,
            classifier,
            &report,
            &card,
            sample,
        ));
    }
    // A model is never compared with itself (a re-registration of the same model id).
    let comparison = champion
        .filter(|c| c.run_id != model_id)
        .map(|c| c.compare(&lineage, &report, &examples, &labels, &ids));
    let trained_ids = TicketSet::from_ids(report.split.train.iter().map(|&r| &ids[r]));
    let train_truth: Vec<usize> = report
        .split
        .train
        .iter()
        .map(|&r| {
            classifier
                .classes
                .iter()
                .position(|c| *c == labels[r])
                .unwrap_or(0)
        })
        .collect();
    let train_probs: Vec<Vec<f32>> = report
        .split
        .train
        .iter()
        .map(|&r| report.out_of_fold[r].clone())
        .collect();
    let curve = precision_coverage_curve(&train_probs, &train_truth);
    let dataset = manifest.dataset();
    let card = registry
        .register(
            &classifier,
            Registration {
                run_id: &manifest.run_id,
                model_id,
                dataset: &dataset,
                input: &manifest.input,
                data_digest: &manifest.input_digest,
                embed_input: &manifest.embed_input,
                embedding_precision: &precision,
                labels: &labels,
                config: &config,
                report: &report,
                champion: comparison,
                latest_seen: incumbent.latest.as_deref(),
                sample: sample.clone(),
                curve: &curve,
                split: Some(&split),
                trained_ids: Some(&trained_ids),
                now_ms: now_ms(),
            },
            gate,
        )
        .await
        .map_err(StageError::from)?;
    tracing::info!(
        run_id = %manifest.run_id,
        macro_f1 = card.holdout.macro_f1,
        verdict = ?card.verdict,
        "model trained"
    );
    Ok(outcome(
        tickets.len(),
        &ticket_of,
        manifest,
        model_id,
        classifier,
        &report,
        &card,
        sample,
    ))
}

/// What [`train_run`] reports of a registered model: its summary, and its out-of-fold
/// predictions by ticket.
#[allow(clippy::too_many_arguments)]
fn outcome(
    tickets: usize,
    ticket_of: &[usize],
    manifest: &RunManifest,
    model_id: &str,
    classifier: Classifier,
    report: &ticketflow_analytics::classify::TrainReport,
    card: &crate::registry::ModelCard,
    sample: Option<SampleInfo>,
) -> TrainOutcome {
    let mut oof_probs = vec![None; tickets];
    for (example_row, probs) in report.out_of_fold.iter().enumerate() {
        if let Some(&ticket) = ticket_of.get(example_row) {
            oof_probs[ticket] = Some(probs.clone());
        }
    }
    let out_of_fold = Predictions {
        model_run: manifest.run_id.clone(),
        classes: classifier.classes.clone(),
        probs: oof_probs,
        threshold: report.routing.threshold,
        target_precision: Some(report.routing.target_precision),
        holds: Vec::new(),
        suspended: None,
    };
    let summary = ModelSummary {
        error: None,
        model: Some(card.model.clone()),
        features: Some(card.feature_set.clone()),
        accuracy: Some(card.holdout.accuracy),
        macro_f1: Some(card.holdout.macro_f1),
        weighted_precision: Some(card.holdout.weighted_precision),
        verdict: Some(card.verdict.clone()),
        champion: card.champion.clone(),
        routing: Some(report.routing.clone()),
        per_class: report.holdout.per_class.clone(),
        card: Some(keys::model_card(model_id)),
        sample,
    };
    TrainOutcome {
        summary,
        classifier: Some(classifier),
        out_of_fold: Some(out_of_fold),
    }
}
