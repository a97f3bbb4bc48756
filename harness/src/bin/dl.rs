//! `dl`: the workspace's small utility binary. `dl doctor` reports on libtorch and CUDA; `dl
//! models`, `dl reproduce` and `dl ship` look after the trained models in `models/`.

use clap::{Parser, Subcommand};
use harness::models::{self, Card, Storage};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

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
    /// List every trained model that ships in models/, with its card's headline number.
    Models,
    /// Measure every shipped model's headline number again (each card's command, on the full
    /// split) and print card and measurement side by side; exits 1 if one is not reproduced.
    /// Runs the apps' binaries from this binary's folder (`cargo build --release --bins`).
    Reproduce {
        /// Only these models (default: all).
        names: Vec<String>,
    },
    /// Copy a checkpoint into models/NAME/ to ship it (weights and sidecar, no training state)
    /// and write their sha256 into the card, models/NAME/MODEL.md, which must exist.
    Ship {
        /// A checkpoint file or run directory (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// The shipped model's name (its folder in models/).
        #[arg(long)]
        name: String,
        /// How the weights are stored.
        #[arg(long, value_enum, default_value = "f32")]
        storage: Storage,
    },
}

fn main() {
    let cli = Cli::parse();
    harness::cli::init(false);
    let result = match cli.command {
        Command::Doctor => {
            let report = harness::doctor::Report::gather();
            print!("{report}");
            if report.has_problems() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Models => list(),
        Command::Reproduce { names } => reproduce(&names),
        Command::Ship { checkpoint, name, storage } => {
            let dir = models::models_dir().join(&name);
            models::pack(&checkpoint, &dir, storage).map_err(anyhow::Error::from).map(|sums| {
                for (file, sum) in sums {
                    println!("{}  {sum}", dir.join(file).display());
                }
            })
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn list() -> anyhow::Result<()> {
    let cards = models::cards()?;
    anyhow::ensure!(!cards.is_empty(), "no model ships in {}", models::models_dir().display());
    println!("{:<14} {:<15} {:<34} {:>10}", "model", "app", "headline metric", "card");
    for card in &cards {
        println!(
            "{:<14} {:<15} {:<34} {:>10}",
            card.name, card.app, card.metric.name, card.metric.value
        );
    }
    Ok(())
}

fn reproduce(names: &[String]) -> anyhow::Result<()> {
    let cards: Vec<Card> = models::cards()?
        .into_iter()
        .filter(|c| names.is_empty() || names.contains(&c.name))
        .collect();
    if let Some(missing) = names.iter().find(|n| !cards.iter().any(|c| &c.name == *n)) {
        anyhow::bail!("no shipped model is named {missing:?} (`dl models` lists them)");
    }
    let bin_dir = std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut rows = Vec::new();
    for card in &cards {
        let started = std::time::Instant::now();
        let measured = measure(card, &bin_dir)?;
        let ok = card.metric.reproduced_by(measured);
        eprintln!("{}: {measured:.4} in {:.0} s", card.name, started.elapsed().as_secs_f64());
        rows.push((card, measured, ok, started.elapsed().as_secs_f64()));
    }
    println!(
        "\n{:<14} {:<36} {:>9} {:>9} {:>9} {:>7}  result",
        "model", "metric", "card", "measured", "tolerance", "seconds"
    );
    for (card, measured, ok, seconds) in &rows {
        println!(
            "{:<14} {:<36} {:>9} {:>9.4} {:>9} {:>7.0}  {}",
            card.name,
            card.metric.name,
            card.metric.value,
            measured,
            card.metric.tolerance,
            seconds,
            if *ok { "reproduced" } else { "NOT REPRODUCED" }
        );
    }
    let failed = rows.iter().filter(|r| !r.2).count();
    anyhow::ensure!(failed == 0, "{failed} of {} cards were not reproduced", rows.len());
    Ok(())
}

/// Runs the card's command with `--metrics-json` and reads its headline key.
fn measure(card: &Card, bin_dir: &Path) -> anyhow::Result<f64> {
    let binary = bin_dir.join(&card.app);
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing: build the apps first (cargo build --release --workspace --bins)",
        binary.display()
    );
    let json = std::env::temp_dir().join(format!(
        "dl-reproduce-{}-{}.json",
        card.name,
        std::process::id()
    ));
    eprintln!("{}: {} {}", card.name, card.app, card.metric.command.join(" "));
    let status = Process::new(&binary)
        .args(&card.metric.command)
        .arg("--metrics-json")
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "{} {} failed ({status})",
        card.app,
        card.metric.command.join(" ")
    );
    let text = std::fs::read_to_string(&json)?;
    let _ = std::fs::remove_file(&json);
    let metrics: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)?;
    metrics.get(&card.metric.key).and_then(|v| v.as_f64()).ok_or_else(|| {
        anyhow::anyhow!("{} wrote no {:?} (it wrote {text})", card.app, card.metric.key)
    })
}
