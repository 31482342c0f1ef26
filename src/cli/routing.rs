//! `ticketflow routing status|suspend|resume`: the data set's automatic-routing switch.
//!
//! The trainer suspends automatic routing of a data set when a run drifts from its reference
//! (the routing threshold's guarantee holds only for tickets like the ones it was calibrated
//! on). Predictions keep their probabilities, but `auto` is false with the reason, in Chroma,
//! in `predictions.csv` and in `ticketflow predict`. Routing resumes when a model trained on the
//! new data is promoted, or when an operator who has looked at the drift report says so here.

use clap::{Args, Subcommand};
use ticketflow_lifecycle::registry::{Registry, RoutingState};
use ticketflow_schemas::Dataset;

use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct RoutingArgs {
    #[command(subcommand)]
    pub command: RoutingCommand,
    /// The data set whose routing to show or change.
    #[arg(long, env = "TICKETFLOW_DATASET", default_value_t = Dataset::default(), global = true)]
    pub dataset: Dataset,
    #[command(flatten)]
    pub services: ServiceArgs,
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Whether automatic routing is on, and why not.
    Status,
    /// Stop automatic routing: every prediction goes to people until `resume`.
    Suspend {
        /// Why, as predictions and `status` will show it.
        #[arg(long)]
        reason: String,
    },
    /// Route automatically again (after checking the drift report, or retraining).
    Resume {
        /// Why, kept in the routing state.
        #[arg(long, default_value = "resumed by an operator")]
        reason: String,
    },
}

pub fn run(args: RoutingArgs) -> anyhow::Result<()> {
    let store = args.services.store()?;
    let registry = Registry::new(store);
    let dataset = args.dataset;
    runtime()?.block_on(async move {
        let now = ticketflow_workers::now_ms();
        match args.command {
            RoutingCommand::Status => {
                match registry.routing_state(&dataset).await? {
                    Some(state) if state.suspended => println!(
                        "automatic routing of data set {dataset} is SUSPENDED since {} by {}: {}",
                        state.changed_at_ms,
                        state.by,
                        state.suspension().unwrap_or_default()
                    ),
                    Some(state) => println!(
                        "automatic routing of data set {dataset} is on (last change by {}: {})",
                        state.by, state.reason
                    ),
                    None => println!("automatic routing of data set {dataset} is on"),
                }
                Ok(())
            }
            RoutingCommand::Suspend { reason } => {
                if reason.trim().is_empty() {
                    anyhow::bail!("--reason must say why routing is suspended");
                }
                let state = RoutingState {
                    suspended: true,
                    reason,
                    run_id: None,
                    by: "operator".into(),
                    changed_at_ms: now,
                };
                registry.set_routing_state(&dataset, &state).await?;
                println!(
                    "automatic routing of data set {dataset} suspended: {}",
                    state.reason
                );
                Ok(())
            }
            RoutingCommand::Resume { reason } => {
                let was = registry.routing_state(&dataset).await?;
                let state = RoutingState {
                    suspended: false,
                    reason,
                    run_id: None,
                    by: "operator".into(),
                    changed_at_ms: now,
                };
                registry.set_routing_state(&dataset, &state).await?;
                match was.filter(|s| s.suspended) {
                    Some(s) => println!(
                        "automatic routing of data set {dataset} resumed (it was suspended: {})",
                        s.suspension().unwrap_or_default()
                    ),
                    None => println!(
                        "automatic routing of data set {dataset} was not suspended; it stays on"
                    ),
                }
                Ok(())
            }
        }
    })
}
