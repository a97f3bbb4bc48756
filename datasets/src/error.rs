//! The typed errors of the datasets crate: each names the file and what is wrong with it.

use std::path::PathBuf;

/// Everything that can be wrong with data on disk or on its way there.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The I/O error (part of this message, so not reported again as a source).
        error: std::io::Error,
    },
    /// The file does not start with the magic number of its format.
    #[error("{path}: not a {format} file (magic number {found:#010x}, expected {expected})")]
    BadMagic {
        /// The file at fault.
        path: PathBuf,
        /// The format that was expected.
        format: &'static str,
        /// What the file starts with.
        found: u32,
        /// What it should start with.
        expected: String,
    },
    /// The file is shorter (or longer) than its header says.
    #[error("{path}: {what}: expected {expected} bytes, found {found} (truncated or corrupt)")]
    Size {
        /// The file at fault.
        path: PathBuf,
        /// What was being measured.
        what: String,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A label is not a valid class index.
    #[error(
        "{path}: label {label} at index {index} is out of range (there are {classes} classes)"
    )]
    LabelOutOfRange {
        /// The file at fault.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The label.
        label: i64,
        /// Number of classes.
        classes: usize,
    },
    /// Images and labels disagree on how many examples there are.
    #[error("{path}: {images} images but {labels} labels")]
    CountMismatch {
        /// The file (or pair of files) at fault.
        path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// There is nothing in it.
    #[error("{path}: {what} is empty")]
    Empty {
        /// The file or directory at fault.
        path: PathBuf,
        /// What was expected to have content.
        what: String,
    },
    /// Text that is not UTF-8.
    #[error("{path}: not valid UTF-8 (first bad byte at offset {offset})")]
    Utf8 {
        /// The file at fault.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A malformed line of a tab-separated file.
    #[error("{path}:{line}: {reason}")]
    Tsv {
        /// The file at fault.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// Content of a recognised format that does not fit (shapes, types, attributes).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A file's checksum is not the recorded one.
    #[error("{path}: {algorithm} is {actual}, expected {expected} (corrupt or a different file)")]
    Checksum {
        /// The file at fault.
        path: PathBuf,
        /// `sha256` or `md5`.
        algorithm: &'static str,
        /// Expected digest (hex).
        expected: String,
        /// Actual digest (hex).
        actual: String,
    },
    /// A download failed (unreachable host, HTTP error, broken connection).
    #[error("cannot download {}: {reason}", url.rsplit('/').next().unwrap_or(url))]
    Download {
        /// What was being downloaded.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// Every source of a dataset failed.
    #[error("{dataset} could not be fetched; tried:\n{attempts}\nIf you have its files ({files}, gzipped or not), `datasets fetch {dataset} --from DIR` imports them from DIR after the same checksum check (or place them in {dir}, or point --data-dir / DL_SHOWCASES_DATA at a directory holding a {dataset}/ folder with them).")]
    Fetch {
        /// The dataset.
        dataset: String,
        /// One line per source tried, with why it failed.
        attempts: String,
        /// The files the dataset needs.
        files: String,
        /// Where they go.
        dir: PathBuf,
    },
    /// The dataset's files are not in the cache.
    #[error(
        "{dataset} is not in {dir}: run `datasets fetch {dataset}` (apps fetch it on first use)"
    )]
    NotFetched {
        /// The dataset.
        dataset: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// No dataset has that name.
    #[error("unknown dataset {0:?}: `datasets list` shows them all")]
    Unknown(String),
    /// An argument out of range (batch size 0, a split fraction over 1, ...).
    #[error("invalid argument: {0}")]
    Argument(String),
    /// libtorch refused an operation.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// Result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), error: source }
    }

    /// Content of `path` that does not fit, with the reason.
    pub fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Invalid { path: path.into(), reason: reason.into() }
    }
}
