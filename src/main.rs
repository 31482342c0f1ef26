//! `ticketflow`: the one binary behind every role: the coordinator (`run`), every stage worker
//! (`worker cleaner|embedder|indexer|trainer`) and the single-process commands (`embed`,
//! `predict`, `drift`, …). `ticketflow --help` lists them.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // Held to the last line: dropping it flushes the spans a short-lived process (the
    // coordinator) ends right before exiting, on success and on error alike.
    let telemetry = cli::init_logging(args.service_name());
    let code = match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line a person can act on; the cause chain follows on the same line.
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}
