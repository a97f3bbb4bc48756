//! Mixed precision as one switch: `fp32` runs everything in float32; `bf16` runs the forward
//! pass under libtorch's own autocast (matrix products and convolutions in bfloat16; losses,
//! softmax and reductions in float32, as autocast's op lists decide), on the CPU as on CUDA.
//! Weights, gradients and optimizer state stay float32 (autocast casts a copy per region), so
//! checkpoints do not change.
//!
//! ```no_run
//! use dl_core::precision::Precision;
//! # fn main() -> dl_core::Result<()> {
//! let (a, b) = (tch::Tensor::randn([256, 256], tch::kind::FLOAT_CPU), tch::Tensor::randn([256, 256], tch::kind::FLOAT_CPU));
//! let c = Precision::Bf16.autocast(tch::Device::Cpu, || a.matmul(&b))?;
//! assert_eq!(c.kind(), tch::Kind::BFloat16);
//! # Ok(()) }
//! ```

use crate::shim;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::Device;

/// The precision a forward pass computes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 throughout.
    #[default]
    Fp32,
    /// bfloat16 autocast: float32's range with 8 bits of mantissa; no loss scaling needed.
    Bf16,
}

/// c10's ScalarType number for bfloat16.
const BFLOAT16: i32 = 15;

impl Precision {
    /// Runs `f` with this precision's autocast on `device` (nothing for fp32); autocast is
    /// restored to what it was afterwards, even if `f` panics.
    pub fn autocast<T>(self, device: Device, f: impl FnOnce() -> T) -> Result<T> {
        let _region = self.region(device)?;
        Ok(f())
    }

    /// An autocast region that lasts as long as the returned guard (`None` for fp32): for
    /// loops whose forward pass is not one closure.
    pub fn region(self, device: Device) -> Result<Option<Region>> {
        match self {
            Precision::Fp32 => Ok(None),
            Precision::Bf16 => {
                let state = shim::autocast_enter(device.is_cuda(), BFLOAT16)?;
                Ok(Some(Region { state }))
            }
        }
    }

    /// The kind matrix products run in.
    pub fn compute_kind(self) -> tch::Kind {
        match self {
            Precision::Fp32 => tch::Kind::Float,
            Precision::Bf16 => tch::Kind::BFloat16,
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Precision> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "fp16" => Err(Error::Config(
                "fp16 needs dynamic loss scaling, which is not built yet: use bf16 (same speed on \
                 hardware with bf16 units, no scaling needed) or fp32"
                    .into(),
            )),
            other => Err(Error::Config(format!("unknown precision {other:?}: use fp32 or bf16"))),
        }
    }
}

/// An autocast region; leaving it (dropping the guard) restores the previous state.
#[derive(Debug)]
pub struct Region {
    state: shim::AutocastState,
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Err(e) = shim::autocast_exit(self.state) {
            tracing_free_warning(&e);
        }
    }
}

/// core has no logging dependency: a failed restore (which libtorch never reports in practice)
/// goes to stderr.
fn tracing_free_warning(e: &Error) {
    eprintln!("warning: {e}");
}
