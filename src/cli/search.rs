//! `ticketflow search`: nearest tickets to a query text.

use clap::Args;
use ticketflow_connectors::chroma::parse_where;
use ticketflow_embed::EmbeddingModel;
use ticketflow_text::text;

use super::ModelArgs;
use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, in any language the model knows.
    pub query: String,
    /// How many neighbours.
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// Metadata filter, e.g. `--where type=Incident --where language=de` (all must hold).
    #[arg(long = "where")]
    pub filters: Vec<String>,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let filter = parse_where(&args.filters)?;
    let mut embedder = EmbeddingModel::new(&args.model.embedding_model_config()?)?;
    // The query goes through the same preparation as the indexed tickets.
    let prepared = text::prepare("", &args.query, None);
    let query_text = prepared.embed_text(args.model.embed_input).into_owned();
    let vectors = embedder.embed(&[query_text.as_str()])?;
    let embedding = vectors.row(0).to_vec();
    runtime()?.block_on(async move {
        let chroma = args.services.chroma().await?;
        let hits = chroma.query(&embedding, args.k, filter).await?;
        if hits.is_empty() {
            println!("no matches in {}", chroma.describe());
        }
        for (i, hit) in hits.iter().enumerate() {
            let meta = |k: &str| {
                hit.metadata
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_string()
            };
            let doc: String = hit
                .document
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            println!(
                "{:>2}. score {:.3}  {:<9} {:<3} {}  {}",
                i + 1,
                1.0 - hit.distance,
                meta("type"),
                meta("language"),
                hit.id,
                doc
            );
        }
        Ok(())
    })
}
