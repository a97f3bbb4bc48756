//! The C++ shim (`src/shim/shim.cpp`, built by `build.rs` against the libtorch tch links): the
//! libtorch calls tch does not expose, wrapped safely. Autocast on any device, and the fused
//! and multi-tensor optimizer kernels. Every call returns the C++ error as [`Error::Shim`].

use crate::{Error, Result};
use std::ffi::{c_char, c_int, CStr};
use tch::Tensor;

type RawTensor = *mut torch_sys::C_tensor;

extern "C" {
    fn dl_shim_last_error() -> *const c_char;
    fn dl_autocast_enter(
        cuda: c_int,
        dtype: c_int,
        was_enabled: *mut c_int,
        was_dtype: *mut c_int,
    ) -> c_int;
    fn dl_autocast_exit(cuda: c_int, was_enabled: c_int, was_dtype: c_int) -> c_int;
    fn dl_autocast_is_enabled(cuda: c_int, enabled: *mut c_int) -> c_int;
    fn dl_fused_adam(
        params: *const RawTensor,
        grads: *const RawTensor,
        exp_avgs: *const RawTensor,
        exp_avg_sqs: *const RawTensor,
        max_exp_avg_sqs: *const RawTensor,
        steps: *const RawTensor,
        n: c_int,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        amsgrad: c_int,
        decoupled: c_int,
    ) -> c_int;
    fn dl_foreach_sgd(
        params: *const RawTensor,
        grads: *const RawTensor,
        n: c_int,
        lr: f64,
        weight_decay: f64,
    ) -> c_int;
}

fn check(status: c_int, what: &str) -> Result<()> {
    if status == 0 {
        return Ok(());
    }
    // SAFETY: the shim keeps its last error in a thread-local string that lives until the next
    // failing call on this thread; it is copied out at once.
    let message = unsafe { CStr::from_ptr(dl_shim_last_error()) }.to_string_lossy().into_owned();
    Err(Error::Shim(format!("{what}: {message}")))
}

fn raw(tensors: &[&Tensor]) -> Vec<RawTensor> {
    tensors.iter().map(|t| t.as_ptr() as RawTensor).collect()
}

/// What autocast was before a region began, to restore when it ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AutocastState {
    cuda: bool,
    enabled: c_int,
    dtype: c_int,
}

/// Turns autocast on for CPU or CUDA ops with `dtype` (c10's ScalarType number).
pub(crate) fn autocast_enter(cuda: bool, dtype: i32) -> Result<AutocastState> {
    let (mut enabled, mut was_dtype) = (0, 0);
    // SAFETY: plain integers in, two out-pointers to locals.
    let status = unsafe { dl_autocast_enter(cuda as c_int, dtype, &mut enabled, &mut was_dtype) };
    check(status, "entering autocast")?;
    Ok(AutocastState { cuda, enabled, dtype: was_dtype })
}

/// Restores the state `autocast_enter` returned.
pub(crate) fn autocast_exit(state: AutocastState) -> Result<()> {
    // SAFETY: plain integers.
    let status = unsafe { dl_autocast_exit(state.cuda as c_int, state.enabled, state.dtype) };
    check(status, "leaving autocast")
}

/// Whether autocast is on for CPU (or CUDA) ops on this thread.
pub fn autocast_enabled(cuda: bool) -> Result<bool> {
    let mut enabled = 0;
    // SAFETY: one out-pointer to a local.
    check(unsafe { dl_autocast_is_enabled(cuda as c_int, &mut enabled) }, "autocast query")?;
    Ok(enabled != 0)
}

/// The tensors of one fused Adam or AdamW step.
pub(crate) struct AdamTensors<'a> {
    pub params: Vec<&'a Tensor>,
    pub grads: Vec<&'a Tensor>,
    pub exp_avgs: Vec<&'a Tensor>,
    pub exp_avg_sqs: Vec<&'a Tensor>,
    /// Empty without AMSGrad.
    pub max_exp_avg_sqs: Vec<&'a Tensor>,
    /// Float scalars, one per parameter: this step's number (1 for the first).
    pub steps: Vec<&'a Tensor>,
}

/// The hyper-parameters of that step.
pub(crate) struct AdamHyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub amsgrad: bool,
    pub decoupled: bool,
}

/// libtorch's `_fused_adam_` (or `_fused_adamw_`): every parameter updated in place.
pub(crate) fn fused_adam(t: &AdamTensors, h: &AdamHyper) -> Result<()> {
    let n = t.params.len();
    let lists = [&t.grads, &t.exp_avgs, &t.exp_avg_sqs, &t.steps];
    assert!(lists.iter().all(|l| l.len() == n), "one of each per parameter");
    assert!(t.max_exp_avg_sqs.len() == if h.amsgrad { n } else { 0 });
    let [p, g, m, v, vmax, s] = [
        raw(&t.params),
        raw(&t.grads),
        raw(&t.exp_avgs),
        raw(&t.exp_avg_sqs),
        raw(&t.max_exp_avg_sqs),
        raw(&t.steps),
    ];
    // SAFETY: each array holds n (or, for vmax, 0 or n) live tensors that outlive the call; the
    // shim only reads the pointers and updates the tensors in place.
    let status = unsafe {
        dl_fused_adam(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            vmax.as_ptr(),
            s.as_ptr(),
            n as c_int,
            h.lr,
            h.beta1,
            h.beta2,
            h.weight_decay,
            h.eps,
            h.amsgrad as c_int,
            h.decoupled as c_int,
        )
    };
    check(status, "fused Adam step")
}

/// Plain SGD (no momentum) over every parameter in two multi-tensor kernels.
pub(crate) fn foreach_sgd(
    params: &[&Tensor],
    grads: &[&Tensor],
    lr: f64,
    weight_decay: f64,
) -> Result<()> {
    assert_eq!(params.len(), grads.len());
    let (p, g) = (raw(params), raw(grads));
    // SAFETY: as for `fused_adam`: live tensors, updated in place.
    let status =
        unsafe { dl_foreach_sgd(p.as_ptr(), g.as_ptr(), p.len() as c_int, lr, weight_decay) };
    check(status, "multi-tensor SGD step")
}
