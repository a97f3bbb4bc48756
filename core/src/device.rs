//! Choosing where tensors live, and seeding every random generator from one seed.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;
use tch::{Cuda, Device};

/// A device as the user names it on the command line: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The first CUDA device if there is one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device: `None` for `cuda` (device 0), `Some(n)` for `cuda:n`.
    Cuda(Option<usize>),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|n| DeviceSpec::Cuda(Some(n)))
                .ok_or_else(|| Error::BadDevice(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => write!(f, "auto"),
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(None) => write!(f, "cuda"),
            DeviceSpec::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl DeviceSpec {
    /// The device to use. Asking for CUDA where there is none, or for a device index that
    /// does not exist, is an error: a run never silently falls back to the CPU.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Auto => Ok(if cuda_available() { Device::Cuda(0) } else { Device::Cpu }),
            DeviceSpec::Cuda(index) => {
                let requested = self.to_string();
                if !cuda_available() {
                    let reason = match cuda_backend() {
                        CudaBackend::Missing(why) => {
                            format!("this libtorch has no usable CUDA backend ({why})")
                        }
                        CudaBackend::Loaded => "no CUDA device is visible".to_string(),
                    };
                    return Err(Error::CudaUnavailable { requested, reason });
                }
                let index = index.unwrap_or(0);
                let count = Cuda::device_count() as usize;
                if index >= count {
                    let reason = format!("only {count} CUDA device(s) are visible");
                    return Err(Error::CudaUnavailable { requested, reason });
                }
                Ok(Device::Cuda(index))
            }
        }
    }
}

/// Whether libtorch's CUDA backend could be loaded into this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CudaBackend {
    /// `libtorch_cuda` is in the process (linked, or loaded by [`cuda_backend`]).
    Loaded,
    /// It is not, with the loader's reason.
    Missing(String),
}

/// Makes sure libtorch's CUDA backend is in the process, and says whether it is.
///
/// tch calls into `libtorch_cpu`, and CUDA support registers itself from the static
/// initialisers of `libtorch_cuda`. A linker running with `--as-needed` drops that library
/// (no symbol of it is referenced), after which `tch::Cuda::is_available()` is false even on
/// a GPU machine. `make setup` links it explicitly for CUDA installs; this function also loads
/// it at run time (through the binary's rpath or `LD_LIBRARY_PATH`), so that a binary built
/// against the lean CPU libtorch uses CUDA when run against a full one. Done once.
pub fn cuda_backend() -> CudaBackend {
    static BACKEND: std::sync::OnceLock<CudaBackend> = std::sync::OnceLock::new();
    BACKEND.get_or_init(load_cuda_backend).clone()
}

#[cfg(target_os = "linux")]
fn load_cuda_backend() -> CudaBackend {
    use std::ffi::{CStr, CString};
    let name = CString::new("libtorch_cuda.so").expect("static name has no NUL");
    // SAFETY: dlopen/dlerror are called with a valid NUL-terminated string; the handle is
    // deliberately never closed (the library must stay loaded for the process lifetime).
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let msg = if err.is_null() {
                "dlopen failed".to_string()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            CudaBackend::Missing(msg)
        } else {
            CudaBackend::Loaded
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn load_cuda_backend() -> CudaBackend {
    CudaBackend::Missing("runtime loading is implemented for Linux only".to_string())
}

/// Whether a CUDA device can be used (loading the CUDA backend first if needed).
pub fn cuda_available() -> bool {
    matches!(cuda_backend(), CudaBackend::Loaded) && Cuda::is_available()
}

/// Seeds libtorch's generators (CPU and every CUDA device) from `seed`.
///
/// Rust-side randomness (shuffling, sampling) takes its own generator from [`rng`], so one
/// seed drives everything. Training loops reseed libtorch per step with [`seed_step`].
pub fn seed_all(seed: u64) {
    tch::manual_seed(seed as i64);
    if cuda_available() {
        Cuda::manual_seed_all(seed);
    }
}

/// Reseeds libtorch from `(seed, step)`, so that the random numbers drawn at a step (dropout
/// masks, sampling) depend on the step and not on what ran before in this process. libtorch
/// offers no portable way to save a generator's state through tch; reseeding per step is what
/// makes a run resumed at step k draw exactly what the uninterrupted run drew.
pub fn seed_step(seed: u64, step: u64) {
    seed_all(mix(seed, step));
}

/// A Rust random generator derived from `seed` and a `stream` name, so that different uses
/// (shuffling, augmentation, exploration) draw independent sequences from one seed.
pub fn rng(seed: u64, stream: &str) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let tag = stream.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3) // FNV-1a
    });
    rand_chacha::ChaCha8Rng::seed_from_u64(mix(seed, tag))
}

/// Exclusive use of libtorch's process-wide random generator.
///
/// The generator is global: when several threads draw from it (tests run in parallel), the
/// numbers one of them gets depend on the others. Code whose draws must be reproducible in a
/// multi-threaded process holds this guard from seeding to its last draw.
pub fn rng_guard() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SplitMix64 of `a` combined with `b`: well-spread seeds from small consecutive inputs.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_add(b.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x9e37_79b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) & (i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(None));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(Some(3)));
        for spec in ["auto", "cpu", "cuda", "cuda:1"] {
            assert_eq!(spec.parse::<DeviceSpec>().unwrap().to_string(), spec);
        }
    }

    #[test]
    fn rejects_garbage_with_the_value_in_the_message() {
        for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1", "cpu:0"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(matches!(err, Error::BadDevice(_)), "{bad:?} gave {err:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn cuda_is_an_error_not_a_fallback_without_a_gpu() {
        if cuda_available() {
            return; // this check is about machines without a GPU
        }
        let err = DeviceSpec::Cuda(None).resolve().unwrap_err();
        assert!(matches!(err, Error::CudaUnavailable { .. }), "{err:?}");
        assert!(err.to_string().starts_with("device cuda was requested but"), "{err}");
        assert_eq!(DeviceSpec::Auto.resolve().unwrap(), Device::Cpu);
    }

    #[test]
    fn a_missing_cuda_index_is_an_error() {
        let err = DeviceSpec::Cuda(Some(99)).resolve().unwrap_err();
        assert!(matches!(err, Error::CudaUnavailable { .. }), "{err:?}");
    }

    #[test]
    fn seeding_makes_libtorch_repeatable_and_steps_differ() {
        let _rng = rng_guard();
        seed_step(7, 3);
        let a = tch::Tensor::rand([5], (tch::Kind::Float, Device::Cpu));
        seed_step(7, 3);
        let b = tch::Tensor::rand([5], (tch::Kind::Float, Device::Cpu));
        seed_step(7, 4);
        let c = tch::Tensor::rand([5], (tch::Kind::Float, Device::Cpu));
        assert!(a.equal(&b));
        assert!(!a.equal(&c));
    }

    #[test]
    fn rust_streams_are_repeatable_and_independent() {
        use rand::Rng;
        let draw = |seed, stream| rng(seed, stream).random::<u64>();
        assert_eq!(draw(1, "shuffle"), draw(1, "shuffle"));
        assert_ne!(draw(1, "shuffle"), draw(1, "explore"));
        assert_ne!(draw(1, "shuffle"), draw(2, "shuffle"));
    }
}
