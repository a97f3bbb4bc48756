//! Run directories: where a training run keeps its config, metrics, checkpoints and plots.
//!
//! ```text
//! runs/<app>/<YYYYMMDD-HHMMSS>/   (or --out DIR)
//!   config.toml      the resolved configuration
//!   metrics.jsonl    one JSON object per logged step
//!   checkpoints/     best.* and last.* (see the checkpoint module)
//!   plots/           PNG curves of every logged metric
//! ```

use crate::metrics::{self, MetricsLog};
use crate::plot;
use dl_core::fs::write_atomic;
use dl_core::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An open run directory.
#[derive(Debug)]
pub struct Run {
    dir: PathBuf,
    metrics: MetricsLog,
    started: Instant,
    /// Seconds already spent in earlier sessions of a resumed run.
    time_offset: f64,
}

impl Run {
    /// Creates a new run for `app`: in `out` if given (which must not already hold a run), else
    /// in `runs/<app>/<timestamp>`. Writes `config.toml`.
    pub fn create(app: &str, out: Option<&Path>, config: &impl Serialize) -> Result<Self> {
        let dir = match out {
            Some(dir) => {
                if dir.join("metrics.jsonl").exists() || dir.join("config.toml").exists() {
                    return Err(Error::Config(format!(
                        "{} already holds a run: write to another directory, or continue it with \
                         --resume {0} where the command offers it",
                        dir.display()
                    )));
                }
                dir.to_path_buf()
            }
            None => unique_dir(&Path::new("runs").join(app).join(timestamp())),
        };
        for sub in ["checkpoints", "plots"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        let toml = toml::to_string_pretty(config)
            .map_err(|e| Error::Config(format!("configuration cannot be written as TOML: {e}")))?;
        let path = dir.join("config.toml");
        write_atomic(&path, toml.as_bytes()).map_err(|e| Error::io(&path, e))?;
        let metrics = MetricsLog::open(&dir.join("metrics.jsonl"))?;
        Ok(Run { dir, metrics, started: Instant::now(), time_offset: 0.0 })
    }

    /// Reopens run `dir` to continue it from `step`: records logged after `step` (by a session
    /// that stopped before its next checkpoint) are dropped, as they will be logged again.
    pub fn resume(dir: &Path, step: u64) -> Result<Self> {
        let path = dir.join("metrics.jsonl");
        if !dir.join("config.toml").is_file() {
            return Err(Error::bad_file(dir, "not a run directory (it has no config.toml)"));
        }
        metrics::truncate_after(&path, step)?;
        let time_offset = match path.exists() {
            true => metrics::read(&path)?.last().map(|r| r.time).filter(|t| t.is_finite()),
            false => None,
        };
        let metrics = MetricsLog::open(&path)?;
        Ok(Run {
            dir: dir.to_path_buf(),
            metrics,
            started: Instant::now(),
            time_offset: time_offset.unwrap_or(0.0),
        })
    }

    /// Opens the run a training command works in: with `resume`, the run in that directory, its
    /// saved configuration (`config` is ignored) and its `last` checkpoint to load (none if it
    /// stopped before its first: it starts again); otherwise a new run for `config` (validate
    /// it first: this writes the directory).
    pub fn start<C: Serialize + DeserializeOwned>(
        app: &str,
        out: Option<&Path>,
        resume: Option<&Path>,
        config: C,
    ) -> Result<(C, Run, Option<PathBuf>)> {
        let Some(dir) = resume else {
            let run = Run::create(app, out, &config)?;
            return Ok((config, run, None));
        };
        let config: C = Run::read_config(dir)?;
        let last = dir.join("checkpoints").join("last.safetensors");
        dl_core::checkpoint::recover(&last)?;
        if !dl_core::checkpoint::Paths::of(&last).sidecar.is_file() {
            // Stopped before its first checkpoint: it starts again, in the same directory.
            let metrics = dir.join("metrics.jsonl");
            if metrics.exists() {
                std::fs::remove_file(&metrics).map_err(|e| Error::io(&metrics, e))?;
            }
            return Ok((config, Run::resume(dir, 0)?, None));
        }
        let sidecar = dl_core::checkpoint::read_sidecar(&last, app)?;
        Ok((config, Run::resume(dir, sidecar.step)?, Some(last)))
    }

    /// Reads the `config.toml` of run directory `dir`.
    pub fn read_config<T: DeserializeOwned>(dir: &Path) -> Result<T> {
        let path = dir.join("config.toml");
        if !path.is_file() {
            return Err(Error::bad_file(dir, "not a run directory (it has no config.toml)"));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        toml::from_str(&text)
            .map_err(|e| Error::bad_file(&path, format!("invalid configuration: {e}")))
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where checkpoint `name` (`best`, `last`, ...) of this run lives.
    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.dir.join("checkpoints").join(format!("{name}.safetensors"))
    }

    /// Seconds since the run started, over all its sessions.
    pub fn elapsed(&self) -> f64 {
        self.time_offset + self.started.elapsed().as_secs_f64()
    }

    /// Logs values at `step` to `metrics.jsonl`.
    pub fn log(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let time = self.elapsed();
        self.metrics.log(step, time, values)
    }

    /// Draws every logged metric into `plots/` (see [`plot::plot_metrics`]).
    pub fn plot(&self) -> Result<Vec<PathBuf>> {
        plot::plot_metrics(self.metrics.path(), &self.dir.join("plots"))
    }
}

/// What a training command needs besides its configuration: where to run and write, whether to
/// resume, and for how long. Built from the shared flags by [`crate::cli::RunArgs::options`].
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Device to train on.
    pub device: tch::Device,
    /// Run directory to create (default `runs/<app>/<timestamp>`).
    pub out: Option<PathBuf>,
    /// Run directory to continue.
    pub resume: Option<PathBuf>,
    /// Wall-clock budget.
    pub max_minutes: Option<f64>,
    /// No progress output.
    pub quiet: bool,
    /// Stops the run as a spent time budget does, when another thread asks (the gallery's
    /// cancel button).
    pub stop: StopSignal,
    /// The precision of the forward pass (`--precision`).
    pub precision: dl_core::precision::Precision,
}

impl RunOptions {
    /// A new run on `device` in `runs/<app>/<timestamp>`, without a time budget, with progress
    /// output (override fields with `RunOptions { max_minutes: ..., ..RunOptions::new(device) }`).
    pub fn new(device: tch::Device) -> Self {
        RunOptions {
            device,
            out: None,
            resume: None,
            max_minutes: None,
            quiet: false,
            stop: StopSignal::default(),
            precision: Default::default(),
        }
    }
}

/// A request to stop a run early, shared between threads: training treats it as its time
/// budget running out (it checkpoints and stops cleanly).
#[derive(Clone, Debug, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A wall-clock budget (`--max-minutes`), or a stop asked for by another thread: training
/// checks it and stops cleanly.
#[derive(Clone, Debug)]
pub struct Deadline(Option<Instant>, StopSignal);

impl Deadline {
    /// A deadline `minutes` from now, or none; `stop` ends it early.
    pub fn after_minutes(minutes: Option<f64>, stop: StopSignal) -> Result<Self> {
        match minutes {
            None => Ok(Deadline(None, stop)),
            Some(m) if m.is_finite() && m > 0.0 => {
                Ok(Deadline(Some(Instant::now() + Duration::from_secs_f64(m * 60.0)), stop))
            }
            Some(m) => {
                Err(Error::Config(format!("--max-minutes must be a positive number, got {m}")))
            }
        }
    }

    /// Whether the budget is spent.
    pub fn expired(&self) -> bool {
        self.1.stopped() || self.0.is_some_and(|t| Instant::now() >= t)
    }
}

/// `base`, or `base-2`, `base-3`, ... whichever does not exist yet.
fn unique_dir(base: &Path) -> PathBuf {
    let mut dir = base.to_path_buf();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

/// The current UTC time as `YYYYMMDD-HHMMSS`.
fn timestamp() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// Days since 1970-01-01 to a (year, month, day) date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
    }

    #[test]
    fn deadlines_reject_absurd_budgets() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Deadline::after_minutes(Some(bad), StopSignal::default()).is_err(), "{bad}");
        }
        assert!(!Deadline::after_minutes(None, StopSignal::default()).unwrap().expired());
        assert!(!Deadline::after_minutes(Some(10.0), StopSignal::default()).unwrap().expired());
    }

    #[test]
    fn a_stop_from_another_thread_ends_any_deadline() {
        let stop = StopSignal::default();
        let (unbounded, budget) = (
            Deadline::after_minutes(None, stop.clone()).unwrap(),
            Deadline::after_minutes(Some(10.0), stop.clone()).unwrap(),
        );
        std::thread::spawn(move || stop.stop()).join().unwrap();
        assert!(unbounded.expired() && budget.expired());
    }
}
