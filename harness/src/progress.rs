//! Progress of long loops: a bar with throughput on a terminal, a plain line every so often
//! otherwise (logs, CI), nothing with `--quiet`. Written to stderr, so stdout keeps results.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Progress over `total` units of work (steps, batches, examples).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: String,
    total: u64,
    done: u64,
    every: u64,
    quiet: bool,
    started: Instant,
}

impl Progress {
    /// Starts a progress report for `total` units named `unit` (e.g. `"steps"`).
    pub fn new(label: &str, total: u64, unit: &str, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let template = format!(
                "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}} {{msg}}"
            );
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar
        });
        Progress {
            bar,
            label: label.to_string(),
            unit: unit.to_string(),
            total,
            done: 0,
            every: (total / 20).max(1),
            quiet,
            started: Instant::now(),
        }
    }

    /// Records `n` more units done, with a status message (e.g. the running loss).
    pub fn inc(&mut self, n: u64, message: &str) {
        let before = self.done;
        self.done += n;
        match &self.bar {
            Some(bar) => {
                bar.set_message(message.to_string());
                bar.inc(n);
            }
            None if !self.quiet
                && (before / self.every != self.done / self.every || self.done == self.total) =>
            {
                let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                let pct = 100.0 * self.done as f64 / self.total.max(1) as f64;
                eprintln!(
                    "{}: {}/{} {} ({pct:.0}%) {rate:.1} {}/s {message}",
                    self.label, self.done, self.total, self.unit, self.unit
                );
            }
            None => {}
        }
    }

    /// Prints a line above the bar (or on its own line without one).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// Units per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
