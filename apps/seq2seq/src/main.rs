//! `seq2seq`: train a German→English translator with attention, translate, evaluate with BLEU.
//! See the crate's README for the model, the data, the commands and the measured results.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dl_core::nn::CellKind;
use dl_core::optim::StepSchedule;
use harness::cli::{DeviceArg, OptimizerArgs, RunArgs, StepScheduleArgs};
use seq2seq::data::{self, Direction, Example};
use seq2seq::evaluate;
use seq2seq::infer::{self, Decoding, Translation, Translator};
use seq2seq::lexicon::Lexicon;
use seq2seq::model::AttentionKind;
use seq2seq::tokenize::TokenizerKind;
use seq2seq::train::{self, RunOptions, TrainConfig};
use seq2seq::{bench, bleu};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// A German→English translator: a bidirectional recurrent encoder, an attentive decoder,
/// beam search and BLEU, trained on the Ding dictionary's sentence pairs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; writes a run directory with config, tokenizers, metrics, checkpoints.
    Train(Box<TrainArgs>),
    /// Translate sentences given as arguments, or one per line on stdin.
    Translate {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint); repeat it to decode with an ensemble of models that share
        /// vocabularies.
        #[arg(long, required = true, value_name = "PATH")]
        checkpoint: Vec<PathBuf>,
        /// Sentences to translate; none: read lines from stdin.
        sentences: Vec<String>,
        #[command(flatten)]
        decoding: DecodingArgs,
        #[command(flatten)]
        unknown: UnknownWordArgs,
        /// Write the attention of the (first) sentence as a heatmap to this PNG.
        #[arg(long, value_name = "FILE.png")]
        attention_png: Option<PathBuf>,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Corpus BLEU (greedy and beam) and loss on the test split, or on any pair file.
    Eval {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint); repeat it to decode with an ensemble of models that share
        /// vocabularies.
        #[arg(long, required = true, value_name = "PATH")]
        checkpoint: Vec<PathBuf>,
        /// `English<TAB>German` file to score, whole; default: the run's test split.
        #[arg(long, value_name = "FILE.tsv")]
        pairs: Option<PathBuf>,
        /// Which split of the run's own pairs: test or valid.
        #[arg(long, default_value = "test")]
        split: String,
        /// Beam width of the beam-search score.
        #[arg(long, default_value_t = 5)]
        beam: usize,
        /// Length normalisation exponent of beam scores.
        #[arg(long, default_value_t = 1.0)]
        alpha: f64,
        /// Examples to print.
        #[arg(long, default_value_t = 5)]
        examples: usize,
        /// Also write the BLEU scores (greedy, beam) and the loss as JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        metrics_json: Option<PathBuf>,
        #[command(flatten)]
        unknown: UnknownWordArgs,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// The trained models that ship with the workspace, with their cards' numbers.
    Models,
    /// Average the weights of checkpoints of one model (e.g. a run's `checkpoints/epoch-N`, kept
    /// with `train --keep-last-epochs N`) into one checkpoint for `translate` and `eval`.
    Average {
        /// A checkpoint file or run directory; at least two.
        #[arg(long, required = true, value_name = "PATH")]
        checkpoint: Vec<PathBuf>,
        /// The averaged checkpoint to write (`NAME.safetensors`, with its sidecar `NAME.json`).
        #[arg(long, value_name = "FILE.safetensors")]
        out: PathBuf,
    },
    /// The demo tour: the shipped `de-en` model (where it does not ship, `multi30k`, on five
    /// image captions) translates five German sentences (beam 5) and draws the attention of the
    /// first (runs/demo/attention.png).
    Demo {
        /// Train a small model from scratch first (for `--seconds`), as before models shipped.
        #[arg(long)]
        train: bool,
        /// Seconds of training with `--train`.
        #[arg(long, default_value_t = 120.0)]
        seconds: f64,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Time a fixed training step (biGRU 256 encoder, GRU 512 Bahdanau decoder).
    Bench {
        #[command(flatten)]
        device: DeviceArg,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Untimed warm-up steps.
        #[arg(long, default_value_t = 3)]
        warmup: u32,
        /// Timed steps.
        #[arg(long, default_value_t = 20)]
        steps: u32,
        /// fp32, or bf16 (the forward pass under libtorch's autocast).
        #[arg(long, default_value = "fp32", value_parser = harness::cli::parse_precision)]
        precision: dl_core::precision::Precision,
    },
}

#[derive(clap::Args)]
struct DecodingArgs {
    /// Beam width.
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Greedy decoding instead of beam search.
    #[arg(long, conflicts_with = "beam")]
    greedy: bool,
    /// Length normalisation exponent: beam scores are log-probability / length^alpha.
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
}

impl DecodingArgs {
    fn decoding(&self) -> Result<Decoding> {
        if !self.greedy && self.beam == 0 {
            bail!("--beam must be at least 1 (or use --greedy)");
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            bail!("--alpha must be a non-negative number, got {}", self.alpha);
        }
        Ok(Decoding { beam: if self.greedy { 0 } else { self.beam }, alpha: self.alpha })
    }
}

#[derive(clap::Args)]
struct UnknownWordArgs {
    /// Word-level models: write an output `[UNK]` as the Ding dictionary's translation of the
    /// source word it looked at (false: copy that word if it is unknown too, else drop it)
    /// [default: true for models of the Ding data, false for others, so that a benchmark
    /// model's numbers use no data beyond the benchmark's].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    unk_dictionary: Option<bool>,
    /// The dictionary file (`German :: English` lines) [default: fetched into the data cache].
    #[arg(long, value_name = "FILE")]
    dictionary_file: Option<PathBuf>,
}

impl UnknownWordArgs {
    /// Gives `translator` the dictionary's word translations, if it writes words and they
    /// are wanted.
    fn apply(&self, translator: &mut Translator) -> Result<()> {
        let wanted = self.unk_dictionary.unwrap_or(translator.config.data == "ding");
        if !(wanted && translator.writes_words()) {
            return Ok(());
        }
        let pairs = data::read_dictionary(self.dictionary_file.as_ref()).context(
            "the dictionary for unknown words is missing (pass --unk-dictionary false to copy \
             them instead)",
        )?;
        let lexicon = Lexicon::new(&pairs, translator.info.direction);
        tracing::info!("unknown words: {} dictionary words with a translation", lexicon.len());
        translator.lexicon = Some(lexicon);
        Ok(())
    }
}

/// Training flags; each overrides the `--config` file, which overrides the defaults.
#[derive(clap::Args, Serialize)]
struct TrainArgs {
    /// The sentence pairs: ding (the embedded Ding pairs, split by a stable hash) or multi30k
    /// (its official splits, fetched; no dictionary data, cased) [default: ding].
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    /// `English<TAB>German` pair file to split instead of the Ding pairs.
    #[arg(long, value_name = "FILE.tsv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pairs: Option<PathBuf>,
    /// Official splits as `English<TAB>German` files: training (with --valid and --test).
    #[arg(long, value_name = "FILE.tsv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    train: Option<PathBuf>,
    /// The validation file that goes with --train.
    #[arg(long, value_name = "FILE.tsv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    valid: Option<PathBuf>,
    /// The test file that goes with --train.
    #[arg(long, value_name = "FILE.tsv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<PathBuf>,
    /// de-en or en-de [default: de-en].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<Direction>,
    /// Add the Ding dictionary's word and phrase pairs to the training data [default: true].
    /// `--dictionary false` trains on the sentence pairs alone.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dictionary: Option<bool>,
    /// The dictionary file (`German :: English` lines) [default: fetched into the data cache].
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dictionary_file: Option<PathBuf>,
    /// Dictionary pairs per sentence pair in each epoch, drawn afresh [default: 2].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    dictionary_ratio: Option<f64>,
    /// char, word, bpe or unigram [default: word].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tokenizer: Option<TokenizerKind>,
    /// Tokens per language (the target's; the source's too unless --src-vocab-size) [default:
    /// 8000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    vocab_size: Option<usize>,
    /// Tokens of the source language, if not --vocab-size [default: --vocab-size].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    src_vocab_size: Option<usize>,
    /// Lowercase both languages [default: true].
    #[arg(long, value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    lowercase: Option<bool>,
    /// Longest training sentence in tokens [default: 60].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_len: Option<usize>,
    /// gru or lstm (rnn works too) [default: gru].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<CellKind>,
    /// Embedding size [default: 256].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding: Option<i64>,
    /// Hidden size of each encoder direction [default: 256].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    encoder_hidden: Option<i64>,
    /// Hidden size of the decoder [default: 512].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    decoder_hidden: Option<i64>,
    /// Stacked recurrent layers [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<i64>,
    /// none, bahdanau or luong [default: bahdanau].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    attention: Option<AttentionKind>,
    /// Size of Bahdanau's attention layer [default: 256].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    attention_dim: Option<i64>,
    /// Dropout [default: 0.3].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    dropout: Option<f64>,
    /// Width of a tanh read-out layer before the output projection, 0 for none [default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    readout: Option<i64>,
    /// Share the target embedding with the output projection; needs --readout equal to
    /// --embedding [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    tie_embeddings: Option<bool>,
    /// Teacher forcing ratio; below 1 the model's own guesses are fed back [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    teacher_forcing: Option<f64>,
    /// Label smoothing [default: 0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    label_smoothing: Option<f64>,
    /// Probability of replacing a source token by [UNK] while training [default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    word_dropout: Option<f64>,
    /// Sentence pairs per batch, where --batch-tokens is 0 [default: 64].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    /// Fill batches up to this many padded tokens instead of --batch-size pairs (many short
    /// dictionary entries, few long sentences); 0 for batches of --batch-size pairs
    /// [default: 1024].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_tokens: Option<usize>,
    /// Passes over the training data [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<u64>,
    /// Optimizer and its settings [default: adam, lr 0.001].
    #[command(flatten)]
    #[serde(skip_serializing_if = "OptimizerArgs::is_empty")]
    optimizer: OptimizerArgs,
    /// Learning-rate schedule.
    #[command(flatten)]
    #[serde(skip_serializing_if = "StepScheduleArgs::is_empty")]
    schedule: StepScheduleArgs,
    /// Largest global gradient norm, 0 for no clipping [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    clip: Option<f64>,
    /// Keep the weights after each of the last N epochs as `checkpoints/epoch-N`, for
    /// `seq2seq average` [default: 0].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_last_epochs: Option<u64>,
    #[command(flatten)]
    #[serde(skip)]
    run: RunArgs,
}

fn main() {
    harness::cli::main(run);
}

fn print_translation(source: &str, t: &Translation) {
    println!("{source}\n  => {}", t.text);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => {
            let common = &args.run;
            harness::cli::init(common.quiet);
            let overrides = common.overrides(&args);
            // The data picks the defaults.
            let config = harness::config::resolve_chosen(
                &TrainConfig::default(),
                common.config.as_deref(),
                &overrides,
                |chosen: &TrainConfig| Ok(TrainConfig::defaults_for(&chosen.data)),
            )?;
            if common.printed(&config)? {
                return Ok(());
            }
            let options = common.options()?;
            train::train(config, &options)?;
        }
        Command::Translate { checkpoint, sentences, decoding, unknown, attention_png, device } => {
            harness::cli::init(true);
            let decoding = decoding.decoding()?;
            let mut translator = Translator::load_ensemble(&checkpoint, device.resolve()?)?;
            unknown.apply(&mut translator)?;
            if !sentences.is_empty() {
                let translations = translator.translate(&sentences, decoding);
                for (s, t) in sentences.iter().zip(&translations) {
                    print_translation(s, t);
                }
                if let (Some(path), Some(t)) = (attention_png, translations.first()) {
                    t.save_attention(&path)?;
                    eprintln!("wrote {}", path.display());
                }
                return Ok(());
            }
            if attention_png.is_some() {
                bail!("--attention-png needs the sentence as an argument");
            }
            translate_stdin(&translator, decoding)?;
        }
        Command::Models => print!("{}", harness::models::table(seq2seq::APP)?),
        Command::Eval {
            checkpoint,
            pairs,
            split,
            beam,
            alpha,
            examples,
            metrics_json,
            unknown,
            device,
        } => {
            harness::cli::init(false);
            anyhow::ensure!(beam >= 1, "--beam must be at least 1");
            let mut translator = Translator::load_ensemble(&checkpoint, device.resolve()?)?;
            unknown.apply(&mut translator)?;
            let (name, set) = eval_set(&translator, pairs.as_ref(), &split)?;
            let models = match translator.partners.len() {
                0 => format!("epoch {}", translator.epoch),
                n => format!("an ensemble of {} models", n + 1),
            };
            println!("{name}: {} pairs, {}, {models}", set.len(), translator.info.direction);
            let mut metrics = Vec::new();
            for (label, decoding) in
                [("greedy", Decoding::GREEDY), ("beam", Decoding { beam, alpha })]
            {
                let started = std::time::Instant::now();
                let eval = evaluate::evaluate(&translator, &set, decoding);
                let label =
                    if decoding.beam > 0 { format!("{label} {beam}") } else { label.into() };
                println!(
                    "{label}: {} (lowercased; loss {:.3} nats/token, perplexity {:.2}, {:.1} s)",
                    eval.bleu,
                    eval.loss,
                    eval.loss.exp(),
                    started.elapsed().as_secs_f64()
                );
                println!("{label}: sacreBLEU {} ({})", eval.bleu_cased, bleu::signature(false));
                println!(
                    "{label}: tutorial protocol {} (lower-cased word tokens)",
                    eval.bleu_words
                );
                let keys = match decoding.beam > 0 {
                    true => ["bleu_beam", "sacrebleu_beam", "tutorial_bleu_beam"],
                    false => ["bleu_greedy", "sacrebleu_greedy", "tutorial_bleu_greedy"],
                };
                metrics.extend([
                    (keys[0], eval.bleu.score),
                    (keys[1], eval.bleu_cased.score),
                    (keys[2], eval.bleu_words.score),
                    ("loss", eval.loss),
                    ("perplexity", eval.loss.exp()),
                ]);
            }
            if let Some(path) = metrics_json {
                harness::models::write_metrics(&path, &metrics)?;
            }
            let shown: Vec<&Example> = set.iter().take(examples).collect();
            let sources: Vec<&str> = shown.iter().map(|e| e.source.as_str()).collect();
            for (e, t) in shown.iter().zip(translator.translate(&sources, Decoding { beam, alpha }))
            {
                println!(
                    "\n  source:    {}\n  reference: {}\n  beam {beam}:    {}",
                    e.source, e.target, t.text
                );
            }
        }
        Command::Average { checkpoint, out } => {
            harness::cli::init(true);
            anyhow::ensure!(
                out.extension().is_some_and(|e| e == "safetensors"),
                "--out must name a .safetensors file, got {}",
                out.display()
            );
            let n = infer::average(&checkpoint, &out)?;
            println!("averaged {n} checkpoints into {}", out.display());
        }
        Command::Demo { train, seconds, device } => {
            harness::cli::init(false);
            anyhow::ensure!(seconds > 0.0, "--seconds must be positive");
            let device = device.resolve()?;
            // Everyday sentences for a model of the Ding pairs; image captions for one of Multi30k.
            let everyday = [
                "Wo ist der Bahnhof?",
                "Das Wetter ist heute schön.",
                "Ich habe keine Zeit.",
                "Kannst du mir bitte helfen?",
                "Wir essen heute Abend bei meinen Eltern.",
            ];
            let captions = [
                "Ein Mann fährt mit dem Fahrrad die Straße hinunter.",
                "Zwei Hunde spielen im Schnee.",
                "Eine Frau sitzt auf einer Bank und liest ein Buch.",
                "Kinder spielen Fußball auf einer Wiese.",
                "Ein Mann mit einem roten Hut spielt Gitarre.",
            ];
            let (translator, out, sentences) = if train {
                let options =
                    RunOptions { max_minutes: Some(seconds / 60.0), ..RunOptions::new(device) };
                let summary = train::train(demo_config(), &options)?;
                (Translator::load(&summary.dir, device)?, summary.dir, everyday)
            } else {
                // `de-en` where it ships, else the Multi30k translator.
                let shipped = harness::models::cards_of(seq2seq::APP)?;
                let name =
                    if shipped.iter().any(|c| c.name == "de-en") { "de-en" } else { "multi30k" };
                let Some(card) = harness::models::for_demo(seq2seq::APP, name)? else {
                    return Ok(());
                };
                println!("the shipped model `{name}`: {}", card.summary);
                let sentences = if name == "de-en" { everyday } else { captions };
                let translator = Translator::load(&card.checkpoint_path(), device)?;
                (translator, harness::models::demo_dir()?, sentences)
            };
            let translations = translator.translate(&sentences, Decoding { beam: 5, alpha: 1.0 });
            for (s, t) in sentences.iter().zip(&translations) {
                print_translation(s, t);
            }
            let png = out.join("attention.png");
            translations[0].save_attention(&png)?;
            println!("attention of the first sentence: {}", png.display());
        }
        Command::Bench { device, threads, warmup, steps, precision } => {
            harness::cli::init(false);
            anyhow::ensure!(threads > 0 && steps > 0, "--threads and --steps must be at least 1");
            let device = device.resolve()?;
            let tokens_per_s = bench::run(device, threads, warmup, steps, precision)
                .context("benchmark failed")?;
            println!(
                "biGRU 256 encoder, GRU 512 Bahdanau decoder, vocabularies 8000, batch {} x {}, \
                 {steps} steps on {device:?}, {threads} threads, {precision}",
                bench::BATCH,
                bench::LEN
            );
            println!("bench: app=seq2seq metric=train_tokens_per_s value={tokens_per_s:.0} unit=tokens/s precision={precision}");
        }
    }
    Ok(())
}

/// The pairs `eval` scores: a file (whole), or the run's own validation or test split.
fn eval_set(
    translator: &Translator,
    pairs: Option<&PathBuf>,
    split: &str,
) -> Result<(String, Vec<Example>)> {
    let direction = translator.info.direction;
    if let Some(path) = pairs {
        let pairs = data::read_pairs(Some(path))?;
        return Ok((
            path.display().to_string(),
            pairs.iter().map(|p| data::orient(p, direction)).collect(),
        ));
    }
    let corpus = data::Source::of(&translator.config)?.corpus(direction)?;
    match split {
        "test" => Ok(("test split".into(), corpus.test)),
        "valid" => Ok(("validation split".into(), corpus.valid)),
        other => bail!("unknown split {other:?}: expected test or valid"),
    }
}

/// Translates stdin line by line; with a terminal, prompts for each line.
fn translate_stdin(translator: &Translator, decoding: Decoding) -> Result<()> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut out = std::io::stdout().lock();
    let direction: Direction = translator.info.direction;
    if interactive {
        writeln!(out, "{direction} translator: one sentence per line, Ctrl-D to quit")?;
    }
    loop {
        if interactive {
            write!(out, "> ")?;
            out.flush()?;
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let t = translator.translate(&[line], decoding).swap_remove(0);
        writeln!(out, "{}", t.text)?;
    }
    Ok(())
}

/// The small model `demo --train` trains for two minutes: BPE 2000, narrow layers, no dictionary.
fn demo_config() -> TrainConfig {
    TrainConfig {
        embedding: 128,
        encoder_hidden: 128,
        decoder_hidden: 256,
        attention_dim: 128,
        dictionary: false,
        tokenizer: TokenizerKind::Bpe,
        vocab_size: 2000,
        batch_tokens: 0,
        epochs: 100,
        optimizer: dl_core::optim::OptimizerConfig::adam(3e-3),
        schedule: StepSchedule::Constant,
        ..TrainConfig::default()
    }
}
