//! Checkpoints: model tensors in safetensors (PyTorch's parameter names, so `safetensors.torch`
//! loads them), the training state's tensors beside them, and a JSON sidecar with everything
//! else a run needs to continue exactly (config, step, epoch, seed, optimizer scalars, the
//! app's model description and training state).
//!
//! A checkpoint `NAME` is three files: `NAME.safetensors` (the model), `NAME.optim.safetensors`
//! (when saved with an optimizer: its tensors, and the app's state tensors under `state/`) and
//! `NAME.json` (the sidecar).
//!
//! Saving never leaves a torn checkpoint, wherever the process is killed: the new files are
//! written first as `NAME.next.*`, each atomically and the sidecar last, and only then renamed
//! over the old ones. A complete `NAME.next.json` means the new checkpoint is whole, so whoever
//! next opens `NAME` finishes the renames ([`recover`]); without it, the leftovers of the
//! interrupted save are removed and the previous checkpoint is intact.

use crate::fs::{temp_sibling, write_atomic};
use crate::optim::{Optimizer, OptimizerMeta};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// Version of the sidecar format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON sidecar of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Sidecar format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The app that wrote it; loading it into another app is refused.
    pub app: String,
    /// Optimizer updates made when it was saved.
    pub step: u64,
    /// Completed epochs when it was saved.
    pub epoch: u64,
    /// The run's seed (libtorch is reseeded from `(seed, step)`, so this is its RNG state).
    pub seed: u64,
    /// The resolved configuration of the run.
    pub config: serde_json::Value,
    /// The optimizer's scalar state, if it was saved with one.
    pub optimizer: Option<OptimizerMeta>,
    /// Metrics at the time of saving (e.g. the validation accuracy that made it the best).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// What the app needs to rebuild and use the model (vocabulary, shapes, classes).
    #[serde(default)]
    pub extra: serde_json::Value,
    /// The app's training state besides tensors (a data position, a Rust RNG, an episode):
    /// what a resumed run needs to go on exactly as if it had never stopped.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub state: serde_json::Value,
    /// The best value so far of the metric that chooses the run's best checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<f64>,
    /// Names of the app's state tensors saved with it (see [`save_with_state`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_tensors: Vec<String>,
}

impl Sidecar {
    /// A sidecar for `app` at `step`/`epoch` with the run's `seed` and `config`.
    pub fn new(
        app: &str,
        step: u64,
        epoch: u64,
        seed: u64,
        config: &impl Serialize,
    ) -> Result<Self> {
        let config = serde_json::to_value(config)
            .map_err(|e| Error::Config(format!("configuration cannot be serialised: {e}")))?;
        Ok(Sidecar {
            format: FORMAT_VERSION,
            app: app.to_string(),
            step,
            epoch,
            seed,
            config,
            optimizer: None,
            metrics: BTreeMap::new(),
            extra: serde_json::Value::Null,
            state: serde_json::Value::Null,
            best: None,
            state_tensors: Vec::new(),
        })
    }

    /// Whether the checkpoint has a `NAME.optim.safetensors` (optimizer or app state tensors).
    pub fn has_training_state(&self) -> bool {
        self.optimizer.is_some() || !self.state_tensors.is_empty()
    }

    /// The saved configuration, as the app's config type.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| Error::Config(format!("checkpoint configuration does not fit: {e}")))
    }
}

/// The three paths of the checkpoint whose model file is `path` (`NAME.safetensors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `NAME.safetensors`: the model's tensors.
    pub model: PathBuf,
    /// `NAME.optim.safetensors`: the optimizer's tensors.
    pub optimizer: PathBuf,
    /// `NAME.json`: the sidecar.
    pub sidecar: PathBuf,
}

impl Paths {
    /// The paths a save writes first (`NAME.next.*`), before renaming them over these.
    fn next(&self) -> Paths {
        let name = self.sidecar.file_name().map(|n| n.to_string_lossy().into_owned());
        let stem = name.as_deref().and_then(|n| n.strip_suffix(".json")).unwrap_or_default();
        Paths::of(&self.sidecar.with_file_name(format!("{stem}.next.json")))
    }

    /// The paths of checkpoint `path`, given as its `.safetensors` or `.json` file or its stem.
    pub fn of(path: &Path) -> Paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = name
            .strip_suffix(".optim.safetensors")
            .or_else(|| name.strip_suffix(".safetensors"))
            .or_else(|| name.strip_suffix(".json"))
            .unwrap_or(&name);
        Paths {
            model: path.with_file_name(format!("{stem}.safetensors")),
            optimizer: path.with_file_name(format!("{stem}.optim.safetensors")),
            sidecar: path.with_file_name(format!("{stem}.json")),
        }
    }
}

/// Prefix of the app's state tensors in `NAME.optim.safetensors`.
const STATE_PREFIX: &str = "state/";

/// Saves the model (every variable of `vs`), the optimizer state if given, and the sidecar.
/// `path` names the model file, `NAME.safetensors`.
pub fn save(
    path: &Path,
    vs: &VarStore,
    optimizer: Option<&Optimizer>,
    sidecar: &Sidecar,
) -> Result<()> {
    save_with_state(path, vs, optimizer, Vec::new(), sidecar)
}

/// [`save`], with tensors of the app's training state (a carried hidden state, an L-BFGS
/// history) stored beside the optimizer's in `NAME.optim.safetensors`, under `state/`; read
/// them back with [`load_to_resume`].
pub fn save_with_state(
    path: &Path,
    vs: &VarStore,
    optimizer: Option<&Optimizer>,
    state: Vec<(String, Tensor)>,
    sidecar: &Sidecar,
) -> Result<()> {
    let paths = Paths::of(path);
    if let Some(dir) = paths.model.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    recover(path)?;
    let next = paths.next();
    let mut sidecar = sidecar.clone();
    write_tensors(&next.model, vs.variables().into_iter().collect())?;
    sidecar.optimizer = optimizer.map(Optimizer::meta);
    sidecar.state_tensors = state.iter().map(|(name, _)| name.clone()).collect();
    if sidecar.has_training_state() {
        let mut tensors = optimizer.map(Optimizer::state_tensors).unwrap_or_default();
        tensors.extend(state.into_iter().map(|(n, t)| (format!("{STATE_PREFIX}{n}"), t)));
        write_tensors(&next.optimizer, tensors)?;
    }
    let json = serde_json::to_vec_pretty(&sidecar)
        .map_err(|e| Error::Config(format!("checkpoint sidecar cannot be serialised: {e}")))?;
    // The commit point: from here on the new checkpoint is whole and wins.
    write_atomic(&next.sidecar, &json).map_err(|e| Error::io(&next.sidecar, e))?;
    recover(path)
}

/// Finishes or discards a save of checkpoint `path` that was interrupted (see the module
/// documentation); does nothing when there is none. Only the process that writes the
/// checkpoint may call it (a training run, before it saves or resumes): readers only finish.
pub fn recover(path: &Path) -> Result<()> {
    if finish_interrupted_save(path)? {
        return Ok(());
    }
    // No complete `NAME.next.json`: whatever `NAME.next.*` exists (and the temporary files it
    // was being written through, `.NAME.next.*.tmp<pid>`) is the garbage of a save that never
    // reached its commit point.
    let next = Paths::of(path).next();
    let Some(dir) = next.sidecar.parent() else { return Ok(()) };
    let names = [&next.model, &next.optimizer, &next.sidecar]
        .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let Ok(entries) =
        std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
    else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if names.iter().any(|n| name == *n || name.starts_with(&format!(".{n}.tmp"))) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Completes the renames of a save whose `NAME.next.json` was written (its commit point);
/// returns whether there was one. Safe for readers: it only moves complete files into place.
fn finish_interrupted_save(path: &Path) -> Result<bool> {
    let paths = Paths::of(path);
    let next = paths.next();
    if !next.sidecar.is_file() {
        return Ok(false);
    }
    let rename = |from: &Path, to: &Path| match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(to, e)),
    };
    // A checkpoint saved without training state must not keep an older one's state file.
    let bytes = std::fs::read(&next.sidecar).map_err(|e| Error::io(&next.sidecar, e))?;
    let with_state = serde_json::from_slice::<Sidecar>(&bytes)
        .map_err(|e| Error::bad_file(&next.sidecar, format!("not a checkpoint sidecar ({e})")))?
        .has_training_state();
    rename(&next.model, &paths.model)?;
    match !with_state {
        true => match std::fs::remove_file(&paths.optimizer) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(&paths.optimizer, e))
            }
            _ => {}
        },
        false => rename(&next.optimizer, &paths.optimizer)?,
    }
    rename(&next.sidecar, &paths.sidecar)?;
    Ok(true)
}

/// Reads the sidecar of checkpoint `path` and checks that `app` wrote it.
pub fn read_sidecar(path: &Path, app: &str) -> Result<Sidecar> {
    finish_for_reader(path);
    let paths = Paths::of(path);
    let bytes = std::fs::read(&paths.sidecar).map_err(|e| Error::io(&paths.sidecar, e))?;
    let sidecar: Sidecar = serde_json::from_slice(&bytes).map_err(|e| {
        Error::bad_file(&paths.sidecar, format!("not a checkpoint sidecar of this project ({e})"))
    })?;
    if sidecar.format != FORMAT_VERSION {
        let reason =
            format!("sidecar format {} (this build reads {FORMAT_VERSION})", sidecar.format);
        return Err(Error::Checkpoint { path: paths.sidecar, reason });
    }
    if sidecar.app != app {
        let reason = format!("it was written by the {} app, not {app}", sidecar.app);
        return Err(Error::Checkpoint { path: paths.model, reason });
    }
    Ok(sidecar)
}

/// Loads checkpoint `path` written by `app` into `vs` (names and shapes must match exactly)
/// and, if given, into `optimizer`. Returns the sidecar.
pub fn load(
    path: &Path,
    app: &str,
    vs: &mut VarStore,
    optimizer: Option<&mut Optimizer>,
) -> Result<Sidecar> {
    match optimizer {
        None => {
            let sidecar = read_sidecar(path, app)?;
            load_weights(&Paths::of(path).model, vs)?;
            Ok(sidecar)
        }
        Some(opt) => {
            let (sidecar, _) = load_to_resume(path, app, vs, Some(opt))?;
            Ok(sidecar)
        }
    }
}

/// [`load`] for a training run that resumes: the weights into `vs`, the optimizer state into
/// `optimizer` (if the run has one), and the app's state tensors saved by [`save_with_state`],
/// by name.
pub fn load_to_resume(
    path: &Path,
    app: &str,
    vs: &mut VarStore,
    optimizer: Option<&mut Optimizer>,
) -> Result<(Sidecar, BTreeMap<String, Tensor>)> {
    let sidecar = read_sidecar(path, app)?;
    load_weights(&Paths::of(path).model, vs)?;
    let paths = Paths::of(path);
    let (mut optimizer_tensors, mut state) = (Vec::new(), BTreeMap::new());
    if sidecar.has_training_state() {
        for (name, tensor) in read_tensors(&paths.optimizer)? {
            match name.strip_prefix(STATE_PREFIX) {
                Some(state_name) => drop(state.insert(state_name.to_string(), tensor)),
                None => optimizer_tensors.push((name, tensor)),
            }
        }
    }
    if let Some(name) = sidecar.state_tensors.iter().find(|n| !state.contains_key(*n)) {
        let reason = format!("its state tensor {name:?} is missing");
        return Err(Error::Checkpoint { path: paths.optimizer, reason });
    }
    if let Some(opt) = optimizer {
        load_optimizer(&paths, &sidecar, opt, optimizer_tensors)?;
    }
    Ok((sidecar, state))
}

/// Restores `opt` from the checkpoint's optimizer scalars and `tensors`.
fn load_optimizer(
    paths: &Paths,
    sidecar: &Sidecar,
    opt: &mut Optimizer,
    tensors: Vec<(String, Tensor)>,
) -> Result<()> {
    let meta = sidecar.optimizer.as_ref().ok_or_else(|| Error::Checkpoint {
        path: paths.sidecar.clone(),
        reason: "it holds no optimizer state, so training cannot resume from it".into(),
    })?;
    opt.load_state(meta, tensors)
        .map_err(|e| Error::Checkpoint { path: paths.optimizer.clone(), reason: e.to_string() })
}

/// What a reader does about an interrupted save: finish it if it reached its commit point,
/// never discard one (the writer may be in the middle of its next save). If it cannot be
/// finished (a folder the reader cannot write), the reader still gets the previous checkpoint.
fn finish_for_reader(path: &Path) {
    let _ = finish_interrupted_save(path);
}

/// Copies the tensors of a safetensors file into the variables of `vs`. Every variable must be
/// in the file with its exact shape, and the file must hold nothing else.
pub fn load_weights(path: &Path, vs: &mut VarStore) -> Result<()> {
    let mut saved: BTreeMap<String, Tensor> = read_tensors(path)?.into_iter().collect();
    let bad = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let _guard = tch::no_grad_guard();
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    // Check everything before copying anything, so a mismatch leaves the model untouched.
    for (name, var) in &variables {
        match saved.get(name) {
            None => {
                return Err(bad(format!("it has no tensor {name:?}: is it from another model?")))
            }
            Some(t) if t.size() != var.size() => {
                return Err(bad(format!(
                    "tensor {name:?} has shape {:?}, this model expects {:?}",
                    t.size(),
                    var.size()
                )))
            }
            Some(_) => {}
        }
    }
    for (name, mut var) in variables {
        let t = saved.remove(&name).expect("checked above");
        var.f_copy_(&t.to_kind(var.kind()))?;
    }
    if let Some(name) = saved.keys().next() {
        return Err(bad(format!("tensor {name:?} matches no parameter of this model")));
    }
    Ok(())
}

/// Reads every tensor of a safetensors file (onto the CPU).
pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Tensor::read_safetensors(path)
        .map_err(|e| Error::bad_file(path, format!("not a readable safetensors file ({e})")))
}

/// Writes named tensors to a safetensors file atomically (CPU copies, sorted by name).
pub fn write_tensors(path: &Path, mut tensors: Vec<(String, Tensor)>) -> Result<()> {
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let cpu: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(n, t)| (n, t.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    let tmp = temp_sibling(path);
    let result = Tensor::write_safetensors(&cpu, &tmp)
        .map_err(Error::from)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The checkpoint a user means by `path`: a checkpoint file (`.safetensors` or `.json`), or a
/// run directory, meaning its best checkpoint (`checkpoints/best`), else its last.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        for name in ["best", "last"] {
            let candidate = path.join("checkpoints").join(format!("{name}.safetensors"));
            finish_for_reader(&candidate);
            if Paths::of(&candidate).sidecar.is_file() {
                return Ok(candidate);
            }
        }
        return Err(Error::bad_file(
            path,
            "this run directory holds no checkpoint (checkpoints/best or checkpoints/last)",
        ));
    }
    finish_for_reader(path);
    let paths = Paths::of(path);
    if !paths.sidecar.is_file() {
        let reason = if path.exists() {
            format!("not a checkpoint: its sidecar {} is missing", paths.sidecar.display())
        } else {
            "no such file or directory".to_string()
        };
        return Err(Error::bad_file(path, reason));
    }
    Ok(paths.model)
}
