//! `ticketflow clean`: what the cleaner stage does to each ticket, as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use ticketflow_text::dataset::{TicketOutcome, TicketReader};
use ticketflow_text::text::{self, LanguageSource};

use super::InputArgs;

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output JSON lines, one prepared ticket per accepted row.
    #[arg(long, short)]
    pub output: PathBuf,
}

#[derive(Serialize)]
struct Prepared<'a> {
    id: &'a str,
    row: u64,
    #[serde(rename = "type")]
    ticket_type: Option<&'a str>,
    language: Option<&'a str>,
    language_source: LanguageSource,
    text: &'a str,
    tokens: &'a [String],
}

pub fn run(args: CleanArgs) -> anyhow::Result<()> {
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut quarantined = Vec::new();
    let mut accepted = 0_u64;
    for outcome in TicketReader::open(&args.input.input, &args.input.load_options())? {
        match outcome? {
            TicketOutcome::Accepted(t) => {
                let p = text::prepare(&t.subject, &t.body, t.language.as_deref());
                let line = Prepared {
                    id: &t.id,
                    row: t.row,
                    ticket_type: t.ticket_type.as_deref(),
                    language: p.language.as_deref(),
                    language_source: p.language_source,
                    text: &p.normalized,
                    tokens: &p.tokens,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                accepted += 1;
            }
            TicketOutcome::Quarantined(q) => quarantined.push(q),
        }
    }
    out.flush()?;
    args.input.write_quarantine(&args.output, &quarantined)?;
    println!(
        "prepared {accepted} tickets ({} quarantined) into {}",
        quarantined.len(),
        args.output.display()
    );
    Ok(())
}
