//! `ticketflow profile`: an exploratory profile of a ticket export (profile.html + profile.json).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ticketflow_analytics::profile::{self, MODEL_MAX_TOKENS};
use ticketflow_text::dataset::load_tickets;

use super::{InputArgs, TokenizerArgs};

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for profile.html and profile.json (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub tokenizer: TokenizerArgs,
}

pub fn run(args: ProfileArgs) -> anyhow::Result<()> {
    let loaded = load_tickets(&args.input.input, &args.input.load_options())
        .with_context(|| format!("reading {}", args.input.input.display()))?;
    let texts: Vec<String> = loaded.tickets.iter().map(profile::embed_text).collect();
    let token_counts =
        profile::count_tokens(&args.tokenizer.model_dir, &texts).map_err(|e| anyhow::anyhow!(e))?;
    let p = profile::profile(&loaded.tickets, &loaded.quarantined, &token_counts);

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json_path = args.out.join("profile.json");
    let html_path = args.out.join("profile.html");
    let json = serde_json::to_vec_pretty(&p)?;
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&html_path, profile::render_profile_html(&p))
        .with_context(|| format!("writing {}", html_path.display()))?;

    println!(
        "{} rows: {} accepted, {} quarantined, {} duplicates, {} over {MODEL_MAX_TOKENS} tokens",
        p.rows.total, p.rows.accepted, p.rows.quarantined, p.rows.duplicates, p.tokens.over_limit
    );
    println!("wrote {} and {}", html_path.display(), json_path.display());
    Ok(())
}
