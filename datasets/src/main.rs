//! `datasets`: list, fetch, verify, inspect, export and look at the showcases' data.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use datasets::text::SplitSpec;
use datasets::{fetch, pairs, vendored, Dataset, ImageSet, Split};
use std::path::{Path, PathBuf};

/// Real data for the deep-learning showcases: fetched, verified, loaded.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Directory datasets are cached in (default: $DL_SHOWCASES_DATA, else
    /// ~/.cache/dl-showcases/data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every dataset: whether it is available, its size and licence.
    List,
    /// Fetch a dataset (or `all`) into the cache, verifying checksums.
    Fetch {
        /// Dataset name (see `list`) or `all`.
        name: String,
        /// Import the files from this directory (searched by file name, gzipped or not, at any
        /// depth) instead of downloading them; the same checksums are checked.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Check a dataset's files against their recorded checksums and load them.
    Verify {
        /// Dataset name (see `list`) or `all`.
        name: String,
    },
    /// Counts, shapes and class balance (or text and pair statistics).
    Info {
        /// Dataset name (see `list`), or an image set as h5:FILE or folder:DIR.
        name: String,
    },
    /// Export an image dataset split to HDF5 (`images`, `labels`, attribute `classes`).
    Export {
        /// Image dataset name (mnist, fashion-mnist, cifar10), or folder:DIR.
        name: String,
        /// The .h5 file to write.
        #[arg(long, value_name = "FILE")]
        h5: PathBuf,
        /// Which split: train or test.
        #[arg(long, default_value = "train")]
        split: Split,
    },
    /// Write one example as a PNG image.
    Show {
        /// Dataset name (mnist, fashion-mnist, cifar10, images).
        name: String,
        /// Index of the example.
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// The PNG file to write.
        #[arg(long, value_name = "FILE")]
        png: PathBuf,
        /// Which split: train or test.
        #[arg(long, default_value = "train")]
        split: Split,
    },
}

/// Progress of downloads on stderr (`RUST_LOG` overrides the level), and the default SIGPIPE
/// behaviour so that `datasets list | head` ends quietly. (The apps get the same from the
/// harness; this crate depends on no harness.)
fn init_logging() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default has no preconditions; no other
    // thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = fetch::data_dir(cli.data_dir.as_deref());
    match cli.command {
        Command::List => list(&data_dir),
        Command::Fetch { name, from } => {
            for d in selected(&name)? {
                if let Some(dir) = &from {
                    if d.is_fetched() {
                        d.fetch_from(&data_dir, dir)?;
                        println!("{d}: in {}", d.dir(&data_dir).display());
                    }
                } else if d.is_fetched() {
                    d.fetch(&data_dir)?;
                    println!("{d}: in {}", d.dir(&data_dir).display());
                } else {
                    println!("{d}: embedded in the crate, nothing to fetch");
                }
            }
            Ok(())
        }
        Command::Verify { name } => {
            for d in selected(&name)? {
                if name == "all" && d.is_fetched() && !d.is_cached(&data_dir) {
                    println!("{d}: not cached, skipped");
                    continue;
                }
                d.verify(&data_dir)?;
                println!("{d}: ok");
            }
            Ok(())
        }
        Command::Info { name } => match external(&name)? {
            Some(set) => {
                print_image_set(&name, None, &set);
                Ok(())
            }
            None => info(name.parse()?, &data_dir),
        },
        Command::Export { name, h5, split } => {
            let set = match external(&name)? {
                Some(set) => set,
                None => name.parse::<Dataset>()?.load_images(&data_dir, split)?,
            };
            datasets::h5::export(&set, &h5)?;
            println!(
                "wrote {} ({} {split} examples, images {:?})",
                h5.display(),
                set.len(),
                set.images.size()
            );
            Ok(())
        }
        Command::Show { name, index, png, split } => {
            show(name.parse()?, &data_dir, index, &png, split)
        }
    }
}

/// An image set given as `h5:FILE` or `folder:DIR` (the syntax of the apps' `--dataset`).
fn external(name: &str) -> Result<Option<ImageSet>> {
    if let Some(file) = name.strip_prefix("h5:") {
        return Ok(Some(datasets::h5::import(Path::new(file))?));
    }
    if let Some(dir) = name.strip_prefix("folder:") {
        return Ok(Some(datasets::folder::load(Path::new(dir), Default::default())?));
    }
    Ok(None)
}

fn selected(name: &str) -> Result<Vec<Dataset>> {
    Ok(if name == "all" { Dataset::ALL.to_vec() } else { vec![name.parse()?] })
}

fn list(data_dir: &Path) -> Result<()> {
    println!("{:<14} {:<11} {:>9}  {:<48} licence", "name", "status", "size", "description");
    for d in Dataset::ALL {
        let (status, bytes) = if d.is_fetched() {
            let dir = d.dir(data_dir);
            let size: u64 = d
                .files()
                .iter()
                .filter_map(|f| fetch::present(&dir, f.name))
                .filter_map(|p| p.metadata().ok())
                .map(|m| m.len())
                .sum();
            (if d.is_cached(data_dir) { "cached" } else { "not cached" }, size)
        } else {
            ("embedded", d.vendored_files().iter().map(|v| v.stored.len() as u64).sum())
        };
        let size =
            if bytes == 0 { "-".to_string() } else { format!("{:.1} MB", bytes as f64 / 1e6) };
        println!(
            "{:<14} {:<11} {:>9}  {:<48} {}",
            d.name(),
            status,
            size,
            d.description(),
            d.licence()
        );
    }
    println!("cache: {}", data_dir.display());
    Ok(())
}

fn info(d: Dataset, data_dir: &Path) -> Result<()> {
    match d {
        Dataset::Austen => {
            let corpus = vendored::austen()?;
            let split = corpus.split(SplitSpec::default())?;
            let chars = |blocks: &[String]| blocks.iter().map(|b| b.chars().count()).sum::<usize>();
            println!(
                "austen: {} files, {} characters, {} lines",
                corpus.sources.len(),
                corpus.text.chars().count(),
                corpus.text.lines().count()
            );
            let mut alphabet: Vec<char> = corpus.text.chars().collect();
            alphabet.sort_unstable();
            alphabet.dedup();
            println!("distinct characters: {}", alphabet.len());
            println!(
                "split (100 blocks): train {} chars in {} blocks, valid {} in {}, test {} in {}",
                chars(&split.train),
                split.train.len(),
                chars(&split.valid),
                split.valid.len(),
                chars(&split.test),
                split.test.len()
            );
        }
        Dataset::DingDict => {
            let text = datasets::registry::ding_text(data_dir)?;
            let dict = datasets::ding::parse(&text);
            println!(
                "ding-dict: {} entries ({} skipped), {} German-English word and phrase pairs",
                dict.entries,
                dict.skipped,
                dict.pairs.len()
            );
            for p in dict.pairs.iter().step_by((dict.pairs.len() / 5).max(1)).take(5) {
                println!("  {} :: {}", p.first, p.second);
            }
        }
        Dataset::Vgg19 => {
            let path = datasets::registry::vgg19_weights(data_dir)?;
            let tensors = datasets::vgg19::load(&path)?;
            let params: i64 = tensors.iter().map(|(_, t)| t.numel() as i64).sum();
            println!("vgg19: {} tensors, {params} parameters, {}", tensors.len(), path.display());
            for (paper, _, index, inputs, outputs) in datasets::vgg19::CONVS {
                let w = &tensors.iter().find(|(n, _)| *n == format!("features.{index}.weight"));
                let std = w.map_or(f64::NAN, |(_, t)| t.std(true).double_value(&[]));
                println!("  {paper:<8} features.{index:<2} {inputs:>3} -> {outputs:<3} weight std {std:.4}");
            }
        }
        Dataset::EnDe => {
            let all = vendored::en_de()?;
            let split = pairs::split(&all, 0.05, 0.05)?;
            let words = |f: &dyn Fn(&pairs::Pair) -> &str| {
                all.iter().map(|p| f(p).split_whitespace().count()).sum::<usize>() as f64
                    / all.len() as f64
            };
            println!(
                "en-de: {} pairs, {:.1} English and {:.1} German words on average",
                all.len(),
                words(&|p| &p.first),
                words(&|p| &p.second)
            );
            println!(
                "split (stable hash, 5% valid, 5% test): train {}, valid {}, test {}",
                split.train.len(),
                split.valid.len(),
                split.test.len()
            );
        }
        Dataset::Multi30k => {
            d.fetch(data_dir)?;
            let split = pairs::multi30k(&d.dir(data_dir))?;
            for (name, set) in
                [("train", &split.train), ("val", &split.valid), ("test 2016", &split.test)]
            {
                let words = |f: &dyn Fn(&pairs::Pair) -> &str| {
                    set.iter().map(|p| f(p).split_whitespace().count()).sum::<usize>() as f64
                        / set.len() as f64
                };
                println!(
                    "multi30k {name}: {} pairs, {:.1} English and {:.1} German words on average",
                    set.len(),
                    words(&|p| &p.first),
                    words(&|p| &p.second)
                );
            }
        }
        Dataset::TinyShakespeare => {
            let text = vendored::tiny_shakespeare()?.text;
            let chars: Vec<char> = text.chars().collect();
            let mut alphabet = chars.clone();
            alphabet.sort_unstable();
            alphabet.dedup();
            let train = chars.len() * 9 / 10;
            println!(
                "tinyshakespeare: {} characters, {} lines, {} distinct characters; nanoGPT's \
                 split: the first {train} train, the last {} validation",
                chars.len(),
                text.lines().count(),
                alphabet.len(),
                chars.len() - train
            );
        }
        Dataset::Images => {
            for v in vendored::IMAGES {
                let img = vendored::image(v.name)?;
                println!("{:<18} {}x{} {:?}", v.name, img.width(), img.height(), img.color());
            }
        }
        _ => {
            for split in [Split::Train, Split::Test] {
                let set = d.load_images(data_dir, split)?;
                print_image_set(d.name(), Some(split), &set);
            }
        }
    }
    Ok(())
}

fn print_image_set(name: &str, split: Option<Split>, set: &ImageSet) {
    let [c, h, w] = set.image_shape();
    let split = split.map(|s| format!(" {s}")).unwrap_or_default();
    println!("{name}{split}: {} images of {c}x{h}x{w}, {} classes", set.len(), set.classes.len());
    for (class, count) in set.classes.iter().zip(set.class_counts()) {
        println!("  {class:<12} {count:>6}  {:5.2}%", 100.0 * count as f64 / set.len() as f64);
    }
}

fn show(d: Dataset, data_dir: &Path, index: usize, png: &Path, split: Split) -> Result<()> {
    let img = if d == Dataset::Images {
        let v = vendored::IMAGES.get(index).with_context(|| {
            format!("index {index} is out of range: there are {} images", vendored::IMAGES.len())
        })?;
        vendored::image(v.name)?
    } else {
        let set = d.load_images(data_dir, split)?;
        if index >= set.len() {
            bail!("index {index} is out of range: {d} {split} has {} examples", set.len());
        }
        let [c, h, w] = set.image_shape();
        let pixels = Vec::<u8>::try_from(
            &set.images.get(index as i64).permute([1, 2, 0]).contiguous().view([-1]),
        )?;
        let label = set.labels.int64_value(&[index as i64]) as usize;
        println!("{d} {split} #{index}: label {label} ({})", set.classes[label]);
        match c {
            1 => image::DynamicImage::ImageLuma8(
                image::GrayImage::from_raw(w as u32, h as u32, pixels).context("image buffer")?,
            ),
            _ => image::DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(w as u32, h as u32, pixels).context("image buffer")?,
            ),
        }
    };
    img.save(png).with_context(|| format!("cannot write {}", png.display()))?;
    println!("wrote {}", png.display());
    Ok(())
}
