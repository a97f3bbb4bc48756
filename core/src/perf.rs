//! How fast this machine multiplies matrices, to say how close a model's training step comes:
//! the achieved FLOP/s of a bench (counted from the model's shapes) over the ceiling measured
//! here with the same libtorch, threads and precision.

use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// The matmul ceiling on `device` in `kind` (Float or BFloat16), GFLOP/s: square products of
/// side 1024, repeated for about half a second after a warm-up, with libtorch's current threads.
pub fn matmul_gflops(device: Device, kind: Kind) -> f64 {
    let n = 1024i64;
    let a = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..2 {
        let _ = a.mm(&b);
    }
    sync();
    let (start, mut rounds) = (Instant::now(), 0u32);
    while start.elapsed() < Duration::from_millis(500) || rounds < 3 {
        let _ = a.mm(&b);
        rounds += 1;
        sync();
    }
    2.0 * (n * n * n) as f64 * rounds as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX), as Linux reports it; where
/// it does not, bf16 is emulated and slower than fp32.
pub fn cpu_has_native_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
    })
}

/// A bench's achieved rate against the ceiling: `"412.3 GFLOP/s, 61 % of this machine's bf16
/// matmul ceiling (676.0 GFLOP/s)"`.
pub fn achieved(flops_per_s: f64, ceiling_gflops: f64, precision: &str) -> String {
    let gflops = flops_per_s / 1e9;
    format!(
        "{gflops:.1} GFLOP/s, {:.0} % of this machine's {precision} matmul ceiling ({ceiling_gflops:.1} GFLOP/s)",
        100.0 * gflops / ceiling_gflops
    )
}
