//! `ticketflow embed`: tickets in, a float32 `.npy` matrix out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use ticketflow_embed::EmbeddingModel;
use ticketflow_text::dataset::{
    ColumnSpec, Quarantined, RecordOutcome, RecordReader, TicketOutcome, TicketReader,
};
use ticketflow_text::text;

use super::progress::Progress;
use super::{InputArgs, ModelArgs, side_file};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output matrix (float32 .npy, shape [accepted rows, 384], input row order). Side files:
    /// `<stem>.rows.csv` maps each matrix row to its input row and ticket id.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Embed this column's text verbatim, exactly as sentence-transformers would be given it,
    /// instead of the text the pipeline prepares from subject and body.
    #[arg(long)]
    pub text_column: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// One text to embed, with where it came from.
struct Item {
    row: u64,
    id: String,
    text: String,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Fail on a bad model or library before spending time on the input.
    let mut embedder = EmbeddingModel::new(&args.model.embedding_model_config()?)?;

    let (items, quarantined) = match &args.text_column {
        Some(column) => read_column(&args.input, column)?,
        None => read_prepared(&args.input, args.model.embed_input)?,
    };
    args.input.write_quarantine(&args.output, &quarantined)?;

    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let embed_started = Instant::now();
    let mut progress = Progress::new(texts.len() as u64, "embedding");
    let vectors = embedder.embed_with_progress(&texts, |n| progress.inc(n))?;
    progress.finish();
    let embed_secs = embed_started.elapsed().as_secs_f64();

    write_npy(&args.output, &vectors)?;
    let rows_path = side_file(&args.output, "rows.csv");
    write_rows(&rows_path, &items)?;

    println!(
        "embedded {} rows ({} quarantined) into {} in {:.2}s: {:.1} tickets/s (total {:.2}s, {})",
        items.len(),
        quarantined.len(),
        args.output.display(),
        embed_secs,
        items.len() as f64 / embed_secs.max(1e-9),
        started.elapsed().as_secs_f64(),
        embedder.model_path().display()
    );
    Ok(())
}

/// Tickets through the loader and text preparation; the embedder sees `embed_input`'s text.
fn read_prepared(
    input: &InputArgs,
    embed_input: text::EmbedInput,
) -> anyhow::Result<(Vec<Item>, Vec<Quarantined>)> {
    let mut items = Vec::new();
    let mut quarantined = Vec::new();
    for outcome in TicketReader::open(&input.input, &input.load_options())? {
        match outcome? {
            TicketOutcome::Accepted(t) => {
                let prepared = text::prepare(&t.subject, &t.body, t.language.as_deref());
                items.push(Item {
                    row: t.row,
                    id: t.id,
                    text: prepared.embed_text(embed_input).into_owned(),
                });
            }
            TicketOutcome::Quarantined(q) => quarantined.push(q),
        }
    }
    Ok((items, quarantined))
}

/// One column verbatim. Empty texts are embedded too (as sentence-transformers would); only rows
/// the reader cannot decode are quarantined.
fn read_column(input: &InputArgs, column: &str) -> anyhow::Result<(Vec<Item>, Vec<Quarantined>)> {
    let id_spec = match &input.id_column {
        Some(name) => ColumnSpec::required(name),
        None => ColumnSpec::optional(&["id", "ticket_id"]),
    };
    let specs = vec![ColumnSpec::required(column), id_spec];
    let mut items = Vec::new();
    let mut quarantined = Vec::new();
    for outcome in RecordReader::open(&input.input, specs, &input.load_options())? {
        match outcome? {
            RecordOutcome::Record(mut r) => {
                let text = r.values[0].take().unwrap_or_default();
                let id = r.values[1].take().unwrap_or_else(|| r.row.to_string());
                items.push(Item {
                    row: r.row,
                    id,
                    text,
                });
            }
            RecordOutcome::Quarantined(q) => quarantined.push(q),
        }
    }
    Ok((items, quarantined))
}

/// Writes through a temporary file and a rename, so a reader never sees half a matrix.
fn write_npy(path: &Path, vectors: &Array2<f32>) -> anyhow::Result<()> {
    let tmp = path.with_extension("npy.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    vectors
        .write_npy(&mut writer)
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(writer);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn write_rows(path: &Path, items: &[Item]) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    w.write_record(["index", "row", "id"])?;
    for (i, item) in items.iter().enumerate() {
        let id = ticketflow_text::csv_safe::neutralize(&item.id);
        w.write_record([i.to_string(), item.row.to_string(), id.into_owned()])?;
    }
    w.flush()?;
    Ok(())
}
