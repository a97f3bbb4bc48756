//! `gallery`: serves the showcases in the browser, on this machine, from the shipped models.

use anyhow::{bail, Context, Result};
use clap::Parser;
use gallery::{Gallery, Limits, Setup};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Every showcase in the browser: draw digits, stream Austen, translate German, repaint photos,
/// watch agents play, train a model and try it, step through backpropagation. Serves
/// http://HOST:PORT/ until Ctrl-C.
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
    /// Serve this dqn checkpoint or run directory too (repeatable).
    #[arg(long, value_name = "PATH")]
    agent: Vec<PathBuf>,
    /// VGG19 weights (safetensors) for style transfer and DeepDream [default: the fetched ones,
    /// as `datasets fetch vgg19` fetches them].
    #[arg(long, value_name = "FILE")]
    vgg: Option<PathBuf>,
    /// Where runs trained from the training page are written.
    #[arg(long, value_name = "DIR", default_value = "runs/gallery")]
    runs: PathBuf,
    /// Datasets folder [default: the data cache].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The images the training page's classifiers learn: mnist, fashion-mnist or h5:FILE.
    #[arg(long, value_name = "DATASET", default_value = "mnist")]
    train_dataset: String,
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
    harness::cli::ignore_broken_pipes();
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
    let setup = Setup {
        classifiers: cli.classifier,
        writers: cli.writer,
        translators: cli.translator,
        agents: cli.agent,
        vgg: cli.vgg,
        runs: Some(cli.runs),
        data: cli.data_dir,
        train_dataset: Some(cli.train_dataset),
    };
    let gallery = Arc::new(Gallery::load(&setup, device, limits)?);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::new(cli.host, cli.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        let catalogue = gallery.catalogue();
        let count = catalogue.len();
        println!("gallery: {count} models on {device:?}; open http://{bound}/ (Ctrl-C stops)");
        axum::serve(listener, gallery::router(gallery))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
