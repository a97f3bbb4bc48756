//! The error type of the core crate: every variant names the path or value at fault.

use std::path::PathBuf;

/// Errors raised by the core crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// The underlying I/O error (part of this message, so not reported again as a source).
        error: std::io::Error,
    },
    /// A file exists but its content is not what it should be.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A device string could not be parsed.
    #[error("invalid device {0:?}: expected auto, cpu, cuda or cuda:N")]
    BadDevice(String),
    /// CUDA was asked for where there is none (never a silent fallback to the CPU).
    #[error("device {requested} was requested but {reason}")]
    CudaUnavailable {
        /// The device string the user gave.
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A configuration value is out of its valid range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint does not match what loads it (another app, another model shape).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file at fault.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// libtorch raised an error.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// A libtorch call through the C++ shim failed (autocast, fused optimizer kernels).
    #[error("libtorch: {0}")]
    Shim(String),
}

/// Result with the core crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), error: source }
    }

    /// A file whose content is wrong, with the reason.
    pub fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadFile { path: path.into(), reason: reason.into() }
    }
}
