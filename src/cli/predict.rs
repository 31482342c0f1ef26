//! `ticketflow predict`: classify a file of tickets with a registered model.
//!
//! Every ticket gets its predicted type and probabilities. Whether it is routed automatically
//! (`auto`) and why (`auto_reason`) follows the model's promise: a certified confidence
//! threshold, for tickets like the training data, while routing of the data set is not
//! suspended. A batch of at least `--drift-min-rows` tickets is also checked against the data
//! set's drift reference before anything is routed: a drifted batch is predicted but not routed.
//!
//! `--unseen-only` leaves out the tickets the model was trained on (its stored id set), so a
//! labelled export can be scored honestly; with labels, the summary line gives the accuracy and
//! the precision of the routed tickets, on tickets the model never saw.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ticketflow_analytics::classify::{Example, Predictions, predictions_csv};
use ticketflow_analytics::drift::feature_table::{FeatureRow, feature_row};
use ticketflow_embed::EmbeddingModel;
use ticketflow_lifecycle::registry::Registry;
use ticketflow_lifecycle::run::read::{
    DriftSide, drift_report_now, run_embeddings_sample, run_features_sample,
};
use ticketflow_lifecycle::run::result::DriftSummary;
use ticketflow_schemas::Dataset;
use ticketflow_text::dataset::{TicketOutcome, TicketReader};
use ticketflow_workers::cleaner::clean_ticket;

use super::progress::Progress;
use super::services::{ServiceArgs, runtime};
use super::{InputArgs, ModelArgs};

/// Reference rows and vectors a batch's drift check reads at most (seeded samples).
const REFERENCE_ROWS: usize = 50_000;
const REFERENCE_VECTORS: usize = 5_000;

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output CSV: id,row,predicted_type,probability,auto,auto_reason,p_<class>… per accepted
    /// row; `auto` is true when the ticket is routed automatically, `auto_reason` says why or
    /// why not.
    #[arg(long, short)]
    pub output: PathBuf,
    /// `latest` (the data set's model that last passed the quality gate) or a training run id.
    #[arg(long, default_value = "latest")]
    pub model: String,
    /// The data set whose `latest`, drift reference and routing state to use.
    #[arg(long, env = "TICKETFLOW_DATASET", default_value_t = Dataset::default())]
    pub dataset: Dataset,
    /// A batch of at least this many tickets is checked for drift against the data set's
    /// reference first; a drifted batch is not routed. 0 turns the check off.
    #[arg(long, env = "TICKETFLOW_PREDICT_DRIFT_MIN_ROWS", default_value_t = 50)]
    pub drift_min_rows: usize,
    /// Leave out the tickets the model was trained on (by id), e.g. to score it on a labelled
    /// export that contains its training data. An error for a model stored without its ids.
    #[arg(long)]
    pub unseen_only: bool,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub embedder: ModelArgs,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let store = args.services.store()?;
    let registry = Registry::new(store.clone());
    let rt = runtime()?;
    let (model_run, classifier) = rt
        .block_on(registry.load(&args.model, &args.dataset))
        .with_context(|| format!("loading model {:?} from {}", args.model, store.describe()))?;
    let mut embedder = EmbeddingModel::new(&args.embedder.embedding_model_config()?)?;
    let trained = if args.unseen_only {
        let set = rt
            .block_on(registry.trained_ids(&model_run))?
            .with_context(|| {
                format!(
                    "model {model_run} was stored without the ids it was trained on, so \
                 --unseen-only cannot tell which tickets it saw"
                )
            })?;
        Some(set)
    } else {
        None
    };

    let mut ids = Vec::new();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut cleaned = Vec::new();
    let mut quarantined = Vec::new();
    let mut skipped_trained = 0_usize;
    for outcome in TicketReader::open(&args.input.input, &args.input.load_options())? {
        match outcome? {
            TicketOutcome::Accepted(t) => {
                if trained.as_ref().is_some_and(|set| set.contains(&t.id)) {
                    skipped_trained += 1;
                    continue;
                }
                cleaned.push(clean_ticket(&t, args.embedder.embed_input));
                labels.push(t.ticket_type.clone());
                ids.push(t.id);
                rows.push(t.row);
            }
            TicketOutcome::Quarantined(q) => quarantined.push(q),
        }
    }
    args.input.write_quarantine(&args.output, &quarantined)?;

    // The cleaned ticket's text is the embedder's input, as in the pipeline.
    let refs: Vec<&str> = cleaned.iter().map(|t| t.text.as_str()).collect();
    let mut progress = Progress::new(refs.len() as u64, "embedding");
    let vectors = embedder.embed_with_progress(&refs, |n| progress.inc(n))?;
    progress.finish();
    let examples: Vec<Example> = cleaned
        .iter()
        .zip(vectors.rows())
        .map(|(t, v)| Example::from_clean_ticket(t, v.to_vec()))
        .collect();
    let mut predictions = Predictions::of(&classifier, &model_run, &examples);

    // Routing of the whole batch: the data set's stored switch, then this batch's drift.
    let state = rt.block_on(registry.routing_state(&args.dataset))?;
    predictions.suspended = state.and_then(|s| s.suspension());
    let mut drift_note = String::new();
    if predictions.suspended.is_none()
        && args.drift_min_rows > 0
        && examples.len() >= args.drift_min_rows
    {
        let current = DriftSide {
            name: args.input.input.display().to_string(),
            rows: cleaned
                .iter()
                .map(|t| feature_row(t, None, None))
                .collect::<Vec<FeatureRow>>(),
            embeddings: examples.iter().map(|e| e.embedding.clone()).collect(),
        };
        match rt.block_on(batch_drift(&args, &registry, &store, current))? {
            Some(summary) => {
                predictions.suspended = summary
                    .suspension_reason()
                    .map(|why| format!("this batch: {why}"));
                drift_note = match &predictions.suspended {
                    Some(_) => String::new(),
                    None => format!(
                        "; no drift against reference {}",
                        summary.reference.as_deref().unwrap_or("?")
                    ),
                };
            }
            None => drift_note = "; no drift reference yet, drift not checked".to_string(),
        }
    }

    let csv = predictions_csv(&predictions, &ids, &rows)?;
    std::fs::write(&args.output, csv)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let held = (0..ids.len())
        .filter(|&i| predictions.holds.get(i).is_some_and(Option::is_some))
        .count();
    let routing = match (&predictions.suspended, predictions.threshold) {
        (Some(why), _) => format!("none routed automatically: routing SUSPENDED ({why})"),
        (None, Some(t)) => format!(
            "{} routed automatically (probability >= {t:.3}; {held} held back as unlike the training data{drift_note})",
            predictions.routed()
        ),
        (None, None) => {
            "none routed automatically (the model has no routing threshold)".to_string()
        }
    };
    let skipped = match trained {
        Some(_) => format!(", {skipped_trained} left out as training tickets of the model"),
        None => String::new(),
    };
    println!(
        "predicted {} rows ({} quarantined{skipped}) with model {model_run} into {}; {routing}",
        ids.len(),
        quarantined.len(),
        args.output.display()
    );
    if let Some(score) = LabelledScore::of(&predictions, &labels) {
        println!("{score}");
    }
    Ok(())
}

/// How right the predictions were on the labelled tickets of the batch.
#[derive(Debug, PartialEq)]
struct LabelledScore {
    labelled: usize,
    correct: usize,
    routed: usize,
    routed_correct: usize,
}

impl LabelledScore {
    /// `None` when no ticket carries a label.
    fn of(predictions: &Predictions, labels: &[Option<String>]) -> Option<Self> {
        let mut score = LabelledScore {
            labelled: 0,
            correct: 0,
            routed: 0,
            routed_correct: 0,
        };
        for (i, label) in labels.iter().enumerate() {
            let (Some(label), Some(row)) = (label.as_deref(), predictions.row(i)) else {
                continue;
            };
            let right = row.class == label;
            score.labelled += 1;
            score.correct += usize::from(right);
            if row.auto {
                score.routed += 1;
                score.routed_correct += usize::from(right);
            }
        }
        (score.labelled > 0).then_some(score)
    }
}

impl std::fmt::Display for LabelledScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        write!(
            f,
            "on {} labelled tickets: accuracy {:.3}",
            self.labelled,
            share(self.correct, self.labelled)
        )?;
        match self.routed {
            0 => write!(f, "; none routed automatically"),
            n => write!(
                f,
                "; {n} routed automatically (coverage {:.3}) at precision {:.3}",
                share(n, self.labelled),
                share(self.routed_correct, n)
            ),
        }
    }
}

/// The batch's drift against the data set's reference run; `None` when it has none. Embedding
/// drift needs the reference run's state in NATS; without it only the columns are compared.
async fn batch_drift(
    args: &PredictArgs,
    registry: &Registry,
    store: &ticketflow_connectors::store::Store,
    current: DriftSide,
) -> anyhow::Result<Option<DriftSummary>> {
    let Some(reference) = registry.reference(&args.dataset).await? else {
        return Ok(None);
    };
    let rows = run_features_sample(store, &reference, REFERENCE_ROWS).await?;
    let embeddings = match args.services.bus(false).await {
        Ok(bus) => run_embeddings_sample(store, &bus, &reference, REFERENCE_VECTORS)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reference vectors unavailable; columns only");
                Vec::new()
            }),
        Err(e) => {
            tracing::warn!(error = %e, "NATS unavailable; drift checked on columns only");
            Vec::new()
        }
    };
    let reference_side = DriftSide {
        name: reference.clone(),
        rows,
        embeddings,
    };
    let report = drift_report_now(reference_side, current).await?;
    Ok(Some(DriftSummary::of_report(
        &report, &reference, None, None,
    )))
}
