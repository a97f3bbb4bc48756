//! `gallery`: serves the showcases in the browser, on this machine, from the shipped models.

use anyhow::{bail, Context, Result};
use clap::Parser;
use gallery::{Extra, Gallery, Limits};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Every showcase in the browser: draw digits, stream Austen, translate German, step through
/// backpropagation. Serves http://HOST:PORT/ until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "gallery", version)]
struct Cli {
    /// Address to listen on. The default answers this machine only; `--host 0.0.0.0` opens the
    /// gallery to your network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    #[command(flatten)]
    device: harness::cli::DeviceArg,
    /// Serve this cnn-classifier checkpoint or run directory too (repeatable).
    #[arg(long, value_name = "PATH")]
    classifier: Vec<PathBuf>,
    /// Serve this char-rnn checkpoint or run directory too (repeatable).
    #[arg(long, value_name = "PATH")]
    writer: Vec<PathBuf>,
    /// Serve this seq2seq checkpoint or run directory too (repeatable).
    #[arg(long, value_name = "PATH")]
    translator: Vec<PathBuf>,
    /// Largest upload, in megabytes.
    #[arg(long, default_value_t = 10.0, value_name = "MB")]
    max_upload_mb: f64,
    /// Largest width or height of an uploaded image, in pixels.
    #[arg(long, default_value_t = 8192, value_name = "PIXELS")]
    max_image_side: u32,
}

fn main() {
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    harness::cli::init(false);
    if !(cli.max_upload_mb > 0.0 && cli.max_upload_mb <= 1024.0) {
        bail!("--max-upload-mb must be above 0 and at most 1024, got {}", cli.max_upload_mb);
    }
    if !(1..=65_536).contains(&cli.max_image_side) {
        bail!("--max-image-side must be between 1 and 65536, got {}", cli.max_image_side);
    }
    let device = cli.device.resolve()?;
    let limits = Limits {
        upload_bytes: (cli.max_upload_mb * 1024.0 * 1024.0) as usize,
        image_side: cli.max_image_side,
    };
    let extra =
        Extra { classifiers: cli.classifier, writers: cli.writer, translators: cli.translator };
    let gallery = Arc::new(Gallery::load(&extra, device, limits)?);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::new(cli.host, cli.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        let catalogue = gallery.catalogue();
        let count =
            catalogue.classifiers.len() + catalogue.writers.len() + catalogue.translators.len();
        println!("gallery: {count} models on {device:?}; open http://{bound}/ (Ctrl-C stops)");
        axum::serve(listener, gallery::router(gallery))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
