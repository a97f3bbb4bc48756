//! `dl`: the workspace's small utility binary. `dl doctor` reports on libtorch and CUDA.

use clap::{Parser, Subcommand};

/// Utilities of the deep-learning showcases workspace.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report the libtorch in use, its variant, threads, CPU features and CUDA devices, run a
    /// small computation on every device, and say what to fix. Exits 1 if something is broken.
    Doctor,
}

fn main() {
    let cli = Cli::parse();
    harness::cli::init(false);
    match cli.command {
        Command::Doctor => {
            let report = harness::doctor::Report::gather();
            print!("{report}");
            if report.has_problems() {
                std::process::exit(1);
            }
        }
    }
}
