//! `ticketflow predict`: classify a file of tickets with a registered model.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ticketflow_ml::classify::{Example, Predictions, predictions_csv};
use ticketflow_ml::dataset::{TicketOutcome, TicketReader};
use ticketflow_ml::embed::EmbeddingModel;
use ticketflow_ml::text;
use ticketflow_schemas::Dataset;
use ticketflow_workers::registry::Registry;

use super::progress::Progress;
use super::services::{ServiceArgs, runtime};
use super::{InputArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output CSV: id,row,predicted_type,probability,auto,p_<class>… per accepted row; `auto`
    /// is true when the probability reaches the model's routing threshold.
    #[arg(long, short)]
    pub output: PathBuf,
    /// `latest` (the data set's model that last passed the quality gate) or a training run id.
    #[arg(long, default_value = "latest")]
    pub model: String,
    /// The data set whose `latest` to use.
    #[arg(long, env = "TICKETFLOW_DATASET", default_value_t = Dataset::default())]
    pub dataset: Dataset,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub embedder: ModelArgs,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let store = args.services.store()?;
    let (model_run, classifier) = runtime()?
        .block_on(Registry::new(store.clone()).load(&args.model, &args.dataset))
        .with_context(|| format!("loading model {:?} from {}", args.model, store.describe()))?;
    let mut embedder = EmbeddingModel::new(&args.embedder.embedding_model_config())?;

    let mut ids = Vec::new();
    let mut rows = Vec::new();
    let mut texts = Vec::new();
    let mut partial = Vec::new();
    let mut quarantined = Vec::new();
    for outcome in TicketReader::open(&args.input.input, &args.input.load_options())? {
        match outcome? {
            TicketOutcome::Accepted(t) => {
                let p = text::prepare(&t.subject, &t.body, t.language.as_deref());
                texts.push(p.embed_text(args.embedder.embed_input).into_owned());
                partial.push((p.tokens, t.queue, t.priority, p.language));
                ids.push(t.id);
                rows.push(t.row);
            }
            TicketOutcome::Quarantined(q) => quarantined.push(q),
        }
    }
    args.input.write_quarantine(&args.output, &quarantined)?;

    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut progress = Progress::new(refs.len() as u64, "embedding");
    let vectors = embedder.embed_with_progress(&refs, |n| progress.inc(n))?;
    progress.finish();
    // The example's text is the embedder's input, as the pipeline's cleaned tickets carry it.
    let examples: Vec<Example> = partial
        .into_iter()
        .zip(vectors.rows())
        .zip(&texts)
        .map(|(((tokens, queue, priority, language), v), text)| Example {
            embedding: v.to_vec(),
            text: text.clone(),
            tokens,
            queue,
            priority,
            language,
        })
        .collect();
    let predictions = Predictions::of(&classifier, &model_run, &examples);
    let csv = predictions_csv(&predictions, &ids, &rows)?;
    std::fs::write(&args.output, csv)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let routing = match predictions.threshold {
        Some(t) => format!(
            "{} routed automatically (probability >= {t:.3})",
            predictions.routed()
        ),
        None => "none routed automatically (the model has no routing threshold)".to_string(),
    };
    println!(
        "predicted {} rows ({} quarantined) with model {model_run} into {}; {routing}",
        ids.len(),
        quarantined.len(),
        args.output.display()
    );
    Ok(())
}
