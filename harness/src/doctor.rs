//! `dl doctor`: what libtorch this binary runs on, what it can use, and what to fix.

use dl_core::device::{cuda_available, cuda_backend, CudaBackend};
use std::fmt;
use std::path::{Path, PathBuf};

/// The libtorch version this workspace is built for (tch 0.24.0 requires exactly it).
pub const EXPECTED_LIBTORCH: &str = "2.11.0";

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Works, but slower or less than it could.
    Warning,
    /// Something the user asked for or needs does not work.
    Problem,
}

/// Something wrong, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// What is wrong.
    pub what: String,
    /// What to do.
    pub fix: String,
}

/// Everything `doctor` found out.
#[derive(Clone, Debug)]
pub struct Report {
    /// Whether this binary was built without optimisations.
    pub debug_build: bool,
    /// The libtorch directory the build was configured with (`make setup` writes it).
    pub build_libtorch: Option<String>,
    /// The variant `make setup` installed or found (`cpu`, `cuda`, with its source).
    pub build_variant: Option<String>,
    /// The `libtorch_cpu.so` this process actually loaded.
    pub loaded_library: Option<PathBuf>,
    /// Its version, where it could be read next to it.
    pub libtorch_version: Option<String>,
    /// Intra-op threads libtorch uses, and the CPU cores available.
    pub threads: (i32, usize),
    /// MKL, oneDNN (MKL-DNN), OpenMP, LAPACK.
    pub cpu_features: [(&'static str, bool); 4],
    /// Whether the CUDA backend is in the process, or why not.
    pub cuda_backend: CudaBackend,
    /// CUDA devices usable by libtorch, with names where the driver tells them.
    pub cuda_devices: Vec<String>,
    /// cuDNN version if available.
    pub cudnn: Option<i64>,
    /// Whether `nvidia-smi` exists and lists a GPU (a GPU the build may not be using).
    pub gpu_seen_by_driver: bool,
    /// A small computation run on every usable device: `(device, result)`.
    pub smoke: Vec<(String, Result<(), String>)>,
    /// The CPU's matmul ceiling, GFLOP/s: fp32, bf16.
    pub matmul_gflops: (f64, f64),
    /// Whether the CPU multiplies bf16 natively (then bf16 is worth it).
    pub native_bf16: bool,
    /// What should be fixed.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Inspects this process and its libtorch.
    pub fn gather() -> Report {
        let loaded_library = loaded_library("libtorch_cpu.so");
        let libtorch_version = loaded_library.as_deref().and_then(version_near);
        let backend = cuda_backend();
        let usable = cuda_available();
        let count = if usable { tch::Cuda::device_count().max(0) as usize } else { 0 };
        let names = nvml_device_names();
        let cuda_devices = (0..count)
            .map(|i| match names.get(i) {
                Some(name) => format!("cuda:{i} {name}"),
                None => format!("cuda:{i}"),
            })
            .collect();
        let mut smoke = vec![("cpu".to_string(), smoke_test(tch::Device::Cpu))];
        for i in 0..count {
            smoke.push((format!("cuda:{i}"), smoke_test(tch::Device::Cuda(i))));
        }
        let mut report = Report {
            debug_build: cfg!(debug_assertions),
            build_libtorch: option_env!("LIBTORCH").map(str::to_string),
            build_variant: option_env!("DL_LIBTORCH_VARIANT").map(str::to_string),
            loaded_library,
            libtorch_version,
            threads: (
                tch::get_num_threads(),
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            ),
            cpu_features: [
                ("MKL", tch::utils::has_mkl()),
                ("oneDNN", tch::utils::has_mkldnn()),
                ("OpenMP", tch::utils::has_openmp()),
                ("LAPACK", tch::utils::has_lapack()),
            ],
            cuda_backend: backend,
            cuda_devices,
            cudnn: (usable && tch::Cuda::cudnn_is_available()).then(tch::utils::version_cudnn),
            gpu_seen_by_driver: gpu_seen_by_driver(),
            smoke,
            matmul_gflops: (
                dl_core::perf::matmul_gflops(tch::Device::Cpu, tch::Kind::Float),
                dl_core::perf::matmul_gflops(tch::Device::Cpu, tch::Kind::BFloat16),
            ),
            native_bf16: dl_core::perf::cpu_has_native_bf16(),
            findings: Vec::new(),
        };
        report.findings = report.diagnose();
        report
    }

    fn diagnose(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut add = |severity, what: String, fix: &str| {
            out.push(Finding { severity, what, fix: fix.to_string() })
        };
        if self.debug_build {
            add(
                Severity::Warning,
                "this is a debug build".into(),
                "build with --release (every make target does) for real speed",
            );
        }
        match &self.libtorch_version {
            Some(v) if v.split('+').next() != Some(EXPECTED_LIBTORCH) => add(
                Severity::Problem,
                format!("libtorch {v} is loaded, tch 0.24 is built for {EXPECTED_LIBTORCH}"),
                "run `make setup` (or point LIBTORCH at a libtorch 2.11.0) and rebuild",
            ),
            _ => {}
        }
        for (device, result) in &self.smoke {
            if let Err(e) = result {
                add(
                    Severity::Problem,
                    format!("a computation on {device} failed: {e}"),
                    "run `make setup` again; report the error if it persists",
                );
            }
        }
        if self.gpu_seen_by_driver && self.cuda_devices.is_empty() {
            let why = match &self.cuda_backend {
                CudaBackend::Missing(reason) => {
                    format!("libtorch_cuda could not be loaded ({reason})")
                }
                CudaBackend::Loaded => "libtorch sees no CUDA device".to_string(),
            };
            add(
                Severity::Problem,
                format!("nvidia-smi lists a GPU but CUDA is unusable: {why}"),
                "run `make setup CUDA=1` to install the CUDA build of libtorch, then rebuild",
            );
        }
        let (threads, cores) = self.threads;
        if (threads as usize) < cores && threads == 1 {
            add(
                Severity::Warning,
                format!("libtorch uses 1 thread on {cores} cores"),
                "unset OMP_NUM_THREADS / MKL_NUM_THREADS unless you meant it",
            );
        }
        out
    }

    /// Whether anything needs fixing before the apps can do what the user asks.
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Problem)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |o: &Option<String>, d: &str| o.clone().unwrap_or_else(|| d.to_string());
        writeln!(f, "build           {}", if self.debug_build { "debug" } else { "release" })?;
        writeln!(
            f,
            "libtorch        {} (expected {EXPECTED_LIBTORCH})",
            or(&self.libtorch_version, "version unknown")
        )?;
        let loaded = self.loaded_library.as_ref().map(|p| p.display().to_string());
        writeln!(f, "loaded from     {}", or(&loaded, "unknown"))?;
        writeln!(
            f,
            "built against   {}",
            or(&self.build_libtorch, "unknown (not built by make setup's config)")
        )?;
        writeln!(f, "variant         {}", or(&self.build_variant, "unknown"))?;
        writeln!(
            f,
            "threads         {} libtorch threads, {} cores",
            self.threads.0, self.threads.1
        )?;
        let features: Vec<String> = self
            .cpu_features
            .iter()
            .map(|(name, on)| format!("{name} {}", if *on { "yes" } else { "no" }))
            .collect();
        writeln!(f, "cpu             {}", features.join(", "))?;
        let (fp32, bf16) = self.matmul_gflops;
        writeln!(
            f,
            "cpu matmul      {fp32:.0} GFLOP/s fp32, {bf16:.0} GFLOP/s bf16 ({}; --precision bf16 {})",
            if self.native_bf16 { "native bf16" } else { "bf16 emulated" },
            if self.native_bf16 { "pays" } else { "does not pay here" }
        )?;
        match &self.cuda_backend {
            CudaBackend::Loaded => writeln!(f, "cuda backend    libtorch_cuda loaded")?,
            CudaBackend::Missing(why) => writeln!(f, "cuda backend    not loaded ({why})")?,
        }
        if self.cuda_devices.is_empty() {
            writeln!(f, "cuda devices    none")?;
        } else {
            writeln!(f, "cuda devices    {}", self.cuda_devices.join(", "))?;
            let cudnn = self.cudnn.map(|v| v.to_string());
            writeln!(f, "cudnn           {}", or(&cudnn, "not available"))?;
        }
        writeln!(
            f,
            "nvidia-smi      {}",
            if self.gpu_seen_by_driver { "lists a GPU" } else { "no GPU listed" }
        )?;
        for (device, result) in &self.smoke {
            match result {
                Ok(()) => writeln!(f, "check           matmul + backward on {device}: ok")?,
                Err(e) => {
                    writeln!(f, "check           matmul + backward on {device}: FAILED ({e})")?
                }
            }
        }
        if self.findings.is_empty() {
            writeln!(f, "\nno problems found")?;
        }
        for finding in &self.findings {
            let tag = match finding.severity {
                Severity::Warning => "warning",
                Severity::Problem => "PROBLEM",
            };
            writeln!(f, "\n{tag}: {}\n  fix: {}", finding.what, finding.fix)?;
        }
        Ok(())
    }
}

/// A matrix product and its gradient on `device`, checked against the known answer.
fn smoke_test(device: tch::Device) -> Result<(), String> {
    let run = || -> Result<(), tch::TchError> {
        let opts = (tch::Kind::Float, device);
        let a = tch::Tensor::f_ones([64, 64], opts)?.set_requires_grad(true);
        let b = tch::Tensor::f_full([64, 64], 0.5, opts)?;
        let loss = a.f_matmul(&b)?.f_sum(tch::Kind::Float)?;
        loss.f_backward()?;
        let value = loss.f_double_value(&[])?;
        let grad = a.grad().f_mean(tch::Kind::Float)?.f_double_value(&[])?;
        // Each of the 64*64 outputs is 64 * 0.5 = 32; d(sum)/da_ij = sum_k b_jk = 32.
        if value != 64.0 * 64.0 * 32.0 || grad != 32.0 {
            return Err(tch::TchError::Kind(format!("wrong result {value} / {grad}")));
        }
        Ok(())
    };
    run().map_err(|e| e.to_string())
}

/// The path of a shared library mapped into this process.
fn loaded_library(name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| Path::new(p).file_name().is_some_and(|f| f == name))
        .map(PathBuf::from)
}

/// The libtorch version recorded next to `lib/libtorch_cpu.so`: `build-version` (libtorch
/// archives and `make setup`'s install) or `version.py` (a PyTorch install).
fn version_near(library: &Path) -> Option<String> {
    let root = library.parent()?.parent()?;
    if let Ok(v) = std::fs::read_to_string(root.join("build-version")) {
        return Some(v.trim().to_string());
    }
    let py = std::fs::read_to_string(root.join("version.py")).ok()?;
    py.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
}

fn gpu_seen_by_driver() -> bool {
    std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GPU"))
        .unwrap_or(false)
}

/// GPU names from the driver's NVML library (libtorch does not expose them through tch).
#[cfg(target_os = "linux")]
fn nvml_device_names() -> Vec<String> {
    use std::ffi::{c_char, c_uint, c_void, CStr};
    type Init = unsafe extern "C" fn() -> i32;
    type Count = unsafe extern "C" fn(*mut c_uint) -> i32;
    type Handle = unsafe extern "C" fn(c_uint, *mut *mut c_void) -> i32;
    type Name = unsafe extern "C" fn(*mut c_void, *mut c_char, c_uint) -> i32;
    // SAFETY: the symbols are looked up by their documented names and called with the
    // documented signatures; buffers are sized as NVML requires and NUL-terminated by it.
    unsafe {
        let lib = libc::dlopen(c"libnvidia-ml.so.1".as_ptr(), libc::RTLD_NOW);
        if lib.is_null() {
            return Vec::new();
        }
        let sym = |name: &CStr| libc::dlsym(lib, name.as_ptr());
        let (init, count, handle, name) = (
            sym(c"nvmlInit_v2"),
            sym(c"nvmlDeviceGetCount_v2"),
            sym(c"nvmlDeviceGetHandleByIndex_v2"),
            sym(c"nvmlDeviceGetName"),
        );
        if [init, count, handle, name].iter().any(|p| p.is_null()) {
            return Vec::new();
        }
        let init: Init = std::mem::transmute(init);
        let count: Count = std::mem::transmute(count);
        let handle: Handle = std::mem::transmute(handle);
        let name: Name = std::mem::transmute(name);
        let mut n: c_uint = 0;
        if init() != 0 || count(&mut n) != 0 {
            return Vec::new();
        }
        (0..n)
            .map(|i| {
                let mut h: *mut c_void = std::ptr::null_mut();
                let mut buf = [0 as c_char; 96];
                if handle(i, &mut h) == 0 && name(h, buf.as_mut_ptr(), buf.len() as c_uint) == 0 {
                    CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
                } else {
                    "unknown".to_string()
                }
            })
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn nvml_device_names() -> Vec<String> {
    Vec::new()
}
