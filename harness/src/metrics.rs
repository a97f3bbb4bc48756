//! `metrics.jsonl`: one JSON object per logged step, the record every plot is drawn from.

use dl_core::fs::write_atomic;
use dl_core::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Optimizer step the values belong to.
    pub step: u64,
    /// Seconds since the run started (cumulative over resumptions).
    pub time: f64,
    /// The logged values; non-finite values are written as `null` and read back as NaN.
    pub values: BTreeMap<String, f64>,
}

/// Appends records to a `metrics.jsonl` file, one flushed line each.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(MetricsLog { path: path.to_path_buf(), file })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record.
    pub fn log(&mut self, step: u64, time: f64, values: &[(&str, f64)]) -> Result<()> {
        let mut obj = Map::new();
        obj.insert("step".into(), Value::from(step));
        obj.insert("time".into(), number((time * 1000.0).round() / 1000.0));
        for (key, value) in values {
            obj.insert((*key).to_string(), number(*value));
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(|e| Error::io(&self.path, e))
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}

/// Reads every record of a `metrics.jsonl` file. A malformed line is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut records = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: &str| Error::bad_file(path, format!("line {}: {why}", i + 1));
        let obj: Map<String, Value> = match serde_json::from_str(line) {
            Ok(obj) => obj,
            // A last line without its newline is a write the process was killed in: the
            // record is lost, the file is not corrupt.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(bad(&format!("not a JSON object ({e})"))),
        };
        let step =
            obj.get("step").and_then(Value::as_u64).ok_or_else(|| bad("no integer \"step\""))?;
        let time = obj.get("time").and_then(Value::as_f64).unwrap_or(f64::NAN);
        let values = obj
            .iter()
            .filter(|(k, _)| *k != "step" && *k != "time")
            .filter_map(|(k, v)| match v {
                Value::Number(n) => n.as_f64().map(|x| (k.clone(), x)),
                Value::Null => Some((k.clone(), f64::NAN)),
                _ => None,
            })
            .collect();
        records.push(Record { step, time, values });
    }
    Ok(records)
}

/// Drops the records after `step` (what a resumed run will log again), rewriting atomically.
pub fn truncate_after(path: &Path, step: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let records = read(path)?;
    let kept: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .zip(&records)
        .filter(|(_, r)| r.step <= step)
        .map(|(l, _)| format!("{l}\n"))
        .collect();
    write_atomic(path, kept.as_bytes()).map_err(|e| Error::io(path, e))
}
