//! `ticketflow streams`: the JetStream streams and KV buckets, and their replica counts.
//!
//! `streams show` lists them (creating what is missing, as every process does on start);
//! `streams update` changes existing ones to `--jetstream-replicas`, which is how a single-server
//! install moves to a replicated cluster: JetStream changes a stream's replicas online, without
//! losing its messages.

use clap::{Args, Subcommand};

use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct StreamsArgs {
    #[command(subcommand)]
    pub command: StreamsCommand,
}

#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// Every stream and KV bucket with its replica count (fails if one differs from
    /// --jetstream-replicas, naming the fix).
    Show {
        #[command(flatten)]
        services: ServiceArgs,
    },
    /// Change every existing stream and KV bucket to --jetstream-replicas.
    Update {
        #[command(flatten)]
        services: ServiceArgs,
    },
}

pub fn run(args: StreamsArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let bus = match &args.command {
            StreamsCommand::Show { services } => services.bus(false).await?,
            StreamsCommand::Update { services } => services.bus_updating_replicas().await?,
        };
        let report = bus.topology();
        for s in &report.streams {
            let changed = report.updated.iter().any(|u| u.stream == s.stream);
            let note = if changed { "  (updated)" } else { "" };
            println!("{:<14} {} replica(s){note}", s.stream, s.replicas);
        }
        Ok(())
    })
}
